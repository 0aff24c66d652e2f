// The C API's contract: error codes and messages instead of exceptions, NULL handled, the order
// of calls checked, JSON out, records and diagnostics through the callbacks; every misuse the
// header names is an error, never a crash (these cases also run under the asan preset).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "plughost/plughost.h"
#include "test_support.hpp"

namespace plughost {
namespace {

using test::temp_dir;
namespace fs = std::filesystem;

// Options for a temp_dir's plugins folder, with the test's clean environment.
struct c_options {
  explicit c_options(const temp_dir& dir) {
    EXPECT_EQ(plughost_options_new(&o), PLUGHOST_OK);
    EXPECT_EQ(plughost_options_add_location(o, (dir.path() / "plugins").c_str()), PLUGHOST_OK);
    env = test::clean_environment({dir.marker()});
    for (const auto& e : env) entries.push_back(e.c_str());
    EXPECT_EQ(plughost_options_set_environment(o, entries.data(), entries.size()), PLUGHOST_OK);
    EXPECT_EQ(plughost_options_set_stop_timeout(o, "2s"), PLUGHOST_OK);
  }
  ~c_options() { plughost_options_free(o); }
  plughost_options* o = nullptr;
  std::vector<std::string> env;
  std::vector<const char*> entries;
};

struct collected {
  std::mutex mutex;
  std::vector<std::string> records;
  std::vector<std::string> diagnostics;
  static void on_record(const plughost_record* r, void* user) {
    auto* self = static_cast<collected*>(user);
    const std::lock_guard lock(self->mutex);
    EXPECT_EQ(r->size, sizeof(plughost_record));
    EXPECT_EQ(r->plugin[r->plugin_length], '\0');
    EXPECT_EQ(r->data[r->data_length], '\0');
    self->records.push_back(std::string(r->plugin, r->plugin_length) + " " +
                            std::to_string(r->stream) + " " + std::string(r->data, r->data_length));
  }
  static void on_diagnostic(plughost_level level, const char* message, void* user) {
    auto* self = static_cast<collected*>(user);
    const std::lock_guard lock(self->mutex);
    self->diagnostics.push_back(std::to_string(level) + " " + message);
  }
  bool has(const std::vector<std::string>& in, const std::string& s) {
    const std::lock_guard lock(mutex);
    return std::find(in.begin(), in.end(), s) != in.end();
  }
};

TEST(c_api, null_arguments_are_usage_errors_with_a_message) {
  EXPECT_EQ(plughost_options_new(nullptr), PLUGHOST_ERROR_USAGE);
  EXPECT_STREQ(plughost_last_error(), "out is NULL");
  EXPECT_EQ(plughost_options_add_location(nullptr, "x"), PLUGHOST_ERROR_USAGE);
  EXPECT_STREQ(plughost_last_error(), "options is NULL");
  plughost_options* o = nullptr;
  ASSERT_EQ(plughost_options_new(&o), PLUGHOST_OK);
  EXPECT_STREQ(plughost_last_error(), "");  // a success clears it
  EXPECT_EQ(plughost_options_add_location(o, nullptr), PLUGHOST_ERROR_USAGE);
  EXPECT_EQ(plughost_options_set_flag(o, static_cast<plughost_flag>(7), 1), PLUGHOST_ERROR_USAGE);
  EXPECT_STREQ(plughost_last_error(), "unknown flag 7");
  EXPECT_EQ(plughost_launcher_start(nullptr), PLUGHOST_ERROR_USAGE);
  EXPECT_EQ(plughost_launcher_stop(nullptr), PLUGHOST_ERROR_USAGE);
  plughost_launcher_free(nullptr);
  plughost_options_free(nullptr);
  plughost_string_free(nullptr);
  plughost_options_free(o);
  EXPECT_STREQ(plughost_version(), "0.1.0");
}

TEST(c_api, a_bad_identity_is_a_usage_error_and_a_bad_configuration_a_config_error) {
  temp_dir dir;
  fs::create_directories(dir.path() / "plugins");
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_identity(opts.o, "WORKER", "two", nullptr), PLUGHOST_OK);
  plughost_launcher* l = nullptr;
  EXPECT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_ERROR_USAGE);
  EXPECT_EQ(l, nullptr);
  EXPECT_NE(std::string(plughost_last_error()).find("two"), std::string::npos)
      << plughost_last_error();

