// The network edge: an HTTP/1.1 server (Boost.Beast, C++20 coroutines, one
// I/O thread, no thread per connection and none blocked on a review). It
// reads each request's header, hands connections on streaming routes to
// their door, and otherwise reads the body (up to the configured limit) and
// calls Api, parking held requests until their review changes. It also runs
// the deadline sweeper. It must never block the I/O thread on a human.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "gateway/gateway.h"
#include "server/api.h"

namespace countersign::doors {
class ReviewWaiters;
class StreamingRoute;
}  // namespace countersign::doors

namespace countersign::server {

class HttpServer {
 public:
  HttpServer(gateway::Gateway& gateway, Api& api);
  ~HttpServer();

  // Requests whose path starts with `path_prefix` (e.g. "/mcp/") go to
  // `route` with their body unread. Register before run().
  void add_route(std::string path_prefix, std::shared_ptr<doors::StreamingRoute> route);

  // Where doors park requests held on a review.
  doors::ReviewWaiters& waiters();

  // Binds address:port (port 0 picks a free one) and serves until stop(),
  // SIGINT or SIGTERM. `on_listening` gets the bound port. Throws at
  // start-up if the address cannot be bound.
  void run(const std::string& address, int port, const std::function<void(int)>& on_listening);

  // Thread-safe: asks run() to return.
  void stop();

  // Thread-safe: runs `task` on the I/O thread (the gateway's thread).
  void post(std::function<void()> task);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace countersign::server
