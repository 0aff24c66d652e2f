// The control socket's connections (peer credentials, one JSON request per line, answers
// written in batches), and `logs`, which streams records from the record tap without ever
// holding up the plugins. The socket's file is control_socket_file.cpp.
#include "control/control_server.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>

#include "common/log.hpp"
#include "common/nearest.hpp"
#include "control/control_socket_file.hpp"
#include "plughost/error.hpp"
#include "plughost/sink_helpers.hpp"

namespace plughost::detail {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_request = 64 * 1024;
constexpr std::size_t max_connections = 64;
// What a `logs -f` client has not read yet: more, and records are dropped for it (and counted).
constexpr std::size_t max_unsent_bytes = 1024 * 1024;
constexpr std::size_t max_posted_batches = 64;
constexpr std::int64_t default_log_lines = 20;
const std::vector<std::string> commands = {"status", "start",  "stop", "restart",
                                           "reload", "reopen", "logs"};

std::string error_line(std::string_view message) {
  return json{{"ok", false}, {"error", message}}.dump(-1, ' ', false,
                                                      json::error_handler_t::replace) +
         "\n";
}

}  // namespace

// ---- a connection ----------------------------------------------------------------------------

class control_server::connection : public std::enable_shared_from_this<connection> {
 public:
  connection(local::socket socket, operator_calls& calls, std::shared_ptr<std::size_t> count,
             waiting_threads& waiters)
      : socket_(std::move(socket)), calls_(calls), count_(std::move(count)), waiters_(waiters) {
    ++*count_;
  }
  ~connection() {
    --*count_;
    stop_following();
  }