  ASSERT_EQ(plughost_options_set_identity(opts.o, "WORKER", "0", "1"), PLUGHOST_OK);
  dir.write("bad.yaml", "plughost:\n  sinks: [\n");
  ASSERT_EQ(plughost_options_set_config_file(opts.o, (dir.path() / "bad.yaml").c_str()),
            PLUGHOST_OK);
  EXPECT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_ERROR_CONFIG);
  EXPECT_EQ(std::string(plughost_last_error()).rfind((dir.path() / "bad.yaml").string() + ":", 0),
            0u)
      << plughost_last_error();
}

TEST(c_api, texts_for_typed_options_are_parsed_with_the_command_lines_messages) {
  temp_dir dir;
  fs::create_directories(dir.path() / "plugins");
  c_options opts(dir);
  plughost_launcher* l = nullptr;
  ASSERT_EQ(plughost_options_set_identity(opts.o, nullptr, "1", "0"), PLUGHOST_OK);
  EXPECT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_ERROR_USAGE);
  EXPECT_STREQ(plughost_last_error(), "--worker-count: expected a positive integer, got '0'");
  ASSERT_EQ(plughost_options_set_identity(opts.o, nullptr, "1", "2"), PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_stop_timeout(opts.o, "soon"), PLUGHOST_OK);
  EXPECT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_ERROR_USAGE);
  EXPECT_STREQ(plughost_last_error(),
               "--stop-timeout: expected a duration such as 5, 0.5, 500ms, 2s or 1m, got 'soon'");
  EXPECT_EQ(l, nullptr);
}

TEST(c_api, calls_out_of_order_are_refused) {
  temp_dir dir;
  dir.write("plugins/x.sh", "exit 0\n", fs::perms(0755));
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  plughost_launcher* l = nullptr;
  ASSERT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_OK) << plughost_last_error();
  int code = -1;
  EXPECT_EQ(plughost_launcher_wait(l, &code), PLUGHOST_ERROR_USAGE);
  EXPECT_STREQ(plughost_last_error(), "wait() needs a launcher that start()ed");
  EXPECT_EQ(plughost_launcher_run(l, &code), PLUGHOST_OK);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(plughost_launcher_start(l), PLUGHOST_ERROR_USAGE);
  plughost_launcher_free(l);
}

TEST(c_api, plan_and_status_come_as_json) {
  temp_dir dir;
  dir.write("plugins/worker_1_x.sh", "exit 0\n", fs::perms(0755));
  dir.write("plugins/all_y.sh", "exit 0\n", fs::perms(0755));
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_identity(opts.o, "WORKER", "0", "2"), PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  plughost_launcher* l = nullptr;
  ASSERT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_OK) << plughost_last_error();
  char* text = nullptr;
  ASSERT_EQ(plughost_launcher_plan_json(l, &text), PLUGHOST_OK);
  const auto plan = nlohmann::json::parse(text);
  plughost_string_free(text);
  EXPECT_EQ(plan["identity"]["worker_count"], 2);
  ASSERT_EQ(plan["plugins"].size(), 2u);
  EXPECT_EQ(plan["plugins"][1]["decision"], "skip");
  ASSERT_EQ(plughost_launcher_status_json(l, &text), PLUGHOST_OK);
  EXPECT_EQ(nlohmann::json::parse(text)["phase"], "not started");
  plughost_string_free(text);
  ASSERT_EQ(plughost_launcher_run(l, nullptr), PLUGHOST_OK);
  ASSERT_EQ(plughost_launcher_status_json(l, &text), PLUGHOST_OK);
  const auto status = nlohmann::json::parse(text);
  plughost_string_free(text);
  EXPECT_EQ(status["phase"], "finished");
  EXPECT_EQ(status["plugins"][0]["name"], "all_y.sh");
  EXPECT_EQ(status["plugins"][0]["state"], "exited");
  EXPECT_EQ(status["plugins"][0]["last_exit_code"], 0);
  plughost_launcher_free(l);
}

