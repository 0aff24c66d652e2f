// A C++ program that embeds plughost: runs the plugins of a folder on the launcher's thread,
// prints each line they write as it arrives (through a program sink), shows the status once the
// first line came, then stops them and exits with plughost's exit code.
//
//   cmake -S . -B build -DCMAKE_PREFIX_PATH=<where plughost is installed> && cmake --build build
//   build/host-cpp plugins
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <plughost/error.hpp>
#include <plughost/launcher.hpp>
#include <plughost/record.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " PLUGIN_FOLDER\n";
    return 2;
  }
  std::cout << "plughost " << plughost::version() << std::endl;
  std::mutex mutex;
  std::condition_variable changed;
  int lines_seen = 0;

  plughost::launch_options options;
  options.locations = {argv[1]};
  options.role = "WORKER";
  options.worker_id = 0;
  options.worker_count = 1;
  options.stop_timeout = std::chrono::seconds(2);
  // Called from plughost's writer thread, one record at a time; the record is a view.
  options.program_sinks.push_back({"host", plughost::callback_sink([&](const plughost::record& r) {
                                     std::cout
                                         << "record " << r.plugin << ' '
                                         << plughost::to_string(r.stream) << ' '
                                         << (r.stream == plughost::stream::event ? r.event : r.line)
                                         << std::endl;
                                     if (r.stream != plughost::stream::out) return;
                                     const std::lock_guard lock(mutex);
                                     ++lines_seen;
                                     changed.notify_all();
                                   })});
  options.diagnostics = [](plughost::diagnostic_level level, std::string_view message) {
    std::cerr << "host-cpp: plughost says (" << plughost::to_string(level) << "): " << message
              << '\n';
  };
  try {
    plughost::launcher launcher(options);
    launcher.start();
    int seen = 0;
    {
      std::unique_lock lock(mutex);
      changed.wait_for(lock, std::chrono::seconds(30), [&] { return lines_seen > 0; });
      seen = lines_seen;
    }
    const auto status = launcher.status();
    std::cout << "status " << plughost::to_json(status) << std::endl;
    launcher.stop();
    const int code = launcher.wait();
    std::cout << "exit code " << code << std::endl;
    return seen > 0 ? code : 1;
  } catch (const plughost::error& e) {
    std::cerr << "host-cpp: " << e.what() << '\n';
    return 2;
  }
}
