// The sinks: from --sink, from plughost.sinks (or the defaults'), and --add-sink; how each is
// written (a mapping, or the shorthand "type:VALUE") and how each is named.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "common/nearest.hpp"
#include "config/setting_values.hpp"
#include "config/settings_parts.hpp"
#include "plughost/error.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace {

// What every sink's mapping may say besides its module's settings: its queue.
const setting_spec queue_table[] = {
    {.key = "queue_size",
     .type = setting_type::size,
     .default_value = "8MiB",
     .description = "records waiting for the sink, in bytes (their text plus 64 each)"},
    {.key = "overflow",
     .type = setting_type::choice,
     .default_value = "block",
     .description = "when the queue is full: block (hold the plugins back), drop_new, "
                    "drop_oldest",
     .choices = "block|drop_new|drop_oldest"},
};

// At most 1 GiB: a queue is memory plughost holds, and `block` promises a bound on it.
bool queue_size_allowed(std::int64_t size) {
  return size >= 64 * 1024 && size <= std::int64_t{1} << 30;
}

queue_policy queue_from_mapping(const json& item, const config_document& doc,
                                const json::json_pointer& where, std::string_view what) {
  std::vector<std::string> others;
  for (const auto& [key, value] : item.items()) {
    if (key != "queue_size" && key != "overflow") others.push_back(key);
  }
  const auto values = validate_settings(queue_table, item, doc, where, what, others);
  queue_policy q;
  const auto size = values.get_integer("queue_size");
  if (!queue_size_allowed(size)) {
    doc.fail_at_value(where / "queue_size",
                      fmt::format("a sink's queue_size must be from 64KiB to 1GiB, got {}", size));
  }
  q.size = static_cast<std::size_t>(size);
  const auto& overflow = values.get_string("overflow");
  q.overflow = overflow == "drop_new"      ? overflow_policy::drop_new
               : overflow == "drop_oldest" ? overflow_policy::drop_oldest
                                           : overflow_policy::block;
  return q;
}

// Names the last sink of `sinks`: its `name:`, which must be unique, else its type, numbered
// when an earlier sink has that name already ("jsonl", "jsonl#2"). An unnamed sink may not
// repeat an earlier unnamed one exactly.
void name_uniquely(std::vector<sink_request>& sinks, const config_document& doc,
                   const json::json_pointer& where) {
  auto& added = sinks.back();
  const auto taken = [&](const std::string& name) {
    return std::any_of(sinks.begin(), sinks.end() - 1,
                       [&](const sink_request& s) { return s.name == name; });
  };
  if (added.named) {
    if (taken(added.name)) {
      doc.fail_at_value(where / "name", fmt::format("two sinks are named '{}': give them "
                                                    "distinct names",
                                                    added.name));
    }
    return;
  }
  // An unnamed sink given twice with the same settings would write every record twice.
  const bool repeated = std::any_of(sinks.begin(), sinks.end() - 1, [&](const sink_request& s) {
    return !s.named && s.module == added.module && s.values == added.values;
  });
  if (repeated) {
    doc.fail_at_value(where, fmt::format("the same sink is given twice: {} (its records would "
                                         "be written twice)",
                                         added.label));
  }
  const std::string type(added.module->descriptor->name);
  added.name = type;
  for (int n = 2; taken(added.name); ++n) added.name = fmt::format("{}#{}", type, n);
}

std::string sink_label(const module_descriptor& m, const settings& values) {
  for (const auto& spec : m.settings) {
    if (spec.shorthand && values.has(spec.key) && spec.type == setting_type::path) {
      return fmt::format("{} ({})", m.name, values.get_string(spec.key));
    }
  }
  return std::string(m.name);
}

const loaded_module& module_named(module_kind kind, const std::string& name,
                                  const module_registry& modules, const config_document& doc,
                                  const json::json_pointer& where) {
  const auto* found = modules.find(kind, name);
  if (!found) {
    doc.fail_at_value(where, fmt::format("unknown {} '{}' (expected one of: {})", to_string(kind),
                                         name, fmt::join(modules.names(kind), ", ")));
  }
  return *found;
}

