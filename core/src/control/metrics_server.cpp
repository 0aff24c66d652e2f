// /metrics and /healthz: the text, from a launcher status and /proc; the HTTP, with Boost.Beast.
#include "control/metrics_server.hpp"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <set>

#include "common/log.hpp"
#include "plughost/sink_helpers.hpp"
#include "plughost/version.hpp"

namespace plughost::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t max_connections = 16;
constexpr std::uint32_t max_header_bytes = 8 * 1024;
constexpr auto idle_limit = std::chrono::seconds(10);
// A status older than this means the event loop did not answer: not healthy.
constexpr auto loop_patience = std::chrono::seconds(5);

// A label value: valid UTF-8 (a file name need not be: its bytes are shown as \xNN, as
// plughost shows them everywhere), backslash, double quote and newline escaped.
std::string label(std::string_view raw) {
  const auto v = visible(raw);
  std::string out;
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name,
                   type);
  }
  template <typename T>
  void sample(std::string_view name, std::string_view labels, T value) {
    fmt::format_to(std::back_inserter(text_), "{}{}{}{} {}\n", name, labels.empty() ? "" : "{",
                   labels, labels.empty() ? "" : "}", value);
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

std::string metrics_text(const launcher_status& s, const std::map<pid_t, group_usage>& usage) {
  exposition m;
  m.family("plughost_build_info", "gauge", "plughost's version (always 1).");
  m.sample("plughost_build_info", fmt::format("version=\"{}\"", PLUGHOST_VERSION_STRING), 1);
  if (s.started) {
    m.family("plughost_start_time_seconds", "gauge",
             "When plughost began to run its plugins, in seconds since the epoch.");
    m.sample("plughost_start_time_seconds", "", fmt::format("{:.3f}", unix_seconds(*s.started)));
  }
  const auto per_plugin = [&](std::string_view name, std::string_view type, std::string_view help,
                              auto value) {
    m.family(name, type, help);
    for (const auto& p : s.plugins) value(p, fmt::format("plugin=\"{}\"", label(p.name)));
  };
  per_plugin("plughost_plugin_up", "gauge", "1 while the plugin's process runs, 0 otherwise.",
             [&](const plugin_status& p, const std::string& l) {
               m.sample("plughost_plugin_up", l, p.state == "running" && p.pid != 0 ? 1 : 0);
             });
  m.family("plughost_plugin_state", "gauge",
           "1 for the state the plugin is in (starting, running, backoff, replacing, exited, "
           "failed, stopped, retired).");
  for (const auto& p : s.plugins) {
    m.sample("plughost_plugin_state",
             fmt::format("plugin=\"{}\",state=\"{}\"", label(p.name), label(p.state)), 1);
  }
  per_plugin("plughost_plugin_restarts_total", "counter",
             "Runs of the plugin its restart policy started.",
             [&](const plugin_status& p, const std::string& l) {
               m.sample("plughost_plugin_restarts_total", l, p.restarts);
             });
  m.family("plughost_plugin_exits_total", "counter",
           "Ends of the plugin's main process, by exit code or by signal.");
  for (const auto& p : s.plugins) {
    for (const auto& [code, n] : p.exit_codes) {
      m.sample("plughost_plugin_exits_total",
               fmt::format("plugin=\"{}\",code=\"{}\",signal=\"\"", label(p.name), code), n);
    }
    for (const auto& [signal, n] : p.exit_signals) {
      m.sample("plughost_plugin_exits_total",
               fmt::format("plugin=\"{}\",code=\"\",signal=\"{}\"", label(p.name), label(signal)),
               n);
    }
  }
  const auto per_stream = [&](std::string_view name, std::string_view help,
                              std::uint64_t plugin_status::stream_count::*value) {
    m.family(name, "counter", help);
    for (const auto& p : s.plugins) {
      m.sample(name, fmt::format("plugin=\"{}\",stream=\"stdout\"", label(p.name)), p.out.*value);
      m.sample(name, fmt::format("plugin=\"{}\",stream=\"stderr\"", label(p.name)), p.err.*value);
    }
  };
  per_stream("plughost_plugin_output_lines_total",
             "Records the plugin wrote, by stream (a line over the length limit counts per piece).",
             &plugin_status::stream_count::lines);
  per_stream("plughost_plugin_output_bytes_total",
             "Bytes the plugin wrote, by stream, newlines included.",
             &plugin_status::stream_count::bytes);
  const auto usage_of = [&](const plugin_status& p) -> const group_usage* {
    if (p.pid == 0) return nullptr;
    const auto it = usage.find(p.pid);
    return it == usage.end() ? nullptr : &it->second;
  };
  m.family("plughost_plugin_cpu_seconds_total", "counter",
           "CPU time (user and system) of the processes of the plugin's current run, with the "
           "children they reaped.");
  for (const auto& p : s.plugins) {
    if (const auto* u = usage_of(p)) {
      m.sample("plughost_plugin_cpu_seconds_total", fmt::format("plugin=\"{}\"", label(p.name)),
               fmt::format("{:.2f}", u->cpu_seconds));
    }
  }
  m.family("plughost_plugin_resident_memory_bytes", "gauge",
           "Resident memory of the processes of the plugin's current run.");
  for (const auto& p : s.plugins) {
    if (const auto* u = usage_of(p)) {
      m.sample("plughost_plugin_resident_memory_bytes", fmt::format("plugin=\"{}\"", label(p.name)),
               u->resident_bytes);
    }
  }
  const auto per_sink = [&](std::string_view name, std::string_view type, std::string_view help,
                            auto value) {
    m.family(name, type, help);
    for (const auto& k : s.sinks)
      m.sample(name, fmt::format("sink=\"{}\"", label(k.name)), value(k));
  };
  per_sink("plughost_sink_queued_bytes", "gauge", "Records waiting in the sink's queue, in bytes.",
           [](const sink_status& k) { return k.queued_bytes; });
  per_sink("plughost_sink_queue_size_bytes", "gauge", "The size of the sink's queue, in bytes.",
           [](const sink_status& k) { return k.queue_size; });
  per_sink("plughost_sink_errors_total", "counter", "Writes and flushes of the sink that failed.",
           [](const sink_status& k) { return k.errors; });
  per_sink("plughost_sink_records_lost_total", "counter", "Records the sink failed to write.",
           [](const sink_status& k) { return k.lost; });
  m.family("plughost_sink_records_dropped_total", "counter",
           "Records the sink's overflow policy dropped, by plugin.");
  for (const auto& k : s.sinks) {
    for (const auto& [plugin, n] : k.dropped) {
      m.sample("plughost_sink_records_dropped_total",
               fmt::format("sink=\"{}\",plugin=\"{}\"", label(k.name), label(plugin)), n);
    }
  }
  return m.take();
}

bool healthy(const launcher_status& s, std::chrono::system_clock::time_point now,
             std::string& why) {
  if (s.phase != "starting" && s.phase != "running") {
    why = "plughost is " + s.phase;
    return false;
  }
  if (!s.taken || now - *s.taken > loop_patience) {
    why = "plughost's event loop is not answering";
    return false;
  }
  return true;
}

// ---- HTTP ------------------------------------------------------------------------------------

class metrics_server::session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, operator_calls& calls, std::shared_ptr<std::size_t> count)
      : stream_(std::move(socket)), calls_(calls), count_(std::move(count)) {
    ++*count_;
  }
  ~session() { --*count_; }

  void start() { read(); }
  /// Waiting for a request (not in the middle of answering one).
  bool idle() const noexcept { return idle_; }
  void close() noexcept {
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void read() {
    idle_ = true;
    parser_.emplace();
    parser_->header_limit(max_header_bytes);
    parser_->body_limit(0);
    stream_.expires_after(idle_limit);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->refuse(ec);
                       self->idle_ = false;
                       self->respond(self->parser_->release());
                     });
  }

  // A request that cannot be read: a client that went away or was too slow is only closed; one
  // that sent something wrong is told what (400, 413 or 431), then closed.
  void refuse(beast::error_code ec) {
    if (ec.category() != http::make_error_code(http::error::bad_method).category() ||
        ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return close();
    }
    idle_ = false;
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(11);
    response->keep_alive(false);
    response->set(http::field::server, "plughost/" PLUGHOST_VERSION_STRING);
    response->set(http::field::content_type, "text/plain; charset=utf-8");
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      response->result(http::status::request_header_fields_too_large);
      response->body() = fmt::format("the request's header is over {} bytes\n", max_header_bytes);
    } else if (ec == http::error::body_limit) {
      response->result(http::status::payload_too_large);
      response->body() = "a request has no body here: GET /metrics or /healthz\n";
    } else {
      response->result(http::status::bad_request);
      response->body() = "bad request: " + ec.message() + "\n";
    }
    response->prepare_payload();
    stream_.expires_after(idle_limit);
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code failed, std::size_t) {
                        if (failed) return self->close();
                        // What the client still sends is read and dropped for a moment: closing
                        // with it unread would reset the connection, and the answer with it.
                        boost::system::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        self->stream_.expires_after(std::chrono::seconds(1));
                        self->drain(0);
                      });
  }

  void drain(std::size_t so_far) {
    buffer_.clear();
    stream_.async_read_some(
        buffer_.prepare(max_header_bytes),
        [self = shared_from_this(), so_far](beast::error_code ec, std::size_t n) {
          if (ec || so_far + n > 64 * 1024) return self->close();
          self->drain(so_far + n);
        });
  }

  void respond(const http::request<http::empty_body>& request) {
    auto response = std::make_shared<http::response<http::string_body>>();
    response->version(request.version());
    response->keep_alive(request.keep_alive());
    response->set(http::field::server, "plughost/" PLUGHOST_VERSION_STRING);
    const auto target = request.target();
    const auto path = target.substr(0, target.find('?'));
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
      response->result(http::status::method_not_allowed);
      response->set(http::field::allow, "GET, HEAD");
      response->body() = "only GET and HEAD\n";
    } else if (path == "/metrics") {
      const auto s = calls_.status();
      std::set<pid_t> groups;
      for (const auto& p : s.plugins) {
        if (p.pid != 0) groups.insert(p.pid);
      }
      response->result(http::status::ok);
      response->set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response->body() = metrics_text(s, usage_of_groups(groups));
    } else if (path == "/healthz") {
      std::string why;
      const bool ok = healthy(calls_.status(), std::chrono::system_clock::now(), why);
      response->result(ok ? http::status::ok : http::status::service_unavailable);
      response->set(http::field::content_type, "text/plain; charset=utf-8");
      response->body() = ok ? "ok\n" : why + "\n";
    } else {
      response->result(http::status::not_found);
      response->set(http::field::content_type, "text/plain; charset=utf-8");
      response->body() = "not found: try /metrics or /healthz\n";
    }
    response->prepare_payload();
    if (request.method() == http::verb::head) {  // the length of what GET would send, no body
      const auto length = response->body().size();
      response->body().clear();
      response->content_length(length);
    }
    stream_.expires_after(idle_limit);
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response](beast::error_code ec, std::size_t) {
                        if (ec || !response->keep_alive()) return self->close();
                        self->read();
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{max_header_bytes};
  std::optional<http::request_parser<http::empty_body>> parser_;
  operator_calls& calls_;
  std::shared_ptr<std::size_t> count_;
  bool idle_ = true;
};

