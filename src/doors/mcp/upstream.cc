// Asio/Beast side of the MCP door's upstreams: the stdio process transport,
// the Streamable HTTP client transport and the mcp-stdio bridge.
#include "doors/mcp/upstream.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "doors/mcp/bridge.h"
#include "doors/mcp/jsonrpc.h"

extern char** environ;

namespace countersign::doors::mcp {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

void log_line(const std::string& name, std::string_view text) {
  if (text.size() > 2000) text = text.substr(0, 2000);
  std::cerr << fmt::format("countersign: mcp upstream '{}': {}\n", name, text) << std::flush;
}

// ---------------------------------------------------------------- stdio

class StdioTransport final : public UpstreamTransport {
 public:
  StdioTransport(asio::any_io_executor executor, std::string name, config::McpStdioUpstream spec,
                 std::size_t max_bytes)
      : executor_(std::move(executor)),
        name_(std::move(name)),
        spec_(std::move(spec)),
        max_bytes_(max_bytes),
        restart_timer_(executor_) {}

  ~StdioTransport() override { stop(); }

  void start() override {
    stopped_ = false;
    spawn();
  }

  void send(const boost::json::object& message) override {
    if (!process_ || process_->exited) return;
    process_->writes.push_back(boost::json::serialize(message) + "\n");
    if (!process_->writing) write_next(process_);
  }

  void stop() override {
    stopped_ = true;
    restart_timer_.cancel();
    if (process_) terminate(process_, "stopped");
    process_.reset();
  }

 private:
  struct Process {
    explicit Process(asio::any_io_executor executor) : in(executor), out(executor), err(executor) {}
    pid_t pid = -1;
    asio::posix::stream_descriptor in, out, err;
    std::string out_buffer, err_buffer;
    std::deque<std::string> writes;
    bool writing = false;
    bool exited = false;
    bool err_done = false;
    std::array<char, 65536> out_chunk{}, err_chunk{};
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  };

