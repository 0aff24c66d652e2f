// /metrics and /healthz over HTTP with Boost.Beast: who keeps a connection, and where answers are
// made (the operator thread reads and writes; the texts are made on threads of their own).
#include "control/metrics_server.hpp"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/write.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "common/log.hpp"
#include "plughost/version.hpp"

namespace plughost::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t max_connections = 16;
constexpr std::uint32_t max_header_bytes = 8 * 1024;
constexpr auto idle_limit = std::chrono::seconds(10);
// Scrapes this soon after a /metrics text was begun get that text: a flood of scrapes costs at
// most ten renderings a second (each asks the event loop for a status and reads all of /proc).
constexpr auto metrics_reuse = std::chrono::milliseconds(100);
// A connection that ends with requests still coming (pipelined, or refused) reads and drops
// them for a moment: closing with them unread would reset it, and its answer with it.
constexpr auto linger_time = std::chrono::seconds(1);
constexpr std::size_t linger_bytes = 64 * 1024;

}  // namespace

struct metrics_server::reply {
  http::status status = http::status::ok;
  const char* content_type = "text/plain; charset=utf-8";
  const char* allow = nullptr;  // the Allow header of a 405
  std::string body;
  steady::time_point begun{};  // when making it began
};

namespace {

metrics_server::shared_reply make_reply(http::status status, std::string body) {
  auto r = std::make_shared<metrics_server::reply>();
  r->status = status;
  r->body = std::move(body);
  return r;
}

}  // namespace

// ---- answers made off the operator thread ----------------------------------------------------

// Makes a reply on a thread of its own, once for every connection that asked while it was not
// making one; a later question waits for the next one, so no answer is older than its question.
class metrics_server::maker {
 public:
  maker(asio::io_context& ioc, std::function<reply()> make)
      : ioc_(ioc), make_(std::move(make)), thread_([this, logger = current_logger()] {
          const log_scope scope(logger);
          work();
        }) {}
  ~maker() {
    stop();
    thread_.join();
  }
  maker(const maker&) = delete;
  maker& operator=(const maker&) = delete;

  /// On the operator thread; `done` runs there too, with the reply.
  void ask(std::function<void(shared_reply)> done) {
    {
      const std::lock_guard lock(mutex_);
      waiting_.push_back(std::move(done));
    }
    wake_.notify_one();
  }

  void stop() noexcept {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
      if (stopping_) return;
      auto asked = std::move(waiting_);
      waiting_.clear();
      lock.unlock();
      auto made = std::make_shared<reply>();
      const auto begun = steady::now();
      try {
        *made = make_();
      } catch (const std::exception& e) {
        made = std::make_shared<reply>();
        made->status = http::status::internal_server_error;
        made->body = fmt::format("cannot make the answer: {}\n", e.what());
      }
      made->begun = begun;
      asio::post(ioc_, [asked = std::move(asked), made = shared_reply(std::move(made))] {
        for (const auto& done : asked) done(made);
      });
      lock.lock();
    }
  }

  asio::io_context& ioc_;
  std::function<reply()> make_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::function<void(shared_reply)>> waiting_;
  bool stopping_ = false;
  std::thread thread_;  // last: it uses the members above
};

// ---- a connection ----------------------------------------------------------------------------

