// redact: keys removed from the copy of LMCache's configuration JSON a plugin receives, so that
// a token in extra_config reaches only the plugins that need it. The keys are cut out of the
// text itself: every other byte stays as it was (NaN, integers beyond 64 bits, the order of the
// keys), which a parse and a dump would not keep.
#include "config/redaction.hpp"

#include <fnmatch.h>

#include <span>
#include <string_view>

namespace plughost::detail {

namespace {

std::vector<std::string> split_dots(const std::string& pattern) {
  std::vector<std::string> parts;
  std::size_t at = 0;
  while (true) {
    const auto dot = pattern.find('.', at);
    parts.push_back(pattern.substr(at, dot - at));
    if (dot == std::string::npos) return parts;
    at = dot + 1;
  }
}

// A pattern's parts still to match, below the mapping being read.
using pending = std::vector<std::span<const std::string>>;

// Reads JSON text (valid: load_configuration read it) and writes it without the keys matched.
class cutter {
 public:
  explicit cutter(std::string_view text) : text_(text) {}

  // The value at pos_, rewritten into out_.
  void value(const pending& patterns, const std::string& path) {
    const auto space = pos_;
    skip_space();
    out_.append(text_.substr(space, pos_ - space));
    const auto start = pos_;
    if (patterns.empty() || text_[pos_] != '{') {
      skip_value();
      out_.append(text_.substr(start, pos_ - start));
      return;
    }
    object(patterns, path);
  }

  // What follows the value read (spaces after the document).
  std::string_view rest() const { return text_.substr(std::min(pos_, text_.size())); }

  std::string out_;
  std::vector<std::string> removed_;

 private:
  struct member {
    std::size_t key_start, value_start, value_end;
    std::string key;
    bool cut = false;
    pending below;
  };

  void object(const pending& patterns, const std::string& path) {
    const auto open = pos_++;
    std::vector<member> members;
    for (skip_space(); text_[pos_] != '}';) {
      member m{pos_, 0, 0, {}, false, {}};
      m.key = key_text();
      skip_space();
      ++pos_;  // ':'
      skip_space();
      m.value_start = pos_;
      skip_value();
      m.value_end = pos_;
      for (const auto& p : patterns) {
        if (::fnmatch(p.front().c_str(), m.key.c_str(), 0) != 0) continue;
        if (p.size() == 1) m.cut = true;
        if (p.size() > 1) m.below.push_back(p.subspan(1));
      }
      members.push_back(std::move(m));
      skip_space();
      if (text_[pos_] == ',') ++pos_;
      skip_space();
    }
    const auto close = pos_++;
    write_object(members, open, close, path);
  }

  // The kept members, each followed by the separator that followed it in the text.
  void write_object(const std::vector<member>& members, std::size_t open, std::size_t close,
                    const std::string& path) {
    std::size_t last_kept = members.size();
    for (std::size_t j = 0; j < members.size(); ++j) {
      if (!members[j].cut) last_kept = j;
    }
    out_.append(text_.substr(open, (members.empty() ? close : members[0].key_start) - open));
    for (std::size_t j = 0; j < members.size(); ++j) {
      const auto& m = members[j];
      const auto dotted = path.empty() ? m.key : path + "." + m.key;
      if (m.cut) {
        removed_.push_back(dotted);
        continue;
      }
      out_.append(text_.substr(m.key_start, m.value_start - m.key_start));
      const auto saved = pos_;
      pos_ = m.value_start;
      value(m.below, dotted);
      pos_ = saved;
      if (j != last_kept) {  // the ',' (and spaces) that followed it
        out_.append(text_.substr(m.value_end, members[j + 1].key_start - m.value_end));
      }
    }
    const auto tail = members.empty() ? close : members.back().value_end;
    out_.append(text_.substr(tail, close + 1 - tail));
  }

  // A key, decoded (its escapes read as JSON reads them).
  std::string key_text() {
    const auto start = pos_;
    skip_value();
    const auto token = text_.substr(start, pos_ - start);
    const auto decoded = json::parse(token, nullptr, /*allow_exceptions=*/false);
    return decoded.is_string() ? decoded.get<std::string>()
                               : std::string(token.substr(1, token.size() - 2));
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\t' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  void skip_value() {
    if (pos_ >= text_.size()) return;
    const char c = text_[pos_];
    if (c == '"') {
      for (++pos_; pos_ < text_.size() && text_[pos_] != '"'; ++pos_) {
        if (text_[pos_] == '\\') ++pos_;
      }
      ++pos_;
    } else if (c == '{' || c == '[') {
      int depth = 0;  // strings inside may hold brackets: skipped as strings
      do {
        if (text_[pos_] == '"') {
          skip_value();
          continue;
        }
        if (text_[pos_] == '{' || text_[pos_] == '[') ++depth;
        if (text_[pos_] == '}' || text_[pos_] == ']') --depth;
        ++pos_;
      } while (depth > 0 && pos_ < text_.size());
    } else {  // a number, true, false, null, NaN, Infinity
      while (pos_ < text_.size() && text_.find_first_of(",}] \n\t\r", pos_) != pos_) ++pos_;
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<std::string> redacted_config(const std::string& text,
                                           const std::vector<std::string>& patterns,
                                           std::vector<std::string>* removed) {
  if (patterns.empty()) return std::nullopt;
  std::vector<std::vector<std::string>> parts;
  for (const auto& p : patterns) parts.push_back(split_dots(p));
  pending all;
  for (const auto& p : parts) all.emplace_back(p);
  cutter c(text);
  c.value(all, "");
  c.out_.append(c.rest());
  if (c.removed_.empty()) return std::nullopt;
  if (removed) *removed = std::move(c.removed_);
  return std::move(c.out_);
}

}  // namespace plughost::detail