  void spawn() {
    // Resolve secrets at each spawn, so a rotated secret is picked up.
    std::vector<std::string> environment;
    for (const auto& name : spec_.inherit_env)
      if (const char* value = std::getenv(name.c_str())) environment.push_back(name + "=" + value);
    for (const auto& [name, reference] : spec_.env) {
      auto value = config::resolve_secret(reference);
      if (!value) return fail_start(fmt::format("env {}: {}", name, value.error().message));
      environment.push_back(name + "=" + *value);
    }
    int in_pipe[2], out_pipe[2], err_pipe[2];
    if (pipe2(in_pipe, O_CLOEXEC) != 0) return fail_start("pipe failed");
    if (pipe2(out_pipe, O_CLOEXEC) != 0) {
      close(in_pipe[0]), close(in_pipe[1]);
      return fail_start("pipe failed");
    }
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
      close(in_pipe[0]), close(in_pipe[1]), close(out_pipe[0]), close(out_pipe[1]);
      return fail_start("pipe failed");
    }
    std::vector<std::string> args = {spec_.command};
    args.insert(args.end(), spec_.args.begin(), spec_.args.end());
    std::vector<char*> argv, envp;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    for (auto& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
      // The child: its own process group (so a stop reaches grandchildren),
      // dies with the gateway, pipes on 0/1/2.
      setpgid(0, 0);
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      dup2(in_pipe[0], 0);
      dup2(out_pipe[1], 1);
      dup2(err_pipe[1], 2);
      if (!spec_.cwd.empty() && chdir(spec_.cwd.c_str()) != 0) {
        const char message[] = "countersign: cannot change to the configured cwd\n";
        (void)!write(2, message, sizeof message - 1);
        _exit(127);
      }
      signal(SIGPIPE, SIG_DFL);
      execvpe(argv[0], argv.data(), envp.data());
      const char message[] = "countersign: cannot execute the configured command\n";
      (void)!write(2, message, sizeof message - 1);
      _exit(127);
    }
    close(in_pipe[0]), close(out_pipe[1]), close(err_pipe[1]);
    if (pid < 0) {
      close(in_pipe[1]), close(out_pipe[0]), close(err_pipe[0]);
      return fail_start("fork failed");
    }
    auto process = std::make_shared<Process>(executor_);
    process->pid = pid;
    process->in.assign(in_pipe[1]);
    process->out.assign(out_pipe[0]);
    process->err.assign(err_pipe[0]);
    process->in.non_blocking(true);
    process->out.non_blocking(true);
    process->err.non_blocking(true);
    process_ = process;
    read_out(process);
    read_err(process);
    asio::post(executor_, [this, process, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.expired() && process_ == process && !process->exited && on_up) on_up();
    });
  }

  void fail_start(const std::string& why) {
    log_line(name_, "cannot start: " + why);
    asio::post(executor_, [this, why, alive = std::weak_ptr<bool>(alive_)] {
      if (alive.expired()) return;
      if (on_down) on_down(why);
      schedule_restart(false);
    });
  }

  void schedule_restart(bool ran_long) {
    if (stopped_) return;
    backoff_ = ran_long ? std::chrono::milliseconds(250)
                        : std::min(std::chrono::milliseconds(30'000),
                                   std::max(std::chrono::milliseconds(500), backoff_ * 2));
    restart_timer_.expires_after(backoff_);
    restart_timer_.async_wait(
        [this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code error) {
          if (error || alive.expired() || stopped_) return;
          spawn();
        });
  }

  void read_out(std::shared_ptr<Process> process) {
    process->out.async_read_some(
        asio::buffer(process->out_chunk), [this, process, alive = std::weak_ptr<bool>(alive_)](
                                              boost::system::error_code error, std::size_t size) {
          if (alive.expired() || process->exited) return;
          if (error) return exited(process);
          process->out_buffer.append(process->out_chunk.data(), size);
          for (auto& line : take_lines(process->out_buffer)) {
            boost::system::error_code parse_error;
            auto value = boost::json::parse(line, parse_error);
            if (parse_error || !value.is_object()) {
              log_line(name_, "ignoring a line that is not a JSON-RPC message on stdout");
              continue;
            }
            if (on_message) on_message(std::move(value.get_object()));
            if (alive.expired() || process->exited) return;
          }
          if (process->out_buffer.size() > max_bytes_) {
            log_line(name_, "a message exceeds max_message_bytes; restarting the server");
            return exited(process);
          }
          read_out(process);
        });
  }

  void read_err(std::shared_ptr<Process> process) {
    process->err.async_read_some(asio::buffer(process->err_chunk),
                                 [this, process, alive = std::weak_ptr<bool>(alive_)](
                                     boost::system::error_code error, std::size_t size) {
                                   if (alive.expired() || error) return;
                                   process->err_buffer.append(process->err_chunk.data(), size);
                                   for (auto& line : take_lines(process->err_buffer))
                                     log_line(name_, line);
                                   if (process->err_buffer.size() > 65536)
                                     process->err_buffer.clear();
                                   read_err(process);
                                 });
  }

  void write_next(std::shared_ptr<Process> process) {
    if (process->writes.empty() || process->exited) {
      process->writing = false;
      return;
    }
    process->writing = true;
    asio::async_write(process->in, asio::buffer(process->writes.front()),
                      [this, process, alive = std::weak_ptr<bool>(alive_)](
                          boost::system::error_code error, std::size_t) {
                        if (alive.expired() || process->exited) return;
                        if (error) return exited(process);
                        process->writes.pop_front();
                        write_next(process);
                      });
  }

  // Ends a process: close pipes, signal its group, reap it. Returns the status text.
  static std::string terminate(const std::shared_ptr<Process>& process, const char* why) {
    process->exited = true;
    boost::system::error_code ignored;
    process->in.close(ignored);
    process->out.close(ignored);
    process->err.close(ignored);
    int status = 0;
    pid_t done = waitpid(process->pid, &status, WNOHANG);
    if (done == 0) {
      kill(-process->pid, SIGTERM);
      for (int i = 0; i < 40 && done == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
        done = waitpid(process->pid, &status, WNOHANG);
      }
      if (done == 0) {
        kill(-process->pid, SIGKILL);
        done = waitpid(process->pid, &status, 0);
      }
    } else {
      kill(-process->pid, SIGTERM);  // grandchildren left behind
    }
    if (done <= 0) return why;
    if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
    return why;
  }

  void exited(const std::shared_ptr<Process>& process) {
    if (process->exited) return;
    const bool ran_long =
        std::chrono::steady_clock::now() - process->started > std::chrono::seconds(30);
    std::string status = terminate(process, "ended");
    if (process_ == process) process_.reset();
    log_line(name_, "the server " + status + (stopped_ ? "" : "; restarting"));
    if (on_down) on_down("the server " + status);
    schedule_restart(ran_long);
  }

  asio::any_io_executor executor_;
  std::string name_;
  config::McpStdioUpstream spec_;
  std::size_t max_bytes_;
  asio::steady_timer restart_timer_;
  std::chrono::milliseconds backoff_{250};
  std::shared_ptr<Process> process_;
  bool stopped_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// ---------------------------------------------------------------- HTTP

class HttpTransport final : public UpstreamTransport {
 public:
  HttpTransport(asio::any_io_executor executor, std::string name, std::string url,
                std::map<std::string, std::string> headers, std::size_t max_bytes)
      : executor_(std::move(executor)),
        name_(std::move(name)),
        url_(std::move(url)),
        headers_(std::move(headers)),
        max_bytes_(max_bytes) {
    auto parsed = boost::urls::parse_uri(url_);
    if (parsed && parsed->scheme() == "http" && !parsed->host().empty()) {
      host_ = parsed->host();
      port_ = parsed->has_port() ? std::string(parsed->port()) : "80";
      target_ = std::string(parsed->encoded_path());
      if (target_.empty()) target_ = "/";
      if (parsed->has_query()) target_ += "?" + std::string(parsed->encoded_query());
      valid_ = true;
    }
  }

  ~HttpTransport() override {
    *alive_ = false;  // coroutines still suspended on this transport see it gone
    stop();
  }

  bool valid() const { return valid_; }
  std::size_t busy() const { return in_flight_; }

  void start() override {
    stopped_ = false;
    asio::post(executor_, [this, alive = std::weak_ptr<bool>(alive_)] {
      if (!alive.expired() && on_up) on_up();
    });
  }

  void send(const boost::json::object& message) override {
    ++in_flight_;
    asio::co_spawn(executor_, post(message, alive_), asio::detached);
  }

  void stop() override {
    stopped_ = true;
    idle_.clear();
  }

 private:
  using Stream = std::unique_ptr<beast::tcp_stream>;

  // A kept-alive connection from the pool when there is one (`reused`), else
  // a new one.
  asio::awaitable<Stream> connect(bool* reused = nullptr, bool fresh = false) {
    if (reused != nullptr) *reused = false;
    if (!idle_.empty() && !fresh) {
      if (reused != nullptr) *reused = true;
      Stream stream = std::move(idle_.back());
      idle_.pop_back();
      co_return stream;
    }
    tcp::resolver resolver(executor_);
    auto endpoints = co_await resolver.async_resolve(host_, port_, asio::use_awaitable);
    auto stream = std::make_unique<beast::tcp_stream>(executor_);
    stream->expires_after(std::chrono::seconds(10));
    co_await stream->async_connect(endpoints, asio::use_awaitable);
    stream->socket().set_option(tcp::no_delay(true));
    co_return stream;
  }

  http::request<http::string_body> make_request(http::verb verb, std::string body) {
    http::request<http::string_body> request{verb, target_, 11};
    request.set(http::field::host, host_ + ":" + port_);
    request.set(http::field::user_agent, "countersign");
    request.set(http::field::accept, verb == http::verb::get
                                         ? "text/event-stream"
                                         : "application/json, text/event-stream");
    if (!session_id_.empty()) request.set("Mcp-Session-Id", session_id_);
    if (!protocol_version_.empty()) request.set("MCP-Protocol-Version", protocol_version_);
    for (const auto& [name, value] : headers_) request.set(name, value);
    if (verb == http::verb::post) request.set(http::field::content_type, "application/json");
    request.body() = std::move(body);
    request.keep_alive(true);
    request.prepare_payload();
    return request;
  }

  // Delivers one message from the server; sniffs initialize answers.
  void deliver(boost::json::object message, const std::string& initialize_id) {
    if (!initialize_id.empty()) {
      auto* id = message.if_contains("id");
      if (id && id->is_string() && id->get_string() == initialize_id) {
        if (auto* result = message.if_contains("result"); result && result->is_object())
          if (auto* version = result->get_object().if_contains("protocolVersion");
              version && version->is_string())
            protocol_version_ = std::string(version->get_string());
      }
    }
    if (on_message) on_message(std::move(message));
  }

  asio::awaitable<void> post(boost::json::object message, std::shared_ptr<bool> alive) {
    struct Done {
      HttpTransport* self;
      std::shared_ptr<bool> alive;
      ~Done() {
        if (alive.use_count() > 0 && *alive) --self->in_flight_;
      }
    } done{this, alive};
    Message kind = classify(message);
    const bool is_request = kind.kind == MessageKind::request;
    std::string request_id =
        is_request ? (kind.id.is_string() ? std::string(kind.id.get_string()) : id_key(kind.id))
                   : "";
    const std::string initialize_id = is_request && kind.method == "initialize" ? request_id : "";
    bool answered = false;
    std::string failure;
    unsigned status = 0;
    try {
      if (!valid_) throw std::runtime_error("bad upstream URL " + url_);
      const std::string serialized = boost::json::serialize(message);
      Stream stream;
      beast::flat_buffer buffer;
      std::optional<http::response_parser<http::buffer_body>> reading;
      // A pooled connection the server has meanwhile closed fails before any
      // answer arrives: the message is sent again on a new connection.
      for (bool fresh = false;; fresh = true) {
        bool reused = false;
        stream = co_await connect(&reused, fresh);
        if (alive.use_count() == 0 || !*alive) co_return;
        auto request = make_request(http::verb::post, serialized);
        stream->expires_after(std::chrono::seconds(30));
        boost::system::error_code error;
        co_await http::async_write(*stream, request,
                                   asio::redirect_error(asio::use_awaitable, error));
        buffer.clear();
        reading.emplace();
        reading->body_limit(boost::none);
        if (!error) {
          stream->expires_never();
          co_await http::async_read_header(*stream, buffer, *reading,
                                           asio::redirect_error(asio::use_awaitable, error));
        }
        if (!*alive) co_return;
        if (!error) break;
        const bool closed_by_server =
            error == http::error::end_of_stream || error == asio::error::eof ||
            error == asio::error::connection_reset || error == asio::error::broken_pipe;
        if (!reused || !closed_by_server) throw boost::system::system_error(error);
      }
      auto& parser = *reading;
      auto& header = parser.get();
      status = header.result_int();
      if (auto session = header["Mcp-Session-Id"]; !session.empty() && session_id_.empty())
        session_id_ = std::string(session);
      const std::string content_type(header[http::field::content_type]);
      const bool sse = content_type.find("text/event-stream") != std::string::npos;
      std::string body;
      SseParser events;
      std::array<char, 16384> chunk{};
      while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        boost::system::error_code error;
        co_await http::async_read(*stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, error));
        if (error && error != http::error::need_buffer) throw boost::system::system_error(error);
        if (!*alive) co_return;
        std::size_t size = chunk.size() - parser.get().body().size;
        if (sse) {
          for (auto& event : events.feed(std::string_view(chunk.data(), size))) {
            if (event.data.empty()) continue;
            boost::system::error_code parse_error;
            auto value = boost::json::parse(event.data, parse_error);
            if (parse_error || !value.is_object()) continue;
            Message got = classify(value);
            if (got.kind == MessageKind::response && is_request && !got.id.is_null() &&
                (got.id.is_string() ? std::string(got.id.get_string()) : id_key(got.id)) ==
                    request_id)
              answered = true;
            deliver(std::move(value.get_object()), initialize_id);
            if (!*alive) co_return;
          }
        } else {
          body.append(chunk.data(), size);
          if (body.size() > max_bytes_)
            throw std::runtime_error("the answer exceeds max_message_bytes");
        }
      }
      if (!sse && !body.empty()) {
        boost::system::error_code parse_error;
        auto value = boost::json::parse(body, parse_error);
        std::vector<boost::json::value> messages;
        if (!parse_error && value.is_object()) messages.push_back(std::move(value));
        if (!parse_error && value.is_array())
          for (auto& item : value.get_array()) messages.push_back(std::move(item));
        for (auto& item : messages) {
          if (!item.is_object()) continue;
          Message got = classify(item);
          if (got.kind == MessageKind::response && is_request) {
            // An error answer without our id (e.g. HTTP 400 with id null) still answers it.
            if (got.id.is_null()) item.get_object()["id"] = kind.id;
            answered = true;
          }
          deliver(std::move(item.get_object()), initialize_id);
          if (!*alive) co_return;
        }
      }
      if (status == 404 && !session_id_.empty() && kind.method != "initialize") {
        session_id_.clear();
        protocol_version_.clear();
        failure = "the server ended the session";
        if (on_down) on_down(failure);
        if (*alive && on_up) on_up();
      } else if (status >= 300 && !answered) {
        failure = fmt::format("the server answered HTTP {}", status);
      }
      if (parser.keep_alive() && status < 300 && idle_.size() < 16)
        idle_.push_back(std::move(stream));
      if (!initialize_id.empty() && !session_id_.empty() && !listening_) {
        listening_ = true;
        asio::co_spawn(executor_, listen(alive), asio::detached);
      }
    } catch (const boost::system::system_error& error) {
      failure = error.code().message();  // what() also names Beast's source lines
    } catch (const std::exception& error) {
      failure = error.what();
    }
    if (!*alive) co_return;
    if (is_request && !answered) {
      if (failure.empty()) failure = "the server closed the stream without answering";
      deliver(make_error(kind.id, jsonrpc_code::upstream_unavailable,
                         fmt::format("upstream '{}' is unavailable: {}", name_, failure)),
              "");
    } else if (!failure.empty() && !is_request) {
      log_line(name_, fmt::format("{} not delivered: {}",
                                  kind.method.empty() ? "a message" : kind.method, failure));
    }
  }

  // The GET stream for server-initiated messages, while the session lasts.
  asio::awaitable<void> listen(std::shared_ptr<bool> alive) {
    asio::steady_timer pause(executor_);
    for (int failures = 0; failures < 5 && *alive && !stopped_ && !session_id_.empty();) {
      try {
        auto stream = std::make_unique<beast::tcp_stream>(executor_);
        tcp::resolver resolver(executor_);
        auto endpoints = co_await resolver.async_resolve(host_, port_, asio::use_awaitable);
        co_await stream->async_connect(endpoints, asio::use_awaitable);
        auto request = make_request(http::verb::get, "");
        co_await http::async_write(*stream, request, asio::use_awaitable);
        beast::flat_buffer buffer;
        http::response_parser<http::buffer_body> parser;
        parser.body_limit(boost::none);
        co_await http::async_read_header(*stream, buffer, parser, asio::use_awaitable);
        if (parser.get().result_int() != 200) co_return;  // 405: no stream offered
        failures = 0;
        SseParser events;
        std::array<char, 16384> chunk{};
        while (!parser.is_done() && *alive) {
          parser.get().body().data = chunk.data();
          parser.get().body().size = chunk.size();
          boost::system::error_code error;
          co_await http::async_read(*stream, buffer, parser,
                                    asio::redirect_error(asio::use_awaitable, error));
          if (error && error != http::error::need_buffer) break;
          if (!*alive) co_return;
          for (auto& event : events.feed(
                   std::string_view(chunk.data(), chunk.size() - parser.get().body().size))) {
            boost::system::error_code parse_error;
            auto value = boost::json::parse(event.data, parse_error);
            if (!parse_error && value.is_object()) deliver(std::move(value.get_object()), "");
            if (!*alive) co_return;
          }
        }
      } catch (const std::exception&) {
        ++failures;
      }
      if (!*alive) co_return;
      pause.expires_after(std::chrono::seconds(1));
      boost::system::error_code ignored;
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
    if (*alive) listening_ = false;
  }

  asio::any_io_executor executor_;
  std::string name_;
  std::string url_;
  std::map<std::string, std::string> headers_;
  std::size_t max_bytes_;
  std::string host_, port_, target_;
  bool valid_ = false;
  bool stopped_ = false;
  bool listening_ = false;
  std::string session_id_;
  std::string protocol_version_;
  std::vector<Stream> idle_;
  std::size_t in_flight_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

 public:
  void shutdown() { *alive_ = false; }
};

}  // namespace