class metrics_server::session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket socket, metrics_server& server)
      : stream_(std::move(socket)), server_(server) {
    boost::system::error_code ec;
    peer_ = stream_.socket().remote_endpoint(ec).address();
  }

  void start() { read(); }

  const asio::ip::address& peer() const noexcept { return peer_; }

  /// How readily it is closed to make room among a peer's connections: one that is ending
  /// first, one answering /healthz (cheap, and what a liveness probe waits for) last.
  int expendability() const noexcept { return ending_ ? 2 : probing_ ? 0 : 1; }

  void close() noexcept {
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

 private:
  void read() {
    probing_ = false;
    parser_.emplace();
    parser_->header_limit(max_header_bytes);
    parser_->body_limit(0);
    stream_.expires_after(idle_limit);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->refuse(ec);
                       self->route(self->parser_->release());
                     });
  }

  void route(const http::request<http::empty_body>& request) {
    version_ = request.version();
    head_ = request.method() == http::verb::head;
    // Pipelined (the next request came before this answer went out): this answer, then the
    // connection ends. A client cannot have answer after answer made that it does not read.
    pipelined_ = buffer_.size() > 0;
    keep_alive_ = request.keep_alive() && !pipelined_;
    auto answer = [weak = weak_from_this()](shared_reply r) {
      if (const auto self = weak.lock()) self->send(r);
    };
    const auto target = request.target();
    const auto path = target.substr(0, target.find('?'));
    if (request.method() != http::verb::get && !head_) {
      auto r = std::make_shared<reply>();
      r->status = http::status::method_not_allowed;
      r->allow = "GET, HEAD";
      r->body = "only GET and HEAD\n";
      send(r);
    } else if (path == "/healthz") {
      probing_ = true;
      server_.ask_health(std::move(answer));
    } else if (path == "/readyz") {
      probing_ = true;
      server_.ask_readiness(std::move(answer));
    } else if (path == "/metrics") {
      server_.ask_metrics(std::move(answer));
    } else {
      send(make_reply(http::status::not_found, "not found: try /metrics, /healthz or /readyz\n"));
    }
  }

  // A request that cannot be read: a client that went away or was too slow is only closed; one
  // that sent something wrong is told what (400, 413 or 431), then closed.
  void refuse(beast::error_code ec) {
    if (ec.category() != http::make_error_code(http::error::bad_method).category() ||
        ec == http::error::end_of_stream || ec == http::error::partial_message) {
      return end();
    }
    version_ = 11;
    head_ = false;
    keep_alive_ = false;
    pipelined_ = true;  // what follows is read and dropped before the connection closes
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      send(make_reply(http::status::request_header_fields_too_large,
                      fmt::format("the request's header is over {} bytes\n", max_header_bytes)));
    } else if (ec == http::error::body_limit) {
      send(make_reply(http::status::payload_too_large,
                      "a request has no body here: GET /metrics or /healthz\n"));
    } else {
      send(make_reply(http::status::bad_request, "bad request: " + ec.message() + "\n"));
    }
  }

  void send(const shared_reply& r) {
    if (!stream_.socket().is_open()) return;
    auto response = std::make_shared<http::response<http::span_body<const char>>>();
    response->version(version_);
    response->result(r->status);
    response->keep_alive(keep_alive_);
    response->set(http::field::server, "plughost/" PLUGHOST_VERSION_STRING);
    response->set(http::field::content_type, r->content_type);
    if (r->allow) response->set(http::field::allow, r->allow);
    if (!head_) response->body() = {r->body.data(), r->body.size()};
    response->content_length(r->body.size());  // HEAD: the length of what GET would send
    stream_.expires_after(idle_limit);
    http::async_write(stream_, *response,
                      [self = shared_from_this(), response, r](beast::error_code ec, std::size_t) {
                        if (ec) return self->end();
                        if (self->keep_alive_) return self->read();
                        if (self->pipelined_) return self->linger();
                        self->end();
                      });
  }

  void linger() {
    ending_ = true;
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(linger_time);
    drain(0);
  }

  void drain(std::size_t so_far) {
    buffer_.clear();
    stream_.async_read_some(
        buffer_.prepare(max_header_bytes),
        [self = shared_from_this(), so_far](beast::error_code ec, std::size_t n) {
          if (ec || so_far + n > linger_bytes) return self->end();
          self->drain(so_far + n);
        });
  }

  void end() noexcept {
    ending_ = true;
    close();
    server_.forget(this);
  }

  beast::tcp_stream stream_;
  metrics_server& server_;
  asio::ip::address peer_;
  beast::flat_buffer buffer_{max_header_bytes};
  std::optional<http::request_parser<http::empty_body>> parser_;
  unsigned version_ = 11;
  bool head_ = false;
  bool keep_alive_ = false;
  bool pipelined_ = false;
  bool probing_ = false;
  bool ending_ = false;
};

