// The C API (plughost/plughost.h): the C++ launcher behind opaque handles. Every entry point
// catches everything: no exception crosses into C; a launcher handle is checked against the
// live ones, so that a call the header forbids is an error, not a crash.
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>

#include "plughost/error.hpp"
#include "plughost/launcher.hpp"
#include "plughost/plughost.h"
#include "plughost/record.hpp"
#include "plughost/sink.hpp"

struct plughost_options {
  plughost::launch_options options;
  // C's texts for typed launch_options: the command line's parsers read them in launcher_new.
  std::optional<std::string> worker_id, worker_count, stop_timeout;
  plughost_record_callback on_record = nullptr;
  void* record_user = nullptr;
  plughost_diagnostics_callback on_diagnostic = nullptr;
  void* diagnostic_user = nullptr;
};

// The counters are the registry's (its mutex guards them).
struct plughost_launcher {
  std::unique_ptr<plughost::launcher> launcher;
  int calls = 0;  // calls in progress on it, run() included
  int runs = 0;   // run() in progress
};

namespace {

thread_local std::string last_error;

// The launcher whose callback this thread is in (nullptr: none). run(), start(), wait() and
// free() would wait for the very thread the callback runs on.
thread_local const plughost_launcher* in_callback_of = nullptr;

// Sets in_callback_of for one call of the program's callback.
class callback_scope {
 public:
  explicit callback_scope(const plughost_launcher* l) : before_(in_callback_of) {
    in_callback_of = l;
  }
  ~callback_scope() { in_callback_of = before_; }
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;

 private:
  const plughost_launcher* before_;
};

// The launchers made and not yet freed: a handle that is not one (freed already, never made)
// is refused, and free() waits for the calls in progress on the one it frees.
struct launcher_registry {
  std::mutex mutex;
  std::condition_variable idle;  // a launcher's calls went down
  std::unordered_set<const plughost_launcher*> live;
};

launcher_registry& registry() {
  static auto* r = new launcher_registry();  // never destroyed: a launcher may outlive exit()
  return *r;
}

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

// One call of a plughost_launcher_* function: refused when the handle is not a live launcher,
// or, for a function that waits for the launcher's threads, when called from one of its
// callbacks; while it lasts, plughost_launcher_free() waits.
class launcher_call {
 public:
  enum kind { any_thread, waits, runs };
  launcher_call(plughost_launcher* l, const char* function, kind k) : l_(l), runs_(k == runs) {
    require(l, "launcher");
    if (k != any_thread && in_callback_of == l) {
      throw plughost::usage_error(std::string(function) +
                                  "() called from one of the launcher's callbacks would wait for "
                                  "the thread the callback runs on; call it from a thread of the "
                                  "program's");
    }
    auto& r = registry();
    const std::lock_guard lock(r.mutex);
    if (!r.live.contains(l)) throw not_live(function);
    ++l->calls;
    if (runs_) ++l->runs;
  }
  ~launcher_call() {
    auto& r = registry();
    {
      const std::lock_guard lock(r.mutex);
      --l_->calls;
      if (runs_) --l_->runs;
    }
    r.idle.notify_all();
  }
  launcher_call(const launcher_call&) = delete;
  launcher_call& operator=(const launcher_call&) = delete;

  plughost::launcher& operator*() const { return *l_->launcher; }
  plughost::launcher* operator->() const { return l_->launcher.get(); }

  static plughost::usage_error not_live(const char* function) {
    return plughost::usage_error(std::string(function) +
                                 "(): not a launcher (freed already, or not made by "
                                 "plughost_launcher_new())");
  }