  void start(bool over_limit) {
    if (over_limit) {
      return finish_with(error_line(fmt::format(
          "too many control connections (at most {}): try again later", max_connections)));
    }
    struct ucred peer {};
    socklen_t size = sizeof peer;
    if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0 ||
        (peer.uid != ::geteuid() && peer.uid != 0)) {
      log().warn("control socket: refused a connection from uid {} (only uid {} and root may)",
                 peer.uid, ::geteuid());
      return finish_with(error_line("permission denied: only the user plughost runs as, or root"));
    }
    read();
  }

  // Waiting for a request (not following logs, not ending): may be closed to make room.
  bool idle() const noexcept { return reading_ && !following_ && !closing_ && socket_.is_open(); }

  void close() noexcept {
    stop_following();
    boost::system::error_code ec;
    socket_.close(ec);
  }

  // plughost ends: a follower gets what it was sent, the others go now.
  void finish() noexcept {
    if (!following_) return close();
    try {
      finish_with("");
    } catch (...) {
      close();
    }
  }

 private:
  void read() {
    reading_ = true;
    asio::async_read_until(socket_, asio::dynamic_buffer(in_, max_request), '\n',
                           [self = shared_from_this()](const boost::system::error_code& ec,
                                                       std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    if (ec == asio::error::not_found) {
      return finish_with(error_line(
          fmt::format("a request is one line of JSON of at most {} bytes", max_request)));
    }
    if (ec) return close();  // the client went away
    std::string line = in_.substr(0, n - 1);
    in_.erase(0, n);
    if (following_) return read();  // while logs streams, the client only says goodbye
    handle(line);
    if (closing_ || answering_) return;  // a reload's answer reads the next request
    // A client that sends requests without reading the answers waits until it has read them:
    // what it has not read stays bounded.
    if (unsent_ > max_unsent_bytes) {
      paused_ = true;
      return;
    }
    read();
  }

  void handle(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) return;
    const auto request = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (request.is_discarded() || !request.is_object()) {
      return send(error_line(R"(expected one JSON object per line, e.g. {"command":"status"})"));
    }
    const auto command = request.find("command");
    if (command == request.end() || !command->is_string()) {
      return send(error_line(R"(the request has no "command" (a string))"));
    }
    const auto& name = command->get_ref<const std::string&>();
    try {
      if (name == "status") {
        return send(R"({"ok":true,"status":)" + to_json(calls_.status()) + "}\n");
      }
      if (name == "reload") return reload();
      if (name == "reopen") {
        calls_.reopen();
        return send("{\"ok\":true}\n");
      }
      if (name == "stop" || name == "start" || name == "restart") return act(name, request);
      if (name == "logs") return logs(request);
    } catch (const std::exception& e) {
      return send(error_line(e.what()));
    }
    send(
        error_line(fmt::format("unknown command '{}'{}; the commands are status, start, stop, "
                               "restart, reload, reopen and logs",
                               visible(name), did_you_mean(name, commands))));
  }

  // The plugins a request names: a list of strings, maybe required. A name may be given as
  // plughost shows it (status, logs): one that is no plugin's own name but is how one is shown
  // (bytes that are not UTF-8, control characters: names JSON cannot carry or a shell cannot
  // type) means that plugin.
  std::vector<std::string> plugins_of(const json& request, bool required) {
    auto names = given_plugins(request, required);
    std::optional<launcher_status> now;
    for (auto& n : names) {
      if (!now) now = calls_.status();
      const auto& plugins = now->plugins;
      if (std::any_of(plugins.begin(), plugins.end(), [&](const auto& p) { return p.name == n; })) {
        continue;
      }
      const auto shown = std::find_if(plugins.begin(), plugins.end(),
                                      [&](const auto& p) { return visible_name(p.name) == n; });
      if (shown != plugins.end()) n = shown->name;
    }
    return names;
  }

  static std::vector<std::string> given_plugins(const json& request, bool required) {
    const auto it = request.find("plugins");
    if (it == request.end() || it->is_null()) {
      if (required) throw std::invalid_argument(R"(the request names no "plugins")");
      return {};
    }
    if (!it->is_array() || (required && it->empty())) {
      throw std::invalid_argument(R"("plugins" must be a list of plugin names)");
    }
    std::vector<std::string> out;
    for (const auto& p : *it) {
      if (!p.is_string())
        throw std::invalid_argument(R"("plugins" must be a list of plugin names)");
      out.push_back(p.get<std::string>());
    }
    return out;
  }

  void act(const std::string& what, const json& request) {
    json results = json::array();
    bool all_ok = true;
    for (const auto& plugin : plugins_of(request, /*required=*/true)) {
      try {
        const auto said = calls_.act(what, plugin);
        const bool ok = said.rfind("could not start", 0) != 0;
        all_ok = all_ok && ok;
        results.push_back({{"plugin", plugin}, {"ok", ok}, {"said", said}});
      } catch (const std::exception& e) {
        all_ok = false;
        results.push_back({{"plugin", plugin}, {"ok", false}, {"error", e.what()}});
      }
    }
    send(json{{"ok", all_ok}, {"results", std::move(results)}}.dump(
             -1, ' ', false, json::error_handler_t::replace) +
         "\n");
  }

  // A reload waits for its planning (seconds, for a large configuration): on a thread of the
  // server's, so that other connections (status, stop) are answered meanwhile. This connection
  // reads its next request once the answer is queued.
  void reload() {
    answering_ = true;
    auto self = shared_from_this();
    try {
      waiters_.run([self, ex = socket_.get_executor()] {
        std::string text;
        try {
          text = reload_answer(self->calls_.reload());
        } catch (const std::exception& e) {
          text = error_line(e.what());
        } catch (...) {
          text = error_line("the reload failed");
        }
        asio::post(ex,
                   [self, text = std::move(text)]() mutable { self->answered(std::move(text)); });
      });
    } catch (const std::exception& e) {  // no thread to be had
      answering_ = false;
      send(error_line(fmt::format("cannot wait for the reload: {}", e.what())));
    }
  }

  void answered(std::string text) {
    answering_ = false;
    send(std::move(text));
    if (closing_ || !socket_.is_open()) return;
    if (unsent_ > max_unsent_bytes) {
      paused_ = true;
      return;
    }
    read();
  }

  // ---- logs --------------------------------------------------------------------------------

  void logs(const json& request) {
    if (!calls_.tap) throw std::invalid_argument("this plughost keeps no records for logs");
    const auto names = plugins_of(request, /*required=*/false);
    check_known(names);
    wanted_ = std::set<std::string>(names.begin(), names.end());
    const bool follow = follow_of(request);
    const std::int64_t lines = lines_of(request);
    std::vector<record_tap::batch_ptr> recent;
    if (follow) {
      follow_records(recent);
    } else {
      recent = calls_.tap->recent();
    }
    send(R"({"ok":true})"
         "\n");
    send_last(recent, lines);
    if (!follow) finish_with("");
  }

  // A mistyped name would otherwise show nothing, silently.
  void check_known(const std::vector<std::string>& names) {
    if (names.empty()) return;
    std::vector<std::string> known;
    for (const auto& p : calls_.status().plugins) known.push_back(p.name);
    for (const auto& n : names) {
      if (std::find(known.begin(), known.end(), n) == known.end()) {
        throw std::invalid_argument("no plugin named " + visible_name(n) + did_you_mean(n, known));
      }
    }
  }

  static bool follow_of(const json& request) {
    const auto it = request.find("follow");
    if (it == request.end()) return false;
    if (!it->is_boolean()) throw std::invalid_argument(R"("follow" must be true or false)");
    return it->get<bool>();
  }

  static std::int64_t lines_of(const json& request) {
    const auto it = request.find("lines");
    if (it == request.end()) return default_log_lines;
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0) {
      throw std::invalid_argument(R"("lines" must be a whole number, 0 or more)");
    }
    return it->get<std::int64_t>();
  }

  // logs -f: the tap's batches from now on come here, through the connection's executor; a
  // client too slow for them has batches dropped (and counted) instead of queued without end.
  // `recent` gets what the tap holds from before.
  void follow_records(std::vector<record_tap::batch_ptr>& recent) {
    following_ = true;
    auto posted = posted_;
    auto dropped = dropped_;
    follow_id_ = calls_.tap->follow(
        [weak = weak_from_this(), ex = socket_.get_executor(), posted,
         dropped](const record_tap::batch_ptr& b) {
          if (posted->load() >= max_posted_batches) {
            dropped->fetch_add(b->size());
            return;
          }
          ++*posted;
          asio::post(ex, [weak, b, posted] {
            --*posted;
            if (auto self = weak.lock()) self->on_batch(*b);
          });
        },
        &recent);
  }

  // The look back: the last `lines` records of the plugins asked for.
  void send_last(const std::vector<record_tap::batch_ptr>& recent, std::int64_t lines) {
    std::deque<std::string> last;
    for (const auto& b : recent) {
      b->for_each([&](const record& r) {
        if (lines == 0 || !wanted(r)) return;
        last.push_back(record_to_json(r) + "\n");
        if (last.size() > static_cast<std::size_t>(lines)) last.pop_front();
      });
    }
    for (auto& l : last) send(std::move(l));
  }

  bool wanted(const record& r) const {
    return wanted_.empty() || wanted_.count(std::string(r.plugin)) > 0;
  }

  void on_batch(const record_batch& b) {
    if (!following_) return;
    b.for_each([&](const record& r) {
      if (!wanted(r)) return;
      if (unsent_ > max_unsent_bytes) {
        ++*dropped_;
        return;
      }
      if (const auto n = dropped_->exchange(0); n > 0) {
        send(fmt::format("{{\"dropped\":{}}}\n", n));  // the client reads slower than plugins write
      }
      send(record_to_json(r) + "\n");
    });
  }

  void stop_following() noexcept {
    if (follow_id_ && calls_.tap) calls_.tap->unfollow(follow_id_);
    follow_id_ = 0;
    following_ = false;
  }

  // ---- writing -----------------------------------------------------------------------------

  void send(std::string text) {
    if (text.empty() || !socket_.is_open()) return;
    unsent_ += text.size();
    out_.push_back(std::move(text));
    if (!writing_) write_next();
  }

  // The last words, then the connection ends.
  void finish_with(std::string text) {
    closing_ = true;
    stop_following();
    send(std::move(text));
    if (!writing_) close();
  }

  // Everything queued goes in one write (a follower of a busy plugin gets thousands of records a
  // second: one write each would fall behind).
  void write_next() {
    if (out_.empty()) {
      writing_ = false;
      if (closing_) close();
      if (paused_ && !closing_ && unsent_ <= max_unsent_bytes) {  // drained: read requests again
        paused_ = false;
        read();
      }
      return;
    }
    writing_ = true;
    in_flight_.clear();
    in_flight_.swap(out_);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(in_flight_.size());
    for (const auto& text : in_flight_) buffers.push_back(asio::buffer(text));
    asio::async_write(
        socket_, buffers,
        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
          self->unsent_ -= n;
          self->in_flight_.clear();
          if (ec) {
            self->writing_ = false;
            self->out_.clear();
            self->unsent_ = 0;
            return self->close();
          }
          self->write_next();
        });
  }

  local::socket socket_;
  operator_calls& calls_;
  std::shared_ptr<std::size_t> count_;
  waiting_threads& waiters_;
  std::string in_;
  std::deque<std::string> out_;
  std::deque<std::string> in_flight_;  // being written
  std::size_t unsent_ = 0;
  bool writing_ = false;
  bool reading_ = false;  // allowed in, reads requests
  bool paused_ = false;   // stopped reading requests until its answers are read
  bool closing_ = false;
  bool answering_ = false;  // a reload's answer is awaited
  bool following_ = false;
  std::uint64_t follow_id_ = 0;
  std::set<std::string> wanted_;
  std::shared_ptr<std::atomic<std::size_t>> posted_ = std::make_shared<std::atomic<std::size_t>>(0);
  std::shared_ptr<std::atomic<std::uint64_t>> dropped_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
};