sink_request sink_from_mapping(const json& item, const module_registry& modules,
                               const config_document& doc, const json::json_pointer& where) {
  const auto type = item.find("type");
  if (type == item.end() || !type->is_string()) {
    doc.fail_at_value(where, "each sink needs a 'type' naming a sink module, e.g. {type: stdout}");
  }
  const auto& m =
      module_named(module_kind::sink, type->get<std::string>(), modules, doc, where / "type");
  std::string name;
  if (const auto n = item.find("name"); n != item.end()) {
    if (!n->is_string() || n->get_ref<const std::string&>().empty()) {
      doc.fail_at_value(where / "name", "a sink's name must be a non-empty string");
    }
    name = n->get<std::string>();
  }
  const auto what = fmt::format("sink '{}'", m.descriptor->name);
  auto values = validate_settings(m.descriptor->settings, item, doc, where, what,
                                  {"type", "name", "queue_size", "overflow"});
  auto queue = queue_from_mapping(item, doc, where, what);
  auto label = sink_label(*m.descriptor, values);
  const bool named = !name.empty();
  if (named) label = fmt::format("{} ({})", name, label);  // messages use the operator's name
  return {&m, std::move(values), std::move(name), std::move(label), named, queue};
}

std::vector<sink_request> sinks_from_list(const json& list, const module_registry& modules,
                                          const config_document& doc,
                                          const json::json_pointer& where) {
  if (!list.is_array()) {
    doc.fail_at_value(
        where, fmt::format("plughost.sinks must be a list of sinks, got {}", describe_type(list)));
  }
  std::vector<sink_request> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& item = list[i];
    if (item.is_string()) {
      out.push_back(parse_sink_shorthand(item.get<std::string>(), modules, doc, where / i));
    } else if (item.is_object()) {
      out.push_back(sink_from_mapping(item, modules, doc, where / i));
    } else {
      doc.fail_at_value(where / i, fmt::format("a sink must be a name such as stdout or a "
                                               "mapping such as {{type: jsonl, path: x}}, got {}",
                                               describe_type(item)));
    }
    name_uniquely(out, doc, where / i);
  }
  return out;
}

}  // namespace

sink_request parse_sink_shorthand(const std::string& spec, const module_registry& modules,
                                  const config_document& doc, const json::json_pointer& where) {
  const auto colon = spec.find(':');
  const std::string type = spec.substr(0, colon);
  const auto& m = module_named(module_kind::sink, type, modules, doc, where);
  json item = json::object();
  if (colon != std::string::npos) {
    const setting_spec* target = nullptr;
    for (const auto& s : m.descriptor->settings) {
      if (s.shorthand) target = &s;
    }
    if (!target) {
      doc.fail_at_value(where, fmt::format("sink '{}' takes no value after ':' (got '{}')", type,
                                           spec.substr(colon + 1)));
    }
    item[std::string(target->key)] = spec.substr(colon + 1);
  }
  auto values = validate_settings(m.descriptor->settings, item, doc, where,
                                  fmt::format("sink '{}'", m.descriptor->name));
  auto label = sink_label(*m.descriptor, values);
  return {&m, std::move(values), type, std::move(label)};
}

void add_flag_sinks(const std::vector<std::string>& specs, const char* flag,
                    const module_registry& modules, std::vector<sink_request>& sinks) {
  config_document flags;
  flags.source = flag;
  flags.base_dir = std::filesystem::current_path();
  for (const auto& spec : specs) {
    sinks.push_back(parse_sink_shorthand(spec, modules, flags, json::json_pointer()));
    name_uniquely(sinks, flags, json::json_pointer());
  }
}

void add_program_sinks(const std::vector<program_sink>& given, std::vector<sink_request>& sinks) {
  for (const auto& p : given) {
    const auto what = fmt::format("program sink '{}'", visible(p.name));
    if (p.name.empty()) throw usage_error("a program sink needs a name");
    if (!p.sink) throw usage_error(what + " has no sink object");
    if (p.queue_size > (std::size_t{1} << 30) ||
        !queue_size_allowed(static_cast<std::int64_t>(p.queue_size))) {
      throw usage_error(
          fmt::format("{}: queue_size must be from 64KiB to 1GiB, got {}", what, p.queue_size));
    }
    if (std::any_of(sinks.begin(), sinks.end(), [&](const auto& s) { return s.name == p.name; })) {
      throw usage_error(what + ": another sink has that name");
    }
    sink_request r;
    r.instance = p.sink;
    r.name = p.name;
    r.label = p.name;
    r.named = true;
    r.queue = {p.queue_size, p.overflow};
    sinks.push_back(std::move(r));
  }
}