 private:
  plughost_launcher* l_;
  bool runs_;
};

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
  callback_to_c(plughost_record_callback f, void* user, const plughost_launcher* of)
      : f_(f), user_(user), of_(of) {}
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
    const callback_scope scope(of_);
    f_(&c, user_);
  }
  void flush() override {}

 private:
  plughost_record_callback f_;
  void* user_;
  const plughost_launcher* of_;
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
    o->worker_id = optional(worker_id);
    o->worker_count = optional(worker_count);
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
    o->stop_timeout = text(duration, "duration");
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
    o->on_diagnostic = callback;
    o->diagnostic_user = user_data;
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
    auto l = std::make_unique<plughost_launcher>();
    auto options = o->options;
    if (const auto& t = o->worker_id)
      options.worker_id = plughost::parse_worker_id_option("--worker-id", *t);
    if (const auto& t = o->worker_count)
      options.worker_count = plughost::parse_worker_count_option("--worker-count", *t);
    if (const auto& t = o->stop_timeout)
      options.stop_timeout = plughost::parse_duration_option("--stop-timeout", *t);
    if (o->on_record) {
      options.program_sinks.push_back(
          {"callback", std::make_shared<callback_to_c>(o->on_record, o->record_user, l.get())});
    }
    if (o->on_diagnostic) {
      options.diagnostics = [callback = o->on_diagnostic, user = o->diagnostic_user, of = l.get()](
                                plughost::diagnostic_level level, std::string_view message) {
        const std::string line(message);
        const callback_scope scope(of);
        callback(to_c(level), line.c_str(), user);
      };
    }
    l->launcher = std::make_unique<plughost::launcher>(options);
    auto& r = registry();
    const std::lock_guard lock(r.mutex);
    r.live.insert(l.get());
    *out = l.release();
  });
}

// The header's misuses (from a callback, while run() runs on another thread, twice) leave the
// launcher as it is, with an error; calls on it that other threads make meanwhile are waited
// for, and later ones refused.
void plughost_launcher_free(plughost_launcher* l) {
  static_cast<void>(guarded([&] {
    if (!l) return;
    if (in_callback_of == l) {
      throw plughost::usage_error(
          "plughost_launcher_free() called from one of the launcher's callbacks would wait for "
          "the thread the callback runs on: the launcher is left running and not freed; free it "
          "from a thread of the program's once run() or wait() returned");
    }
    auto& r = registry();
    {
      const std::lock_guard lock(r.mutex);
      if (!r.live.contains(l)) throw launcher_call::not_live("plughost_launcher_free");
      if (l->runs > 0) {
        throw plughost::usage_error(
            "plughost_launcher_free() called while plughost_launcher_run() runs on another "
            "thread: the launcher is left running and not freed; call plughost_launcher_stop(), "
            "and free it once run() returned");
      }
      r.live.erase(l);
    }
    l->launcher->stop();  // a wait() in progress on another thread then returns
    {
      std::unique_lock lock(r.mutex);
      r.idle.wait(lock, [&] { return l->calls == 0; });
    }
    delete l;
  }));
}

plughost_result plughost_launcher_plan_json(plughost_launcher* l, char** json) {
  return guarded([&] {
    const launcher_call call(l, "plughost_launcher_plan_json", launcher_call::any_thread);
    require(json, "json");
    *json = copy_out(plughost::to_json(call->plan()));
  });
}

plughost_result plughost_launcher_run(plughost_launcher* l, int* exit_code) {
  return guarded([&] {
    const launcher_call call(l, "plughost_launcher_run", launcher_call::runs);
    const int code = call->run();
    if (exit_code) *exit_code = code;
  });
}

plughost_result plughost_launcher_start(plughost_launcher* l) {
  return guarded([&] {
    const launcher_call call(l, "plughost_launcher_start", launcher_call::waits);
    call->start();
  });
}

plughost_result plughost_launcher_wait(plughost_launcher* l, int* exit_code) {
  return guarded([&] {
    const launcher_call call(l, "plughost_launcher_wait", launcher_call::waits);
    const int code = call->wait();
    if (exit_code) *exit_code = code;
  });
}

plughost_result plughost_launcher_stop(plughost_launcher* l) {
  return guarded([&] {
    const launcher_call call(l, "plughost_launcher_stop", launcher_call::any_thread);
    call->stop();
  });
}

plughost_result plughost_launcher_reload(plughost_launcher* l) {
  return guarded([&] {
    const launcher_call call(l, "plughost_launcher_reload", launcher_call::any_thread);
    call->reload();
  });
}

plughost_result plughost_launcher_status_json(plughost_launcher* l, char** json) {
  return guarded([&] {
    const launcher_call call(l, "plughost_launcher_status_json", launcher_call::any_thread);
    require(json, "json");
    *json = copy_out(plughost::to_json(call->status()));
  });
}

}  // extern "C"
