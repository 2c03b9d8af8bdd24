// Plugs the web UI into a running server: /ui pages and login through Api,
// cookie sessions for /v1, and the live event stream GET /ui/events
// (server-sent events: one `review` event, {"id", "state", "version"}, each
// time a review changes, so an open page refetches what it shows; a comment
// line every 15 s keeps proxies from closing the stream; an `session` event
// and the end of the stream when the session ends). Construct it after the
// HttpServer and before run(); it must outlive run().
#pragma once

#include <memory>

#include "core/clock.h"
#include "gateway/gateway.h"

namespace countersign::server {

class Api;
class HttpServer;

class WebUi {
 public:
  WebUi(gateway::Gateway& gateway, Api& api, HttpServer& server, const Clock& clock);
  ~WebUi();
  WebUi(const WebUi&) = delete;
  WebUi& operator=(const WebUi&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace countersign::server
