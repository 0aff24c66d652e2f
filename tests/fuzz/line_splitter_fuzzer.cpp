// Fuzzes line_splitter with a stream built from the input (literal bytes, long runs that reach
// past the 64 KiB cap, lines ending right around it) fed in arbitrary chunks, and checks what
// output_pump relies on: no byte lost, added or moved (the lines, each with its newline unless
// partial, are the stream, plus the newline finish() supplies), no piece longer than max_line,
// cuts only where a line is too long and never inside a UTF-8 sequence that could be kept
// whole, at most max_line bytes held back, and the same pieces however the stream is chunked.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "output/line_splitter.hpp"

namespace {

using plughost::detail::line_splitter;
constexpr std::size_t max_line = line_splitter::max_line;
constexpr std::size_t max_stream = 4 * max_line;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

bool continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

struct piece {
  std::size_t size;
  bool partial;
  bool operator==(const piece&) const = default;
};

// The stream and the chunks it is fed in, as the input describes them: its bytes are the
// stream (a plugin's output, say), except for three directives that are rare in real output:
//   \x01 N1 N2 K unit  a unit of K % 4 + 1 bytes repeated (N1 + 256 * N2) * 4 bytes long;
//   \x02               the end of a chunk (one feed() call);
//   \x03 D K unit      the line filled up to max_line - 8 + D % 17 bytes with a repeated unit.
struct stream {
  std::string bytes;
  std::vector<std::size_t> chunk_sizes;
};

stream build(std::string_view in) {
  stream out;
  std::size_t chunk = 0;  // bytes of the current chunk so far
  const auto end_chunk = [&] {
    if (chunk > 0) out.chunk_sizes.push_back(chunk);
    chunk = 0;
  };
  const auto add = [&](std::string_view bytes) {
    bytes = bytes.substr(0, max_stream - out.bytes.size());
    out.bytes += bytes;
    chunk += bytes.size();
  };
  const auto repeat = [](std::string_view unit, std::size_t length) {
    std::string run(unit);
    while (run.size() < length) run += run;
    run.resize(length);
    return run;
  };
  while (!in.empty() && out.bytes.size() < max_stream) {
    const char c = in[0];
    if (c == '\x02') {
      end_chunk();
      in.remove_prefix(1);
    } else if (c == '\x01' && in.size() >= 5) {
      const auto n = static_cast<unsigned char>(in[1]) + 256u * static_cast<unsigned char>(in[2]);
      const auto k = static_cast<unsigned char>(in[3]) % 4u + 1;
      const auto unit = in.substr(4, k);
      add(repeat(unit, 4 * n));
      in.remove_prefix(4 + unit.size());
    } else if (c == '\x03' && in.size() >= 4) {
      const auto target = max_line - 8 + static_cast<unsigned char>(in[1]) % 17u;
      const auto k = static_cast<unsigned char>(in[2]) % 4u + 1;
      const auto unit = in.substr(3, k);
      const auto nl = out.bytes.rfind('\n');
      const auto line_length =
          nl == std::string::npos ? out.bytes.size() : out.bytes.size() - nl - 1;
      if (line_length < target) add(repeat(unit, target - line_length));
      in.remove_prefix(3 + unit.size());
    } else {
      const auto next = in.find_first_of("\x01\x02\x03", 1);
      add(in.substr(0, next));
      in.remove_prefix(std::min(next, in.size()));
    }
  }
  end_chunk();
  return out;
}

// Splits the stream fed in chunks of `chunk_sizes`. Each piece is checked to be the next bytes of
// the stream as it is handed out (then followed by a newline of the stream, unless partial or
// the last line), so the pieces only need to be kept as their lengths.
std::vector<piece> split(std::string_view bytes, const std::vector<std::size_t>& chunk_sizes) {
  line_splitter splitter;
  std::vector<piece> out;
  std::size_t at = 0;  // where the next piece must start in the stream
  const auto emit = [&](std::string_view text, bool partial) {
    require(at + text.size() <= bytes.size() && bytes.substr(at, text.size()) == text);
    out.push_back({text.size(), partial});
    at += text.size();
    if (partial) return;
    require(at == bytes.size() || bytes[at] == '\n');  // the stream's newline, or its end
    ++at;
  };
  std::size_t fed = 0;
  for (const auto n : chunk_sizes) {
    splitter.feed(bytes.substr(fed, n), emit);
    fed += n;
    // Bounded: at most one line's worth is held back, and nothing else.
    require(splitter.pending() <= max_line);
    require(at + splitter.pending() == fed);
  }
  require(fed == bytes.size());
  splitter.finish(emit);
  require(splitter.pending() == 0);
  // Every byte handed out, and a last line without a newline too.
  require(at == bytes.size() + (!bytes.empty() && bytes.back() != '\n' ? 1 : 0));
  return out;
}

void check(std::string_view bytes, const std::vector<piece>& pieces) {
  std::size_t at = 0;          // where pieces[i] starts in the stream
  std::size_t line_start = 0;  // index of the first piece of the current line
  for (std::size_t i = 0; i < pieces.size(); at += pieces[i].size + !pieces[i].partial, ++i) {
    const auto& p = pieces[i];
    const auto text = bytes.substr(at, p.size);
    require(text.find('\n') == std::string_view::npos);
    require(p.size <= max_line);
    if (!p.partial) {
      // Each cut left more than max_line bytes of the line (a line of max_line is one piece).
      std::size_t rest = p.size;
      for (auto j = i; j-- > line_start;) {
        rest += pieces[j].size;
        require(rest > max_line);
      }
      line_start = i + 1;
      continue;
    }
    // A cut: at max_line moved back by at most 3 bytes, and only to keep a UTF-8 sequence whole
    // (all the bytes it moved back over continue one).
    require(i + 1 < pieces.size());
    const auto next = bytes.substr(at + p.size, pieces[i + 1].size);
    require(p.size >= max_line - 3);
    const auto moved = max_line - p.size;  // bytes moved back into the next piece
    require(next.size() > moved);
    if (moved > 0) {
      require(!continuation(next[0]));
      for (std::size_t k = 1; k <= moved; ++k) require(continuation(next[k]));
    } else if (continuation(next[0])) {  // no sequence start within 3 bytes: cut at max_line
      require(continuation(text[p.size - 1]) && continuation(text[p.size - 2]) &&
              continuation(text[p.size - 3]));
    }
  }
}

}  // namespace

// ASan keeps 256 MiB of freed memory aside by default; with buffers of 64 KiB and more, every run
// would then touch fresh pages. 16 MiB still catches a use after free within a run, at 2-3 times
// the speed.
extern "C" const char* __asan_default_options() {
  return "quarantine_size_mb=16";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto s = build(std::string_view(reinterpret_cast<const char*>(data), size));
  const auto pieces = split(s.bytes, s.chunk_sizes);
  check(s.bytes, pieces);
  // However the stream is chunked: all at once, and byte by byte where that is cheap.
  require(split(s.bytes, {s.bytes.size()}) == pieces);
  if (s.bytes.size() <= 4096) {
    require(split(s.bytes, std::vector<std::size_t>(s.bytes.size(), 1)) == pieces);
  }
  return 0;
}
