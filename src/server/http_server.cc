#include "server/http_server.h"

#include "doors/route.h"
#include "identity/client_certificate.h"
#include "server/audit_api.h"

#include <sys/socket.h>

#include <chrono>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>

namespace countersign::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kHeaderTimeout = std::chrono::seconds(30);
constexpr auto kDeadlineSweep = std::chrono::milliseconds(250);

ApiRequest to_api_request(const http::request<http::string_body>& message,
                          const std::string& client_address) {
  ApiRequest request;
  request.method = std::string(message.method_string());
  request.authorization = std::string(message[http::field::authorization]);
  request.content_type = std::string(message[http::field::content_type]);
  request.cookie = std::string(message[http::field::cookie]);
  request.csrf_token = std::string(message["X-CSRF-Token"]);
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    request.headers[name] = std::string(field.value());  // a repeated header keeps its last value
  }
  request.body = message.body();
  request.client_address = client_address;
  auto target = boost::urls::parse_origin_form(message.target());
  if (target) {
    request.path = target->path();
    for (auto param : target->params()) request.query[param.key] = param.value;
  } else {
    request.path = "/";  // unparseable targets fall through to a 404
  }
  return request;
}

http::response<http::string_body> to_message(const ApiResponse& response, unsigned version,
                                             bool keep_alive) {
  http::response<http::string_body> message{static_cast<http::status>(response.status), version};
  message.set(http::field::server, "countersign");
  message.set(http::field::content_type, response.content_type);
  message.set(http::field::cache_control, "no-store");
  message.set("X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : response.headers) message.set(name, value);
  message.body() = response.body;
  message.keep_alive(keep_alive);
  message.prepare_payload();
  return message;
}

// TLS for the listener: certificate chain and key, TLS 1.2 or 1.3 at least,
// and client certificates checked against client_ca_file when set. Throws
// with a clear message when a file cannot be used.
asio::ssl::context make_tls_context(const config::TlsSettings& settings) {
  asio::ssl::context context(asio::ssl::context::tls_server);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(context.native_handle(),
                                settings.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  auto step = [](const std::string& what, auto&& action) {
    boost::system::error_code error;
    action(error);
    if (error) throw std::runtime_error(fmt::format("server.tls: {}: {}", what, error.message()));
  };
  step("cert_file " + settings.cert_file,
       [&](auto& error) { context.use_certificate_chain_file(settings.cert_file, error); });
  step("key_file " + settings.key_file, [&](auto& error) {
    context.use_private_key_file(settings.key_file, asio::ssl::context::pem, error);
  });
  if (SSL_CTX_check_private_key(context.native_handle()) != 1)
    throw std::runtime_error("server.tls: key_file does not match cert_file");
  if (!settings.client_ca_file.empty()) {
    step("client_ca_file " + settings.client_ca_file,
         [&](auto& error) { context.load_verify_file(settings.client_ca_file, error); });
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(context.native_handle(), names);
    context.set_verify_mode(asio::ssl::verify_peer | (settings.require_client_certificate
                                                          ? asio::ssl::verify_fail_if_no_peer_cert
                                                          : asio::ssl::verify_none));
    static const unsigned char kSessionContext[] = "countersign";
    SSL_CTX_set_session_id_context(context.native_handle(), kSessionContext,
                                   sizeof kSessionContext - 1);
  }
  return context;
}

}  // namespace

struct HttpServer::Impl {
  gateway::Gateway& gateway;
  Api& api;
  asio::io_context io{1};
  doors::ReviewWaiters waiters{io.get_executor()};
  std::vector<std::pair<std::string, std::shared_ptr<doors::StreamingRoute>>> routes;

  std::optional<asio::ssl::context> tls;  // server.tls, set up in run()

  Impl(gateway::Gateway& gateway, Api& api) : gateway(gateway), api(api) {}

  doors::StreamingRoute* route_for(std::string_view target) {
    for (auto& [prefix, route] : routes)
      if (target.starts_with(prefix)) return route.get();
    return nullptr;
  }

  // Runs a handler result to completion, parking while it holds.
  asio::awaitable<ApiResponse> complete(HandlerResult result) {
    while (result.hold) {
      Hold hold = std::move(*result.hold);
      bool woken = co_await waiters.wait(hold.review_id, hold.deadline - gateway.clock().now());
      result = hold.resume(!woken);
    }
    co_return std::move(result.response);
  }

  // Reads the body of a non-streaming request and answers it through Api.
  // Returns whether the connection may be kept alive.
  asio::awaitable<bool> serve_api(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                  doors::RequestHeader& header, const std::string& client_address,
                                  const std::optional<Identity>& peer = std::nullopt) {
    const std::size_t body_limit = gateway.config().max_body_bytes;
    // Beast checks a Content-Length against the limit only while parsing
    // the header, which ran unlimited; check it here before reading.
    const auto declared_length = header.content_length();
    http::request_parser<http::string_body> parser(std::move(header));
    parser.body_limit(body_limit);
    boost::system::error_code error;
    if (declared_length && *declared_length > body_limit) {
      error = http::error::body_limit;
    } else if (!parser.is_done()) {
      stream.expires_after(kHeaderTimeout);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(asio::use_awaitable, error));
    }
    if (error) {
      if (error != http::error::body_limit) co_return false;  // the client went away
      auto message = to_message(
          error_response({ErrorCode::too_large,
                          fmt::format("request body exceeds the limit of {} bytes", body_limit)}),
          11, false);
      co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, error));
      co_return false;
    }
    stream.expires_never();  // a held request may wait for minutes
    auto request = parser.release();
    const auto started = std::chrono::steady_clock::now();
    ApiRequest api_request = to_api_request(request, client_address);
    api_request.peer_identity = peer;
    HandlerResult result = api.handle(api_request);
    if (!result.hold) {
      api.request_metrics().observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
    ApiResponse response = co_await complete(std::move(result));
    const bool keep_alive = request.keep_alive();
    auto message = to_message(response, request.version(), keep_alive);
    stream.expires_after(kHeaderTimeout);
    co_await http::async_write(stream, message, asio::redirect_error(asio::use_awaitable, error));
    co_return !error && keep_alive;
  }

  // `client_address` and `peer` are given for connections that arrive through
  // the TLS terminator (serve_tls); otherwise the socket's peer is used.
  asio::awaitable<void> serve_connection(tcp::socket socket, std::string client_address = {},
                                         std::optional<Identity> peer = std::nullopt) {
    boost::system::error_code ignored;
    if (client_address.empty()) {
      auto endpoint = socket.remote_endpoint(ignored);
      if (!ignored) client_address = endpoint.address().to_string();
    }
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (bool keep_alive = true; keep_alive;) {
      doors::RequestHeader header;
      header.body_limit(boost::none);  // each route sets its own limit
      stream.expires_after(kHeaderTimeout);
      boost::system::error_code error;
      co_await http::async_read_header(stream, buffer, header,
                                       asio::redirect_error(asio::use_awaitable, error));
      if (error == http::error::end_of_stream || error == beast::error::timeout ||
          error == asio::error::connection_reset || error == asio::error::eof)
        break;
      if (error) {
        auto message = to_message(error_response({ErrorCode::invalid_argument,
                                                  "malformed HTTP request: " + error.message()}),
                                  11, false);
        stream.expires_after(kHeaderTimeout);
        co_await http::async_write(stream, message,
                                   asio::redirect_error(asio::use_awaitable, error));
        break;
      }
      if (auto* route = route_for(header.get().target())) {
        doors::Connection connection{stream, buffer, client_address, peer};
        keep_alive = co_await route->serve(connection, header);
      } else {
        keep_alive = co_await serve_api(stream, buffer, header, client_address, peer);
      }
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
    for (;;) {
      boost::system::error_code error;
      tcp::socket socket =
          co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, error));
      if (error == asio::error::operation_aborted) co_return;
      if (error) continue;  // e.g. EMFILE: keep serving the connections we have
      if (tls)
        asio::co_spawn(io, serve_tls(std::move(socket)), asio::detached);
      else
        asio::co_spawn(io, serve_connection(std::move(socket)), asio::detached);
    }
  }

  // TLS termination (server.tls). Doors and the API read and write a plain
  // beast::tcp_stream (doors::Connection), so a TLS connection is decrypted
  // here and relayed through a private socketpair whose other end is served
  // exactly like a plain TCP connection, with the real client address and
  // the verified client-certificate identity passed alongside. Nothing
  // listens in clear: the socketpair exists only inside this process.
  asio::awaitable<void> serve_tls(tcp::socket socket) {
    std::string client_address;
    boost::system::error_code error;
    auto endpoint = socket.remote_endpoint(error);
    if (!error) client_address = endpoint.address().to_string();
    beast::ssl_stream<beast::tcp_stream> secure(std::move(socket), *tls);
    beast::get_lowest_layer(secure).expires_after(kHeaderTimeout);
    co_await secure.async_handshake(asio::ssl::stream_base::server,
                                    asio::redirect_error(asio::use_awaitable, error));
    if (error) co_return;  // not TLS, old protocol version, refused client certificate, ...
    beast::get_lowest_layer(secure).expires_never();
    std::optional<Identity> peer;
    const auto& settings = gateway.config().tls;
    if (!settings.client_ca_file.empty() &&
        SSL_get_verify_result(secure.native_handle()) == X509_V_OK) {
      if (X509* certificate = SSL_get1_peer_certificate(secure.native_handle())) {
        auto identity = identity::identity_from_certificate(
            certificate, settings.client_subject_prefix, settings.client_groups);
        X509_free(certificate);
        if (identity) peer = std::move(*identity);
      }
    }
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) co_return;
    // Asio treats the socketpair ends as stream sockets; only read, write,
    // shutdown and close are used on them.
    tcp::socket inner(io), outer(io);
    inner.assign(tcp::v4(), fds[0], error);
    outer.assign(tcp::v4(), fds[1], error);
    asio::co_spawn(io, serve_connection(std::move(inner), client_address, std::move(peer)),
                   asio::detached);
    using namespace asio::experimental::awaitable_operators;
    co_await (relay_in(secure, outer) && relay_out(outer, secure));
  }

  // Client -> server: decrypted bytes to the served end.
  static asio::awaitable<void> relay_in(beast::ssl_stream<beast::tcp_stream>& secure,
                                        tcp::socket& outer) {
    std::array<char, 16 * 1024> data;
    boost::system::error_code error;
    for (;;) {
      std::size_t n = co_await secure.async_read_some(
          asio::buffer(data), asio::redirect_error(asio::use_awaitable, error));
      if (n > 0)
        co_await asio::async_write(outer, asio::buffer(data.data(), n),
                                   asio::redirect_error(asio::use_awaitable, error));
      if (error) break;
    }
    outer.shutdown(tcp::socket::shutdown_send, error);  // the served side sees end of stream
  }

  // Server -> client: answers encrypted to the client; when the served side
  // closes, close the TLS connection (close_notify, then the socket).
  static asio::awaitable<void> relay_out(tcp::socket& outer,
                                         beast::ssl_stream<beast::tcp_stream>& secure) {
    std::array<char, 16 * 1024> data;
    boost::system::error_code error;
    for (;;) {
      std::size_t n = co_await outer.async_read_some(
          asio::buffer(data), asio::redirect_error(asio::use_awaitable, error));
      if (n > 0) {
        boost::system::error_code write_error;
        co_await asio::async_write(secure, asio::buffer(data.data(), n),
                                   asio::redirect_error(asio::use_awaitable, write_error));
        if (write_error) break;
      }
      if (error) break;
    }
    beast::get_lowest_layer(secure).expires_after(std::chrono::seconds(5));
    co_await secure.async_shutdown(asio::redirect_error(asio::use_awaitable, error));
    beast::get_lowest_layer(secure).socket().close(error);  // ends relay_in's read
    outer.close(error);
  }

  // Escalation and expiry come from stored deadlines; checking them every
  // quarter second (and once at start) makes them survive restarts.
  asio::awaitable<void> sweep_deadlines() {
    asio::steady_timer timer(io);
    for (;;) {
      (void)gateway.apply_deadlines();
      (void)api.audit_log().checkpoint_if_due();  // every N events or T ms (audit.checkpoint_every)
      timer.expires_after(kDeadlineSweep);
      boost::system::error_code error;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, error));
      if (error == asio::error::operation_aborted && io.stopped()) co_return;
    }
  }
};

