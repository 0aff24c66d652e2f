// The C API (plughost/plughost.h): the C++ launcher behind opaque handles. Every entry point
// catches everything: no exception crosses into C.
#include <cstdlib>
#include <cstring>
#include <new>
#include <nlohmann/json.hpp>
#include <string>

#include "plughost/error.hpp"
#include "plughost/launcher.hpp"
#include "plughost/plughost.h"
#include "plughost/record.hpp"
#include "plughost/sink.hpp"

struct plughost_options {
  plughost::launch_options options;
  plughost_record_callback on_record = nullptr;
  void* record_user = nullptr;
};

struct plughost_launcher {
  std::unique_ptr<plughost::launcher> launcher;
};

namespace {

thread_local std::string last_error;

plughost_result fail(plughost_result code, std::string message) {
  try {
    last_error = std::move(message);
  } catch (...) {
    last_error.clear();
  }
  return code;
}

// Runs `f`, turning what it throws into a code and the thread's last error.
template <typename F>
plughost_result guarded(F&& f) noexcept {
  try {
    f();
    last_error.clear();
    return PLUGHOST_OK;
  } catch (const plughost::config_error& e) {
    return fail(PLUGHOST_ERROR_CONFIG, e.what());
  } catch (const plughost::error& e) {
    return fail(PLUGHOST_ERROR_USAGE, e.what());
  } catch (const std::bad_alloc&) {
    return fail(PLUGHOST_ERROR_SYSTEM, "out of memory");
  } catch (const std::exception& e) {
    return fail(PLUGHOST_ERROR_SYSTEM, e.what());
  } catch (...) {
    return fail(PLUGHOST_ERROR_SYSTEM, "unknown error");
  }
}

void require(const void* p, const char* what) {
  if (!p) throw plughost::usage_error(std::string(what) + " is NULL");
}

std::string text(const char* s, const char* what) {
  require(s, what);
  return s;
}

char* copy_out(const std::string& s) {
  auto* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (!out) throw std::bad_alloc();
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

// An event's name and fields as one JSON object.
std::string event_json(const plughost::record& r) {
  using json = nlohmann::ordered_json;
  json out;
  out["event"] = std::string(r.event);
  for (const auto& f : r.fields) {
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            out[std::string(f.key)] = std::string(v);
          } else if constexpr (std::is_same_v<T, std::span<const std::string>>) {
            out[std::string(f.key)] = std::vector<std::string>(v.begin(), v.end());
          } else {
            out[std::string(f.key)] = v;
          }
        },
        f.value);
  }
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The record callback as a sink: called from its writer thread.
class callback_to_c final : public plughost::sink {
 public:
  callback_to_c(plughost_record_callback f, void* user) : f_(f), user_(user) {}
  void write(const plughost::record& r) override {
    plughost_record c{};
    c.size = sizeof c;
    c.time_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(r.time.time_since_epoch()).count();
    const std::string plugin(r.plugin);  // NUL-terminated for C
    c.plugin = plugin.c_str();
    c.plugin_length = plugin.size();
    c.pid = r.pid;
    std::string data;
    if (r.stream == plughost::stream::event) {
      c.stream = PLUGHOST_STREAM_EVENT;
      data = event_json(r);
    } else {
      c.stream =
          r.stream == plughost::stream::out ? PLUGHOST_STREAM_STDOUT : PLUGHOST_STREAM_STDERR;
      data.assign(r.line);
      c.partial = r.partial ? 1 : 0;
    }
    c.data = data.c_str();
    c.data_length = data.size();
    f_(&c, user_);
  }
  void flush() override {}

 private:
  plughost_record_callback f_;
  void* user_;
};

plughost_level to_c(plughost::diagnostic_level l) {
  switch (l) {
    case plughost::diagnostic_level::debug:
      return PLUGHOST_LEVEL_DEBUG;
    case plughost::diagnostic_level::info:
      return PLUGHOST_LEVEL_INFO;
    case plughost::diagnostic_level::warning:
      return PLUGHOST_LEVEL_WARNING;
    case plughost::diagnostic_level::error:
      break;
  }
  return PLUGHOST_LEVEL_ERROR;
}

}  // namespace