TEST(c_api, records_and_diagnostics_reach_the_callbacks) {
  temp_dir dir;
  dir.write("plugins/talk.sh", "printf 'a\\0b\\n'\necho err >&2\nexit 2\n", fs::perms(0755));
  collected seen;
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_identity(opts.o, nullptr, "3", "1"), PLUGHOST_OK);  // warns
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_record_callback(opts.o, collected::on_record, &seen), PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_diagnostics_callback(opts.o, collected::on_diagnostic, &seen),
            PLUGHOST_OK);
  plughost_launcher* l = nullptr;
  ASSERT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_OK) << plughost_last_error();
  ASSERT_EQ(plughost_launcher_start(l), PLUGHOST_OK);
  int code = -1;
  ASSERT_EQ(plughost_launcher_wait(l, &code), PLUGHOST_OK);
  plughost_launcher_free(l);
  EXPECT_EQ(code, 1);  // the plugin failed
  EXPECT_TRUE(seen.has(seen.records, std::string("talk.sh 0 a\0b", 13)));
  EXPECT_TRUE(seen.has(seen.records, "talk.sh 1 err"));
  EXPECT_TRUE(seen.has(seen.records, "talk.sh 2 {\"event\":\"exited\",\"exit_code\":2}"));
  EXPECT_TRUE(seen.has(seen.diagnostics, "2 worker id 3 is not below the worker count 1"));
}

TEST(c_api, freeing_a_started_launcher_stops_its_plugins) {
  temp_dir dir;
  dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  collected seen;
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_record_callback(opts.o, collected::on_record, &seen), PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  plughost_launcher* l = nullptr;
  ASSERT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_OK) << plughost_last_error();
  ASSERT_EQ(plughost_launcher_start(l), PLUGHOST_OK);
  ASSERT_TRUE(test::eventually([&] { return seen.has(seen.records, "stay.sh 0 ready"); }));
  plughost_launcher_free(l);
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

// What a callback got back from the calls it must not make.
struct misuse_seen {
  std::mutex mutex;
  plughost_launcher* launcher = nullptr;
  std::atomic<bool> tried{false};
  std::vector<std::string> answers;  // "<code> <plughost_last_error()>"
  void record(int code) {
    const std::lock_guard lock(mutex);
    answers.push_back(std::to_string(code) + " " + plughost_last_error());
  }
  // free(), wait(), run() and start() on its own launcher, from the callback, once.
  void try_all() {
    if (tried.exchange(true)) return;
    plughost_launcher_free(launcher);
    record(-1);
    int code = -1;
    record(plughost_launcher_wait(launcher, &code));
    record(plughost_launcher_run(launcher, &code));
    record(plughost_launcher_start(launcher));
    char* json = nullptr;  // allowed: the launcher is still there
    record(plughost_launcher_status_json(launcher, &json));
    plughost_string_free(json);
  }
  std::vector<std::string> get() {
    const std::lock_guard lock(mutex);
    return answers;
  }
};

std::string from_a_callback(const char* function, const char* then = "") {
  return std::string(function) +
         "() called from one of the launcher's callbacks would wait for the thread the callback "
         "runs on" +
         then;
}

std::vector<std::string> expected_callback_answers() {
  return {
      "-1 " + from_a_callback("plughost_launcher_free",
                              ": the launcher is left running and not freed; free it from a "
                              "thread of the program's once run() or wait() returned"),
      "1 " + from_a_callback("plughost_launcher_wait", "; call it from a thread of the program's"),
      "1 " + from_a_callback("plughost_launcher_run", "; call it from a thread of the program's"),
      "1 " + from_a_callback("plughost_launcher_start", "; call it from a thread of the program's"),
      "0 "};
}

