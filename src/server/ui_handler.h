// The web UI's plain-HTTP side, with no networking library in sight:
// the embedded pages and assets under /ui/, API-key login, sign-in through
// the identity provider (OIDC Authorization Code + PKCE, /auth/*), the
// session endpoint the page reads its CSRF token from, and logout. Api hands
// it every /ui and /auth request (Api::set_ui) and asks it to authenticate
// /v1 requests that carry the UI session cookie instead of an Authorization
// header. The live event stream (/ui/events) and the sign-in callback
// (/auth/callback, whose token request must not run on the I/O thread) are
// streaming routes: see ui_web.h.
//
//   GET  /ui/, /ui/inbox, /ui/mine, /ui/audit, /ui/login, /ui/reviews/{id}
//                           the single page (index.html); the page routes itself
//   GET  /ui/assets/...     embedded CSS, JavaScript, icons
//   GET  /ui/login-methods  {"api_key": true, "oidc": {"name", "login_url"} | null}
//   POST /ui/login          {"api_key": "..."} (application/json) -> session cookie
//   GET  /ui/session        who is signed in, and the session's CSRF token
//   POST /ui/logout         needs X-CSRF-Token; ends the session
//   GET  /auth/login?return_to=/ui/...   302 to the identity provider
//   GET  /auth/callback?code=&state=     begin_callback() + finish_callback()
//   POST /auth/logout       as /ui/logout
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/gateway.h"
#include "identity/browser_login.h"
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
  ~UiHandler();

  // "/ui", everything under "/ui/" and under "/auth/".
  static bool owns(std::string_view path);

  ApiResponse handle(const ApiRequest& request);

  // For /v1: when the request has no Authorization header but carries the
  // UI session cookie, the session's identity (state-changing methods need
  // the CSRF token too); nullopt when the request is not a UI request.
  std::optional<Result<Identity>> authenticate(const ApiRequest& request);

  UiSessionStore& sessions() { return sessions_; }

  // Browser sign-in (identity.oidc.login), or null when it is not
  // configured. Made on first use: its redirect URI is the public URL,
  // known once the listener is bound.
  identity::OidcLogin* oidc_login();

  // GET /auth/callback in two halves around the token request, which the
  // caller runs off the I/O thread (identity::http_fetch). begin_callback()
  // checks state and the browser binding and consumes the login; when it
  // gives no token_request, `response` is the answer (an error page).
  struct CallbackStart {
    std::optional<identity::HttpRequest> token_request;
    std::string state;
    ApiResponse response;
  };
  CallbackStart begin_callback(const ApiRequest& request);
  // Verifies the ID token (signature, iss, aud, azp, nonce, times), refuses
  // agents, starts the UI session and redirects to where the login began.
  ApiResponse finish_callback(const ApiRequest& request, const std::string& state,
                              const Result<identity::HttpResponse>& answer);

 private:
  ApiResponse auth_login(const ApiRequest& request);
  ApiResponse login_methods();
  ApiResponse login(const ApiRequest& request);
  ApiResponse session(const ApiRequest& request);
  ApiResponse logout(const ApiRequest& request);
  ApiResponse page(const ApiRequest& request);

  gateway::Gateway& gateway_;
  UiSessionStore& sessions_;
  std::mutex oidc_mutex_;
  std::unique_ptr<identity::OidcLogin> oidc_login_;
};

}  // namespace countersign::server
