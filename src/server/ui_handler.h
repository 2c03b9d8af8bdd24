// The web UI's plain-HTTP side, with no networking library in sight:
// the embedded pages and assets under /ui/, API-key login, the session
// endpoint the page reads its CSRF token from, and logout. Api hands it every
// /ui request (Api::set_ui) and asks it to authenticate /v1 requests that
// carry the UI session cookie instead of an Authorization header. The live
// event stream (/ui/events) is a streaming route: see ui_web.h.
//
//   GET  /ui/, /ui/inbox, /ui/mine, /ui/audit, /ui/login, /ui/reviews/{id}
//                           the single page (index.html); the page routes itself
//   GET  /ui/assets/...     embedded CSS, JavaScript, icons
//   POST /ui/login          {"api_key": "..."} (application/json) -> session cookie
//   GET  /ui/session        who is signed in, and the session's CSRF token
//   POST /ui/logout         needs X-CSRF-Token; ends the session
#pragma once

#include <optional>
#include <string_view>

#include "gateway/gateway.h"
#include "server/api.h"
#include "server/ui_session.h"

namespace countersign::server {

// Sent with every /ui response: scripts, styles and connections only from
// this origin, no inline script or style, never framed.
inline constexpr std::string_view kUiContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

// Session options that fit the deployment (Secure cookies behind https).
UiSessionOptions ui_session_options(const config::Config& config);

class UiHandler {
 public:
  UiHandler(gateway::Gateway& gateway, UiSessionStore& sessions)
      : gateway_(gateway), sessions_(sessions) {}

  // "/ui" and everything under "/ui/".
  static bool owns(std::string_view path);

  ApiResponse handle(const ApiRequest& request);

  // For /v1: when the request has no Authorization header but carries the
  // UI session cookie, the session's identity (state-changing methods need
  // the CSRF token too); nullopt when the request is not a UI request.
  std::optional<Result<Identity>> authenticate(const ApiRequest& request);

  UiSessionStore& sessions() { return sessions_; }

 private:
  ApiResponse login(const ApiRequest& request);
  ApiResponse session(const ApiRequest& request);
  ApiResponse logout(const ApiRequest& request);
  ApiResponse page(const ApiRequest& request);

  gateway::Gateway& gateway_;
  UiSessionStore& sessions_;
};

}  // namespace countersign::server