std::vector<sink_request> resolve_sinks(const launch_options& options, const configuration& config,
                                        const module_registry& modules) {
  std::vector<sink_request> sinks;
  if (!options.configured_sinks) return sinks;
  if (!options.sinks.empty()) {
    add_flag_sinks(options.sinks, "--sink", modules, sinks);
  } else if (const auto p = pick(config, "sinks");
             p.value && (p.doc != &config.defaults ||
                         (options.added_sinks.empty() && options.program_sinks.empty()))) {
    sinks = sinks_from_list(*p.value, modules, *p.doc, p.where);
  }
  return sinks;
}

std::string file_name_part(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.';
    out.push_back(plain ? c : '_');
  }
  if (out.find_first_not_of('.') == std::string::npos)
    std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

std::map<std::string, std::string> identity_values(const identity& who) {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return {{"host", file_name_part(host)},
          {"role", who.role ? file_name_part(*who.role) : std::string("all")},
          {"worker_id", std::to_string(who.worker_id)},
          {"worker_count", std::to_string(who.worker_count)}};
}

std::string with_identity(const std::string& text, const std::map<std::string, std::string>& known,
                          const std::string& sink, const std::string& key) {
  std::string out;
  std::size_t at = 0;
  while (true) {
    const auto open = text.find('{', at);
    const auto close = open == std::string::npos ? open : text.find('}', open);
    if (close == std::string::npos) break;
    const auto name = text.substr(open + 1, close - open - 1);
    // Compared without case, spaces and extra braces, '-' as '_': to catch {ROLE}, {{role}},
    // { role } and {worker-id}.
    std::string bare;
    for (const char c : name) {
      if (c == '{' || c == ' ') continue;
      bare += c == '-' ? '_' : c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    const bool word = !bare.empty() && std::all_of(bare.begin(), bare.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || c == '_';
    });
    out += text.substr(at, open - at);
    // Another {name} may be the module's own ({plugin} of the file sink), unless it is a typo of
    // one of plughost's.
    std::optional<std::string> meant;
    if (word && !known.count(name)) {
      const std::vector<std::string> names = {"host", "role", "worker_id", "worker_count"};
      if (known.count(bare)) meant = bare;
      for (const auto& k : names) {  // {work} for {worker_id}, {hostname} for {host}
        if (!meant && (k.rfind(bare, 0) == 0 || bare.rfind(k, 0) == 0)) meant = k;
      }
      if (!meant) meant = nearest_key(bare, names);
    }
    if (const auto it = known.find(name); it != known.end()) {
      out += it->second;
    } else if (meant) {
      throw config_error(sink, fmt::format("unknown placeholder {} in {} (did you mean "
                                           "{{{}}}? plughost's are {{host}}, {{role}}, "
                                           "{{worker_id}} and {{worker_count}}, in lower case "
                                           "and one pair of braces)",
                                           text.substr(open, close - open + 1), key, *meant));
    } else {
      out += text.substr(open, close - open + 1);
    }
    at = close + 1;
  }
  return out + text.substr(at);
}

void fill_identity_placeholders(std::vector<sink_request>& sinks, const identity& who) {
  const auto known = identity_values(who);
  for (auto& sink : sinks) {
    if (!sink.module) continue;  // a program's own
    auto values = sink.values;
    for (const auto& [key, value] : sink.values.values()) {
      if (const auto* text = std::get_if<std::string>(&value)) {
        values.set(key, with_identity(*text, known, sink.label, key));
      } else if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
        std::vector<std::string> filled;
        for (const auto& item : *list)
          filled.push_back(with_identity(item, known, sink.label, key));
        values.set(key, std::move(filled));
      }
    }
    if (values == sink.values) continue;
    sink.values = std::move(values);
    const auto label = sink_label(*sink.module->descriptor, sink.values);
    sink.label = sink.named ? fmt::format("{} ({})", sink.name, label) : label;
  }
}

}  // namespace plughost::detail