extern "C" {

const char* plughost_version(void) {
  return plughost::version().data();  // a string literal: NUL-terminated
}

const char* plughost_last_error(void) {
  return last_error.c_str();
}

void plughost_string_free(char* s) {
  std::free(s);
}

plughost_result plughost_options_new(plughost_options** out) {
  return guarded([&] {
    require(out, "out");
    *out = new plughost_options();
  });
}

void plughost_options_free(plughost_options* options) {
  delete options;
}

plughost_result plughost_options_set_config_file(plughost_options* o, const char* path) {
  return guarded([&] {
    require(o, "options");
    o->options.config_file = text(path, "path");
    o->options.config_json.reset();
  });
}

plughost_result plughost_options_set_config_json(plughost_options* o, const char* json) {
  return guarded([&] {
    require(o, "options");
    o->options.config_json = text(json, "json");
    o->options.config_file.reset();
  });
}

plughost_result plughost_options_set_identity(plughost_options* o, const char* role,
                                              const char* worker_id, const char* worker_count) {
  return guarded([&] {
    require(o, "options");
    const auto optional = [](const char* s) {
      return s ? std::optional<std::string>(s) : std::nullopt;
    };
    o->options.role = optional(role);
    o->options.worker_id = optional(worker_id);
    o->options.worker_count = optional(worker_count);
  });
}

plughost_result plughost_options_add_location(plughost_options* o, const char* path) {
  return guarded([&] {
    require(o, "options");
    o->options.locations.emplace_back(text(path, "path"));
  });
}

plughost_result plughost_options_add_sink(plughost_options* o, const char* spec) {
  return guarded([&] {
    require(o, "options");
    o->options.sinks.push_back(text(spec, "spec"));
  });
}

plughost_result plughost_options_add_module_path(plughost_options* o, const char* folder) {
  return guarded([&] {
    require(o, "options");
    o->options.module_paths.emplace_back(text(folder, "folder"));
  });
}

plughost_result plughost_options_set_stop_timeout(plughost_options* o, const char* duration) {
  return guarded([&] {
    require(o, "options");
    o->options.stop_timeout = text(duration, "duration");
  });
}

plughost_result plughost_options_set_environment(plughost_options* o, const char* const* entries,
                                                 size_t count) {
  return guarded([&] {
    require(o, "options");
    if (count > 0) require(entries, "entries");
    std::vector<std::string> env;
    for (size_t i = 0; i < count; ++i) env.push_back(text(entries[i], "an entry"));
    o->options.environment = std::move(env);
  });
}

plughost_result plughost_options_set_record_callback(plughost_options* o,
                                                     plughost_record_callback callback,
                                                     void* user_data) {
  return guarded([&] {
    require(o, "options");
    o->on_record = callback;
    o->record_user = user_data;
  });
}

plughost_result plughost_options_set_diagnostics_callback(plughost_options* o,
                                                          plughost_diagnostics_callback callback,
                                                          void* user_data) {
  return guarded([&] {
    require(o, "options");
    if (!callback) {
      o->options.diagnostics = nullptr;
      return;
    }
    o->options.diagnostics = [callback, user_data](plughost::diagnostic_level level,
                                                   std::string_view message) {
      const std::string line(message);
      callback(to_c(level), line.c_str(), user_data);
    };
  });
}

plughost_result plughost_options_set_flag(plughost_options* o, plughost_flag flag, int on) {
  return guarded([&] {
    require(o, "options");
    auto& opts = o->options;
    // From C, any int may come; reading it as the C++ enum would be undefined when it is not
    // one of the enumerators' range.
    int raw = 0;
    std::memcpy(&raw, &flag, sizeof raw);
    switch (raw) {
      case PLUGHOST_FLAG_CONFIGURED_SINKS:
        opts.configured_sinks = on != 0;
        return;
      case PLUGHOST_FLAG_HANDLE_SIGNALS:
        opts.handle_signals = on != 0;
        return;
      case PLUGHOST_FLAG_CHILD_SUBREAPER_AND_SIGCHLD_HANDLER:
        opts.child_subreaper_and_sigchld_handler = on != 0;
        return;
      case PLUGHOST_FLAG_RAISE_OPEN_FILE_LIMIT:
        opts.raise_open_file_limit = on != 0;
        return;
      case PLUGHOST_FLAG_REAP_ALL_CHILDREN:
        opts.reap_all_children = on != 0;
        return;
    }
    throw plughost::usage_error("unknown flag " + std::to_string(raw));
  });
}

plughost_result plughost_launcher_new(const plughost_options* o, plughost_launcher** out) {
  return guarded([&] {
    require(o, "options");
    require(out, "out");
    *out = nullptr;
    auto options = o->options;
    if (o->on_record) {
      options.program_sinks.push_back(
          {"callback", std::make_shared<callback_to_c>(o->on_record, o->record_user)});
    }
    auto l = std::make_unique<plughost_launcher>();
    l->launcher = std::make_unique<plughost::launcher>(options);
    *out = l.release();
  });
}

void plughost_launcher_free(plughost_launcher* l) {
  try {
    delete l;
  } catch (...) {
  }
}

plughost_result plughost_launcher_plan_json(plughost_launcher* l, char** json) {
  return guarded([&] {
    require(l, "launcher");
    require(json, "json");
    *json = copy_out(plughost::to_json(l->launcher->plan()));
  });
}

plughost_result plughost_launcher_run(plughost_launcher* l, int* exit_code) {
  return guarded([&] {
    require(l, "launcher");
    const int code = l->launcher->run();
    if (exit_code) *exit_code = code;
  });
}

plughost_result plughost_launcher_start(plughost_launcher* l) {
  return guarded([&] {
    require(l, "launcher");
    l->launcher->start();
  });
}

plughost_result plughost_launcher_wait(plughost_launcher* l, int* exit_code) {
  return guarded([&] {
    require(l, "launcher");
    const int code = l->launcher->wait();
    if (exit_code) *exit_code = code;
  });
}

plughost_result plughost_launcher_stop(plughost_launcher* l) {
  return guarded([&] {
    require(l, "launcher");
    l->launcher->stop();
  });
}

plughost_result plughost_launcher_reload(plughost_launcher* l) {
  return guarded([&] {
    require(l, "launcher");
    l->launcher->reload();
  });
}

plughost_result plughost_launcher_status_json(plughost_launcher* l, char** json) {
  return guarded([&] {
    require(l, "launcher");
    require(json, "json");
    *json = copy_out(plughost::to_json(l->launcher->status()));
  });
}

}  // extern "C"
