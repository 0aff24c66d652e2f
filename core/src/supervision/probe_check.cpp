// A probe's connection (Boost.Beast for HTTP) or its command's end, with the probe's timeout.
#include "supervision/probe_check.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>

namespace plughost::detail {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string seconds_text(std::chrono::nanoseconds d) {
  return fmt::format("{:g}s", std::chrono::duration<double>(d).count());
}

// A tcp or http probe: resolve, connect, (http) ask and read the answer's header; the deadline
// cancels what is under way.
class connection final : public probe_check, public std::enable_shared_from_this<connection> {
 public:
  connection(const asio::any_io_executor& ex, const probe_spec& spec, outcome done)
      : spec_(spec), done_(std::move(done)), resolver_(ex), stream_(ex), deadline_(ex) {}

  void begin() {
    deadline_.expires_after(spec_.timeout);
    deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->finish(false, "no answer within " + seconds_text(self->spec_.timeout));
    });
    resolver_.async_resolve(
        spec_.host, std::to_string(spec_.port),
        [self = shared_from_this()](const boost::system::error_code& ec,
                                    const tcp::resolver::results_type& found) {
          if (!self->done_) return;  // over (its deadline passed, or it was abandoned)
          if (ec)
            return self->finish(
                false, fmt::format("cannot resolve {}: {}", self->spec_.host, ec.message()));
          self->stream_.async_connect(found, [self](const boost::system::error_code& e,
                                                    const tcp::endpoint&) { self->connected(e); });
        });
  }

  void abandon() override {
    done_ = nullptr;
    stop();
  }

 private:
  void connected(const boost::system::error_code& ec) {
    if (!done_) return;
    if (ec)
      return finish(false, fmt::format("cannot connect to {}: {}", spec_.target, ec.message()));
    if (spec_.how == probe_spec::method::tcp) return finish(true, {});
    request_.method(http::verb::get);
    request_.target(spec_.path);
    request_.version(11);
    // With its port unless 80 (RFC 9112: a virtual host may need it); a v6 address in brackets.
    const auto host =
        spec_.host.find(':') != std::string::npos ? "[" + spec_.host + "]" : spec_.host;
    request_.set(http::field::host,
                 spec_.port == 80 ? host : host + ":" + std::to_string(spec_.port));
    request_.set(http::field::user_agent, "plughost-probe");
    request_.set(http::field::connection, "close");
    parser_.header_limit(16 * 1024);
    http::async_write(stream_, request_,
                      [self = shared_from_this()](const boost::system::error_code& e, std::size_t) {
                        if (e) return self->finish(false, "cannot ask: " + e.message());
                        http::async_read_header(self->stream_, self->buffer_, self->parser_,
                                                [self](const boost::system::error_code& r,
                                                       std::size_t) { self->answered(r); });
                      });
  }

  void answered(const boost::system::error_code& ec) {
    if (ec) return finish(false, "no answer: " + ec.message());
    const auto status = parser_.get().result_int();
    if (status >= 200 && status < 400) return finish(true, {});
    finish(false, fmt::format("answered {}", status));
  }

  void finish(bool passed, std::string message) {
    auto done = std::move(done_);
    done_ = nullptr;
    stop();
    if (done) done(passed, std::move(message));
  }

  void stop() {
    boost::system::error_code ec;
    deadline_.cancel();
    resolver_.cancel();
    stream_.socket().close(ec);
  }

  probe_spec spec_;
  outcome done_;
  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  asio::steady_timer deadline_;
  http::request<http::empty_body> request_;
  http::response_parser<http::empty_body> parser_;
  beast::flat_buffer buffer_;
};

// An exec probe's process: its pidfd turns readable when it exits; at the deadline its group
// gets SIGKILL (and the pidfd then says so).
class command final : public probe_check, public std::enable_shared_from_this<command> {
 public:
  command(const asio::any_io_executor& ex, const probe_spec& spec, const spawned& process,
          std::function<int(pid_t)> exit_of, outcome done)
      : spec_(spec),
        pid_(process.pid),
        pipes_{process.out_fd, process.err_fd},
        exit_of_(std::move(exit_of)),
        done_(std::move(done)),
        pidfd_(ex),
        deadline_(ex) {}

  void begin() {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (fd < 0) {  // gone and reaped already, or no pidfd: its status is what the reaper has
      return finish(exit_of_(pid_));
    }
    pidfd_.assign(fd);
    deadline_.expires_after(spec_.timeout);
    deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->timed_out_) return;
      self->timed_out_ = true;
      ::kill(-self->pid_, SIGKILL);
    });
    pidfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [self = shared_from_this()](const boost::system::error_code& ec) {
                        if (!ec) self->finish(self->exit_of_(self->pid_));
                      });
  }

  // Its group is killed, and its end is still waited for (the wait holds this object): it is
  // reaped then, with no outcome said.
  void abandon() override {
    done_ = nullptr;
    ::kill(-pid_, SIGKILL);
  }

 private:
  void finish(int status) {
    if (reaped_) return;
    reaped_ = true;
    auto done = std::move(done_);
    done_ = nullptr;
    ::kill(-pid_, SIGKILL);  // what it left in its group goes with it
    stop();
    if (!done) return;
    if (timed_out_) return done(false, "no end within " + seconds_text(spec_.timeout));
    if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) return done(true, {});
    if (status >= 0 && WIFEXITED(status)) {
      return done(false, fmt::format("exit code {}", WEXITSTATUS(status)));
    }
    if (status >= 0 && WIFSIGNALED(status)) {
      return done(false, fmt::format("killed by signal {}", WTERMSIG(status)));
    }
    done(false, "its end was not seen");
  }

  void stop() {
    boost::system::error_code ec;
    deadline_.cancel();
    pidfd_.close(ec);
    for (int& fd : pipes_) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }

  probe_spec spec_;
  pid_t pid_;
  int pipes_[2];
  std::function<int(pid_t)> exit_of_;
  outcome done_;
  asio::posix::stream_descriptor pidfd_;
  asio::steady_timer deadline_;
  bool timed_out_ = false;
  bool reaped_ = false;
};

}  // namespace

std::shared_ptr<probe_check> probe_check::connect(const asio::any_io_executor& executor,
                                                  const probe_spec& spec, outcome done) {
  auto c = std::make_shared<connection>(executor, spec, std::move(done));
  c->begin();
  return c;
}

std::shared_ptr<probe_check> probe_check::wait_for(const asio::any_io_executor& executor,
                                                   const probe_spec& spec, const spawned& process,
                                                   std::function<int(pid_t)> exit_of,
                                                   outcome done) {
  auto c = std::make_shared<command>(executor, spec, process, std::move(exit_of), std::move(done));
  c->begin();
  return c;
}

}  // namespace plughost::detail