HttpServer::HttpServer(gateway::Gateway& gateway, Api& api)
    : impl_(std::make_unique<Impl>(gateway, api)) {}

HttpServer::~HttpServer() = default;

void HttpServer::add_route(std::string path_prefix, std::shared_ptr<doors::StreamingRoute> route) {
  impl_->routes.emplace_back(std::move(path_prefix), std::move(route));
}

doors::ReviewWaiters& HttpServer::waiters() { return impl_->waiters; }

void HttpServer::run(const std::string& address, int port,
                     const std::function<void(int)>& on_listening) {
  auto& io = impl_->io;
  if (const auto& settings = impl_->gateway.config().tls; settings.enabled())
    impl_->tls.emplace(make_tls_context(settings));
  impl_->gateway.set_review_listener(
      [this](const review::Review& review) { impl_->waiters.wake(review.id); });
  tcp::endpoint endpoint(asio::ip::make_address(address), static_cast<unsigned short>(port));
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) { io.stop(); });
  asio::co_spawn(io, impl_->accept_loop(acceptor), asio::detached);
  asio::co_spawn(io, impl_->sweep_deadlines(), asio::detached);
  // The doors' audit events are committed on this loop, a turn's worth at
  // a time: no hand-off to the store's thread and back per request.
  impl_->gateway.store().set_commit_scheduler(
      [&io](std::function<void()> flush) { asio::post(io, std::move(flush)); });
  on_listening(acceptor.local_endpoint().port());
  io.run();
  impl_->gateway.store().set_commit_scheduler(nullptr);
  impl_->gateway.set_review_listener(nullptr);
}

void HttpServer::stop() { impl_->io.stop(); }

void HttpServer::post(std::function<void()> task) { asio::post(impl_->io, std::move(task)); }

}  // namespace countersign::server
