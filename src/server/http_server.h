// The network edge: an HTTP/1.1 server (Boost.Beast, C++20 coroutines, one
// I/O thread, no thread per connection and none blocked on a review). It
// parses requests, hands them to Api, parks held requests on timers that a
// review change cancels at once, and runs the deadline sweeper. It must
// never block the I/O thread on a human, and never let a body exceed the
// configured limit into memory.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "gateway/gateway.h"
#include "server/api.h"

namespace countersign::server {

class HttpServer {
 public:
  HttpServer(gateway::Gateway& gateway, Api& api);
  ~HttpServer();

  // Binds address:port (port 0 picks a free one) and serves until stop(),
  // SIGINT or SIGTERM. `on_listening` gets the bound port. Throws at
  // start-up if the address cannot be bound.
  void run(const std::string& address, int port, const std::function<void(int)>& on_listening);

  // Thread-safe: asks run() to return.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace countersign::server