TEST(c_api, free_wait_run_and_start_from_a_record_callback_are_errors_and_leave_it_running) {
  temp_dir dir;
  dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  misuse_seen seen;
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_record_callback(
                opts.o,
                [](const plughost_record* r, void* user) {
                  if (std::string(r->data, r->data_length) == "ready") {
                    static_cast<misuse_seen*>(user)->try_all();
                  }
                },
                &seen),
            PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  ASSERT_EQ(plughost_launcher_new(opts.o, &seen.launcher), PLUGHOST_OK);
  ASSERT_EQ(plughost_launcher_start(seen.launcher), PLUGHOST_OK);
  ASSERT_TRUE(test::eventually([&] { return seen.get().size() == 5; }));
  EXPECT_EQ(seen.get(), expected_callback_answers());
  // Still there, still running, and it can be stopped.
  char* json = nullptr;
  ASSERT_EQ(plughost_launcher_status_json(seen.launcher, &json), PLUGHOST_OK);
  EXPECT_EQ(nlohmann::json::parse(json)["plugins"][0]["state"], "running");
  plughost_string_free(json);
  EXPECT_FALSE(test::processes_with_marker(dir.marker()).empty());
  ASSERT_EQ(plughost_launcher_stop(seen.launcher), PLUGHOST_OK);
  int code = -1;
  ASSERT_EQ(plughost_launcher_wait(seen.launcher, &code), PLUGHOST_OK);
  EXPECT_EQ(code, 0);
  plughost_launcher_free(seen.launcher);
  EXPECT_STREQ(plughost_last_error(), "");
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

TEST(c_api, free_from_a_diagnostics_callback_on_the_thread_of_run_is_an_error) {
  temp_dir dir;
  dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  misuse_seen seen;
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_diagnostics_callback(
                opts.o,
                [](plughost_level, const char* message, void* user) {
                  // "reloaded: …" comes from the loop, which run() runs on the test's thread.
                  auto* s = static_cast<misuse_seen*>(user);
                  if (std::string(message).rfind("reloaded", 0) == 0) s->try_all();
                },
                &seen),
            PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  ASSERT_EQ(plughost_launcher_new(opts.o, &seen.launcher), PLUGHOST_OK);
  plughost_launcher* l = seen.launcher;
  std::thread operator_thread([&] {
    test::eventually([&] {
      char* json = nullptr;
      if (plughost_launcher_status_json(l, &json) != PLUGHOST_OK) return false;
      const bool running = nlohmann::json::parse(json)["plugins"][0]["state"] == "running";
      plughost_string_free(json);
      return running;
    });
    plughost_launcher_reload(l);
    test::eventually([&] { return seen.get().size() == 5; });
    plughost_launcher_stop(l);
  });
  int code = -1;
  EXPECT_EQ(plughost_launcher_run(l, &code), PLUGHOST_OK) << plughost_last_error();
  operator_thread.join();
  EXPECT_EQ(seen.get(), expected_callback_answers());
  plughost_launcher_free(l);
  EXPECT_STREQ(plughost_last_error(), "");
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

TEST(c_api, free_while_run_runs_on_another_thread_is_an_error_and_leaves_it_running) {
  temp_dir dir;
  dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  collected seen;
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_record_callback(opts.o, collected::on_record, &seen), PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  plughost_launcher* l = nullptr;
  ASSERT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_OK) << plughost_last_error();
  int run_result = -1;
  int code = -1;
  std::thread runner([&] { run_result = plughost_launcher_run(l, &code); });
  ASSERT_TRUE(test::eventually([&] { return seen.has(seen.records, "stay.sh 0 ready"); }));
  plughost_launcher_free(l);
  EXPECT_STREQ(plughost_last_error(),
               "plughost_launcher_free() called while plughost_launcher_run() runs on another "
               "thread: the launcher is left running and not freed; call "
               "plughost_launcher_stop(), and free it once run() returned");
  // A second run() meanwhile is refused too, and the running one goes on.
  EXPECT_EQ(plughost_launcher_run(l, nullptr), PLUGHOST_ERROR_USAGE);
  EXPECT_STREQ(plughost_last_error(),
               "this launcher has run already: run() and start() start once");
  char* json = nullptr;
  ASSERT_EQ(plughost_launcher_status_json(l, &json), PLUGHOST_OK);
  EXPECT_EQ(nlohmann::json::parse(json)["plugins"][0]["state"], "running");
  plughost_string_free(json);
  ASSERT_EQ(plughost_launcher_stop(l), PLUGHOST_OK);
  runner.join();
  EXPECT_EQ(run_result, PLUGHOST_OK);
  EXPECT_EQ(code, 0);
  plughost_launcher_free(l);
  EXPECT_STREQ(plughost_last_error(), "");
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

TEST(c_api, free_while_another_thread_waits_stops_it_and_the_wait_returns) {
  temp_dir dir;
  dir.write("plugins/stay.sh", "echo ready\nexec sleep 300\n", fs::perms(0755));
  collected seen;
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_record_callback(opts.o, collected::on_record, &seen), PLUGHOST_OK);
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  plughost_launcher* l = nullptr;
  ASSERT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_OK) << plughost_last_error();
  ASSERT_EQ(plughost_launcher_start(l), PLUGHOST_OK);
  ASSERT_TRUE(test::eventually([&] { return seen.has(seen.records, "stay.sh 0 ready"); }));
  std::atomic<int> wait_result{-1};
  std::thread waiter([&] {
    int code = -1;
    wait_result = plughost_launcher_wait(l, &code);
  });
  // Once it waits (it cannot be seen from outside: a moment is enough, and either order is fine).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  plughost_launcher_free(l);
  EXPECT_STREQ(plughost_last_error(), "");
  waiter.join();
  // Either it waited and saw the end, or it came after free() and was refused.
  EXPECT_TRUE(wait_result == PLUGHOST_OK || wait_result == PLUGHOST_ERROR_USAGE);
  EXPECT_TRUE(test::processes_with_marker(dir.marker()).empty());
}

