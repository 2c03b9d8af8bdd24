// Signing people in through the browser: OpenID Connect Authorization Code
// flow with PKCE (RFC 7636, S256), state and nonce. Beast-free: the web UI
// (server::UiHandler) maps the routes onto it and runs the one network call,
// the token request, off the server's I/O thread.
//
//   GET /auth/login?return_to=/ui/reviews/rv_1
//       begin()  -> 302 to the IdP + Set-Cookie binding this browser
//   GET /auth/callback?code=...&state=...
//       callback() -> the token request to run (blocking; worker thread)
//       finish()   -> the Identity; create the UI session
//                     (server::UiSessionStore::create(identity, "oidc")),
//                     clear the binding cookie, 302 to return_to
//   POST /auth/logout  -> destroy the UI session (logout_url() names the
//                         IdP's end-session URL for RP-initiated logout)
//
// Each login in progress is kept server-side (PKCE verifier, nonce, where to
// return) under its random `state`, for `login_timeout`, and can complete
// only once, only in the browser that started it (a random value in an
// HttpOnly, SameSite=Lax cookie whose hash the login holds): a callback URL
// replayed, or pushed into another browser (login CSRF), fails. The ID token
// must verify against the issuer's keys, carry aud = client_id (azp when
// several audiences), the login's nonce, and valid exp/nbf/iat. People who
// sign in this way are `human` unless the issuer's claims mapping says
// otherwise (kind claim or clients). Thread-safe.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/error.h"
#include "core/identity.h"
#include "identity/http_fetch.h"
#include "identity/oidc.h"

namespace countersign::identity {

struct LoginStart {
  std::string authorization_url;  // send the browser here (302)
  std::string set_cookie;         // the browser-binding cookie
};

struct LoginResult {
  Identity identity;
  std::string return_to;  // a local path
  std::string id_token;   // for logout (id_token_hint); never shown to the page
};

class OidcLogin {
 public:
  // `redirect_uri` is the absolute URL of the callback route as registered
  // with the IdP (public_url + "/auth/callback").
  OidcLogin(OidcAuthenticator& verifier, std::string issuer_name, BrowserLoginSettings settings,
            std::string redirect_uri, bool secure_cookies, const Clock& clock);

  // A local path to come back to; anything else (absolute URLs, //host,
  // backslashes) becomes settings.landing_path.
  Result<LoginStart> begin(std::string_view return_to);

  // The callback's query (code, state, or error/error_description) and the
  // browser's Cookie header. Returns the token request to run; the login is
  // consumed (a second callback with the same state fails).
  Result<HttpRequest> callback(const std::map<std::string, std::string>& query,
                               std::string_view cookie_header);

  // The token endpoint's answer for the login of `state`.
  Result<LoginResult> finish(std::string_view state, const Result<HttpResponse>& answer);

  // Set-Cookie value that deletes the browser-binding cookie.
  std::string clear_cookie() const;
  // The IdP's end-session URL (RP-initiated logout), or empty when the IdP
  // has none.
  std::string logout_url(std::string_view id_token_hint,
                         std::string_view post_logout_redirect_uri) const;

  std::size_t pending() const;

 private:
  struct Pending {
    std::string browser_hash;  // SHA-256 hex of the binding cookie's value
    std::string verifier;      // PKCE code_verifier
    std::string nonce;
    std::string return_to;
    Millis expires_at = 0;
  };
  const OidcIssuer* issuer() const;
  std::string cookie_name() const;

  OidcAuthenticator& verifier_;
  std::string issuer_name_;
  BrowserLoginSettings settings_;
  std::string redirect_uri_;
  bool secure_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Pending> pending_;     // by state
  std::unordered_map<std::string, Pending> exchanging_;  // after callback(), until finish()
};

// PKCE S256: BASE64URL(SHA-256(verifier)).
std::string pkce_challenge(std::string_view verifier);

// Whether `path` is a safe local redirect target ("/ui/x", not "//evil" or "https://...").
bool is_local_path(std::string_view path);

}  // namespace countersign::identity