// ---- the server ------------------------------------------------------------------------------

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
  // Named as given, and with the port it came to where that differs ("HOST:PORT+{worker_id}").
  const auto named = where.text.find('{') == std::string::npos
                         ? where.text
                         : fmt::format("{} (port {})", where.text, where.port);
  const auto fail = [&](std::string_view step) {
    throw std::runtime_error(
        fmt::format("metrics address {}: cannot {}: {}", named, step, ec.message()));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) fail("open a socket");
  acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false), ec);
  acceptor_.bind(endpoint, ec);
  if (ec) fail("listen there");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen there");
  const auto verdict = [this](auto judge) {
    return [this, judge] {
      reply r;
      std::string why;
      if (judge(calls_.status(), std::chrono::system_clock::now(), why)) {
        r.body = "ok\n";
      } else {
        r.status = http::status::service_unavailable;
        r.body = why + "\n";
      }
      return r;
    };
  };
  health_ = std::make_unique<maker>(ioc_, verdict(healthy));
  readiness_ = std::make_unique<maker>(ioc_, verdict(ready));
  metrics_ = std::make_unique<maker>(ioc_, [this] {
    const auto s = calls_.status();
    std::set<pid_t> groups;
    for (const auto& p : s.plugins) {
      if (p.pid != 0 && (!p.cpu_seconds || !p.memory_bytes)) groups.insert(p.pid);
    }
    reply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_text(s, usage_of_groups(groups));
    return r;
  });
  accept();
}

metrics_server::~metrics_server() {
  shutdown();
  health_.reset();
  readiness_.reset();
  metrics_.reset();
}

void metrics_server::shutdown() noexcept {
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (const auto& s : open_) s->close();
  open_.clear();
  if (health_) health_->stop();
  if (readiness_) readiness_->stop();
  if (metrics_) metrics_->stop();
}

tcp::endpoint metrics_server::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void metrics_server::accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) admit(std::move(socket));
    accept();
  });
}

// Full: the peer holding the most connections (this new one counted) loses its oldest, the
// ones answering /healthz last. A client opening connections by the hundred closes its own, not
// a scraper's or a liveness probe's, and idle connections cannot keep anyone out.
void metrics_server::admit(tcp::socket socket) {
  auto fresh = std::make_shared<session>(std::move(socket), *this);
  if (open_.size() >= max_connections) {
    std::map<asio::ip::address, std::size_t> held{{fresh->peer(), 1}};
    for (const auto& s : open_) ++held[s->peer()];
    const auto rank = [&](const std::shared_ptr<session>& s) {
      return std::make_pair(held[s->peer()], s->expendability());
    };
    auto victim = open_.begin();
    for (auto it = open_.begin(); it != open_.end(); ++it) {
      if (rank(*it) > rank(*victim)) victim = it;
    }
    (*victim)->close();
    open_.erase(victim);
  }
  open_.push_back(fresh);
  fresh->start();
}

void metrics_server::forget(const session* s) noexcept {
  std::erase_if(open_, [s](const auto& o) { return o.get() == s; });
}

void metrics_server::ask_health(std::function<void(shared_reply)> done) {
  health_->ask(std::move(done));
}

void metrics_server::ask_readiness(std::function<void(shared_reply)> done) {
  readiness_->ask(std::move(done));
}

void metrics_server::ask_metrics(std::function<void(shared_reply)> done) {
  if (latest_metrics_ && steady::now() - latest_metrics_->begun < metrics_reuse) {
    return done(latest_metrics_);
  }
  metrics_->ask([this, done = std::move(done)](shared_reply r) {
    if (!latest_metrics_ || r->begun > latest_metrics_->begun) latest_metrics_ = r;
    done(std::move(r));
  });
}

}  // namespace plughost::detail