std::unique_ptr<UpstreamTransport> make_stdio_transport(asio::any_io_executor executor,
                                                        std::string name,
                                                        config::McpStdioUpstream spec,
                                                        std::size_t max_message_bytes) {
  ::signal(SIGPIPE, SIG_IGN);  // a dead child's pipe must not kill the gateway
  return std::make_unique<StdioTransport>(std::move(executor), std::move(name), std::move(spec),
                                          max_message_bytes);
}

std::unique_ptr<UpstreamTransport> make_http_transport(asio::any_io_executor executor,
                                                       std::string name, std::string url,
                                                       std::map<std::string, std::string> headers,
                                                       std::size_t max_message_bytes) {
  return std::make_unique<HttpTransport>(std::move(executor), std::move(name), std::move(url),
                                         std::move(headers), max_message_bytes);
}

// ---------------------------------------------------------------- bridge

int run_stdio_bridge(const std::string& url, const std::string& token) {
  ::signal(SIGPIPE, SIG_IGN);
  asio::io_context io{1};
  std::map<std::string, std::string> headers;
  if (!token.empty()) headers["Authorization"] = "Bearer " + token;
  HttpTransport transport(io.get_executor(), "bridge", url, headers, 64 << 20);
  if (!transport.valid()) {
    std::cerr << fmt::format(
        "countersign: --url must look like http://HOST:PORT/mcp/TARGET, got '{}'\n", url);
    return 2;
  }
  auto write_line = [](const boost::json::object& message) {
    std::string line = boost::json::serialize(message) + "\n";
    std::size_t written = 0;
    while (written < line.size()) {
      ssize_t n = ::write(1, line.data() + written, line.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      written += static_cast<std::size_t>(n);
    }
  };
  transport.on_message = [&](boost::json::object message) { write_line(message); };
  transport.on_down = [](const std::string& why) {
    std::cerr << "countersign: mcp-stdio: " << why << "\n";
  };
  transport.on_up = [] {};
  asio::posix::stream_descriptor input(io, ::dup(0));
  std::string pending;
  std::array<char, 65536> chunk{};
  bool input_done = false;
  asio::steady_timer drain(io);
  std::function<void()> wait_drain = [&] {
    if (transport.busy() == 0) return io.stop();
    drain.expires_after(std::chrono::milliseconds(50));
    drain.async_wait([&](boost::system::error_code) { wait_drain(); });
  };
  std::function<void()> read_input = [&] {
    input.async_read_some(
        asio::buffer(chunk), [&](boost::system::error_code error, std::size_t size) {
          if (error) {
            input_done = true;
            return wait_drain();
          }
          pending.append(chunk.data(), size);
          for (auto& line : take_lines(pending)) {
            boost::system::error_code parse_error;
            auto value = boost::json::parse(line, parse_error);
            if (parse_error || !value.is_object()) {
              write_line(make_error(nullptr, jsonrpc_code::parse_error,
                                    "Parse error: each line must be one JSON-RPC message"));
              continue;
            }
            transport.send(value.get_object());
          }
          read_input();
        });
  };
  read_input();
  transport.start();
  io.run();
  transport.shutdown();
  (void)input_done;
  return 0;
}

}  // namespace countersign::doors::mcp