TEST(c_api, a_launcher_freed_already_is_refused_not_used) {
  temp_dir dir;
  dir.write("plugins/x.sh", "exit 0\n", fs::perms(0755));
  c_options opts(dir);
  ASSERT_EQ(plughost_options_set_flag(opts.o, PLUGHOST_FLAG_CONFIGURED_SINKS, 0), PLUGHOST_OK);
  plughost_launcher* l = nullptr;
  ASSERT_EQ(plughost_launcher_new(opts.o, &l), PLUGHOST_OK) << plughost_last_error();
  ASSERT_EQ(plughost_launcher_run(l, nullptr), PLUGHOST_OK);
  EXPECT_EQ(plughost_launcher_run(l, nullptr), PLUGHOST_ERROR_USAGE);  // twice
  EXPECT_STREQ(plughost_last_error(),
               "this launcher has run already: run() and start() start once");
  plughost_launcher_free(l);
  EXPECT_STREQ(plughost_last_error(), "");
  // The handle's value only: it is looked up among the live launchers, never followed.
  EXPECT_EQ(plughost_launcher_stop(l), PLUGHOST_ERROR_USAGE);
  EXPECT_STREQ(plughost_last_error(),
               "plughost_launcher_stop(): not a launcher (freed already, or not made by "
               "plughost_launcher_new())");
  char* json = nullptr;
  EXPECT_EQ(plughost_launcher_status_json(l, &json), PLUGHOST_ERROR_USAGE);
  EXPECT_EQ(json, nullptr);
  plughost_launcher_free(l);  // twice
  EXPECT_STREQ(plughost_last_error(),
               "plughost_launcher_free(): not a launcher (freed already, or not made by "
               "plughost_launcher_new())");
}

}  // namespace
}  // namespace plughost
