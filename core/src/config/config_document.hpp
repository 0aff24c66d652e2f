// A configuration document: one neutral tree (nlohmann::json) whatever the file format, plus
// where each value came from, so that errors can name the file, line and column.
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

namespace plughost::detail {

using json = nlohmann::json;

struct source_position {
  int line = 0;    // 1-based; 0: unknown
  int column = 0;  // 1-based
};

enum class config_format { yaml, toml, json_text };

/// Limits on what a configuration may be, so that no input can exhaust the stack or the memory:
/// nesting (the parsers recurse per level), values after YAML aliases are expanded (a "billion
/// laughs" document), and the size of a file. Plugins can receive at most 128 KiB of it anyway.
inline constexpr int max_config_depth = 64;
inline constexpr std::size_t max_config_values = 100'000;
inline constexpr std::uintmax_t max_config_file_bytes = 4 * 1024 * 1024;
/// The bytes of keys and strings after YAML aliases are expanded (one alias of a long string,
/// repeated), and apart from them the bytes of the paths that locate the values for error
/// positions (each value's path holds every key above it: long keys over many values).
inline constexpr std::size_t max_config_expanded_bytes = 64 * 1024 * 1024;

class config_document {
 public:
  std::string source;              ///< the file as given, or the variable it came from
  std::filesystem::path base_dir;  ///< folder that relative paths in it are relative to
  json root = json::object();
  /// Integers the tree cannot hold (beyond 64 bits; it holds them as doubles), by JSON pointer:
  /// their exact digits, which plugins receive (dump_for_plugins()).
  std::map<std::string, std::string> exact_numbers;

  /// Position of the value at `where`, or of its nearest ancestor that has one.
  source_position value_position(const json::json_pointer& where) const;
  /// Position of the key that names `where`; falls back to value_position().
  source_position key_position(const json::json_pointer& where) const;

  /// Throws config_error "source:line:col: message" at the value (or key) at `where`.
  [[noreturn]] void fail_at_value(const json::json_pointer& where,
                                  const std::string& message) const;
  [[noreturn]] void fail_at_key(const json::json_pointer& where, const std::string& message) const;

  /// Record where the value (or the key) at `where` is written. Throws config_error at `p` when
  /// the paths recorded add up to more than max_config_expanded_bytes.
  void record_value(const json::json_pointer& where, source_position p);
  void record_key(const json::json_pointer& where, source_position p);
  /// Adopts the positions recorded in `other` (same text, parsed by another parser).
  void take_positions(config_document&& other);

 private:
  [[noreturn]] void fail(source_position p, const std::string& message) const;
  void record(std::unordered_map<std::string, source_position>& table,
              const json::json_pointer& where, source_position p);
  std::unordered_map<std::string, source_position> values_;
  std::unordered_map<std::string, source_position> keys_;
  std::size_t recorded_bytes_ = 0;
};

/// The format a file's extension names (.yaml/.yml, .toml, .json); throws config_error otherwise.
config_format format_of(const std::filesystem::path& file);

/// Reads and parses a configuration file; its base_dir is the file's folder.
/// Throws config_error for a missing or unreadable file, bad syntax, or a top level that is
/// not a mapping.
config_document load_config_file(const std::filesystem::path& file);

/// Parses configuration text. `source` names it in errors.
config_document parse_config_text(std::string_view text, config_format format, std::string source,
                                  std::filesystem::path base_dir);

// One parser per format, each in its own file (their headers are heavy).
void parse_yaml_into(config_document& doc, std::string_view text);
void parse_toml_into(config_document& doc, std::string_view text);
void parse_json_into(config_document& doc, std::string_view text);
/// Records positions for JSON text (which nlohmann::json does not keep) by reading it as YAML.
void index_json_positions(config_document& doc, std::string_view text);

/// A double as Python's repr() writes it (json.dumps writes floats so): "1.0", "1e+16",
/// "1000000000000000.0", "NaN", "Infinity", "-Infinity".
std::string python_float_text(double value);

/// `value` as compact JSON, numbers as LMCache's to_json() (Python's json.dumps) writes them:
/// floats as python_float_text() (non-finite ones included, where nlohmann::json writes null),
/// and at the pointers of `exact` the digits given there. Invalid UTF-8 in strings is replaced.
std::string dump_for_plugins(const json& value, const std::map<std::string, std::string>& exact);

/// A short description of a JSON value's type for messages: "a string", "a list", ...
std::string describe_type(const json& v);

}  // namespace plughost::detail