metrics_server::metrics_server(asio::io_context& ioc, const metrics_endpoint& where,
                               operator_calls calls)
    : ioc_(ioc), calls_(std::move(calls)), acceptor_(ioc) {
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  const auto address = asio::ip::make_address(where.host, ec);
  if (!ec) {
    endpoint = {address, where.port};
  } else {
    tcp::resolver resolver(ioc_);
    const auto found = resolver.resolve(where.host, std::to_string(where.port), ec);
    if (ec || found.empty()) {
      throw std::runtime_error(fmt::format("metrics address {}: cannot resolve {}: {}", where.text,
                                           where.host, ec ? ec.message() : "no address"));
    }
    endpoint = found.begin()->endpoint();
  }
  const auto fail = [&](std::string_view step) {
    throw std::runtime_error(
        fmt::format("metrics address {}: cannot {}: {}", where.text, step, ec.message()));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) fail("open a socket");
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false), ec);
  acceptor_.bind(endpoint, ec);
  if (ec) fail("listen there");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen there");
  accept();
}

metrics_server::~metrics_server() {
  shutdown();
}

void metrics_server::shutdown() noexcept {
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (const auto& weak : open_) {
    if (auto s = weak.lock()) s->close();
  }
}

tcp::endpoint metrics_server::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void metrics_server::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      std::erase_if(open_, [](const auto& w) { return w.expired(); });
      if (*count_ >= max_connections) {
        // Full: the oldest connection that is only waiting makes room (idle connections cannot
        // keep a scraper or a liveness probe out); if all are busy, the new one waits its turn.
        for (const auto& weak : open_) {
          if (auto old = weak.lock(); old && old->idle()) {
            old->close();
            break;
          }
        }
      }
      auto s = std::make_shared<session>(std::move(socket), calls_, count_);
      open_.push_back(s);
      s->start();
    }
    accept();
  });
}

}  // namespace plughost::detail
