// Bytes from a pipe → lines. Lines are handed out as views into the read buffer where possible
// (no copy); only a line that spans two reads is assembled. A line longer than max_line is cut
// into pieces of at most max_line bytes, each marked partial except the last, never dropped.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>
#include <string_view>

namespace plughost::detail {

class line_splitter {
 public:
  static constexpr std::size_t max_line = 64 * 1024;

  /// Splits `bytes`; calls emit(std::string_view line, bool partial) for every complete line
  /// (without its '\n') and every full piece of an over-long line.
  template <typename Emit>
  void feed(std::string_view bytes, Emit&& emit) {
    while (!bytes.empty()) {
      const char* nl = static_cast<const char*>(std::memchr(bytes.data(), '\n', bytes.size()));
      if (nl == nullptr) {
        pending_.append(bytes);
        emit_full_pieces(emit);
        return;
      }
      const auto length = static_cast<std::size_t>(nl - bytes.data());
      if (pending_.empty()) {
        emit_line(bytes.substr(0, length), emit);
      } else {
        pending_.append(bytes.substr(0, length));
        emit_line(pending_, emit);
        pending_.clear();
      }
      bytes.remove_prefix(length + 1);
    }
  }

  /// End of stream: a last line without a newline is still a line.
  template <typename Emit>
  void finish(Emit&& emit) {
    if (!pending_.empty()) emit_line(pending_, emit);
    pending_.clear();
  }

  /// Bytes held back waiting for a newline.
  std::size_t pending() const noexcept { return pending_.size(); }

  /// Where to cut `text` (longer than max_line) so that a UTF-8 sequence is not split: at
  /// max_line, moved back by up to 3 bytes while the byte at the cut continues a sequence.
  static std::size_t cut_point(std::string_view text) noexcept {
    std::size_t cut = max_line;
    while (cut > max_line - 3 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80 ? max_line : cut;
  }

 private:
  template <typename Emit>
  static void emit_line(std::string_view line, Emit& emit) {
    while (line.size() > max_line) {
      const auto cut = cut_point(line);
      emit(line.substr(0, cut), true);
      line.remove_prefix(cut);
    }
    emit(line, false);
  }

  // Without a newline yet, pieces can go out as soon as more than max_line bytes are waiting
  // (a line of exactly max_line bytes may still end with the next byte).
  template <typename Emit>
  void emit_full_pieces(Emit& emit) {
    if (pending_.size() <= max_line) return;
    std::string_view rest(pending_);
    while (rest.size() > max_line) {
      const auto cut = cut_point(rest);
      emit(rest.substr(0, cut), true);
      rest.remove_prefix(cut);
    }
    pending_.erase(0, pending_.size() - rest.size());
  }

  std::string pending_;
};

}  // namespace plughost::detail