// ---- the server -------------------------------------------------------------------------------

control_server::control_server(asio::io_context& ioc, fs::path path, operator_calls calls)
    : ioc_(ioc), path_(std::move(path)), calls_(std::move(calls)), acceptor_(ioc) {
  const auto made = bind_control_socket(ioc_, acceptor_, path_);
  made_dev_ = made.dev;
  made_ino_ = made.ino;
  accept();
  if (served_pid(path_.filename().string()) > 0) remove_sockets_left_behind(ioc_, path_);
}

void control_server::shutdown() noexcept {
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (const auto& weak : open_) {
    if (auto c = weak.lock()) c->finish();
  }
}

control_server::~control_server() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (const auto& weak : open_) {
    if (auto c = weak.lock()) c->close();
  }
  waiters_.join();  // they use calls_
  // Removed only if it is still ours: a plughost started since may have replaced it.
  remove_control_socket(path_, {made_dev_, made_ino_});
}

void control_server::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, local::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::erase_if(open_, [](const auto& w) { return w.expired(); });
      bool over = *count_ >= max_connections;
      // Full: the oldest connection that only waits makes room (clients left open and idle
      // cannot lock out `plughost stop`); followers of logs -f and answers being sent stay.
      for (auto it = open_.begin(); over && it != open_.end(); ++it) {
        if (auto old = it->lock(); old && old->idle()) {
          old->close();
          open_.erase(it);
          over = false;
          break;
        }
      }
      auto c = std::make_shared<connection>(std::move(socket), calls_, count_, waiters_);
      open_.push_back(c);
      c->start(over);
    }
    accept();
  });
}

}  // namespace plughost::detail
