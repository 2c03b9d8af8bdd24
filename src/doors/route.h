// How a door that needs the raw HTTP connection plugs into the server:
// proxying bodies as streams, server-sent events, protocol upgrades. The
// server reads a request's header, and if its path belongs to a streaming
// route, hands the connection over before reading the body.
//
// This header includes Beast and Asio. Include it only from the few
// translation units that serve such routes (each costs ~30 s and ~1 GB to
// compile); everything else talks to doors through Beast-free headers.
#pragma once

#include <string>
#include <unordered_map>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <optional>

#include "core/clock.h"
#include "core/identity.h"

namespace countersign::doors {

// Requests held while a review is pending park here. A change to the review
// (vote, expiry, ...) wakes every request held on it at once; nothing polls.
// Use from the server's I/O thread only.
class ReviewWaiters {
 public:
  explicit ReviewWaiters(boost::asio::any_io_executor executor) : executor_(std::move(executor)) {}

  // Waits until review `review_id` changes (returns true) or `timeout`
  // milliseconds pass (returns false).
  boost::asio::awaitable<bool> wait(const std::string& review_id, Millis timeout);

  void wake(const std::string& review_id);

 private:
  boost::asio::any_io_executor executor_;
  std::unordered_multimap<std::string, boost::asio::steady_timer*> timers_;
};

struct Connection {
  boost::beast::tcp_stream& stream;
  boost::beast::flat_buffer& buffer;
  std::string client_address;
  // The identity of a verified TLS client certificate (server.tls with
  // client_ca_file), for Gateway::authenticate(header, address, peer).
  std::optional<Identity> peer_identity;
};

// A request whose header has been read and whose body has not.
using RequestHeader = boost::beast::http::request_parser<boost::beast::http::empty_body>;

class StreamingRoute {
 public:
  virtual ~StreamingRoute() = default;

  // Serves one request. Returns whether the connection may carry another.
  virtual boost::asio::awaitable<bool> serve(Connection& connection, RequestHeader& header) = 0;
};

}  // namespace countersign::doors
