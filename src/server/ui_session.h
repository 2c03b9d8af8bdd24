// Browser sessions for the web UI, with no networking library in sight.
//
// A login method (an API key pasted into the login page, or OIDC
// Authorization Code + PKCE through /auth/login) ends with an authenticated
// Identity and calls UiSessionStore::create(). The store keeps the session
// server-side, in memory, under the SHA-256 of a random 32-byte id; the
// browser holds only that id, in an HttpOnly, SameSite=Lax cookie (Secure
// and __Host- when the gateway is reached over https). Lax, not Strict: a
// link to a review in Slack, Teams or an e-mail, and the identity
// provider's redirect back after sign-in, must arrive signed in; cross-site
// POSTs still carry no cookie, and every state-changing request needs the
// CSRF token anyway. Credentials are never stored.
//
// Every session has its own random CSRF token (synchronizer token pattern):
// the page reads it from GET /ui/session and sends it as X-CSRF-Token on
// every state-changing request; authorize() refuses a state-changing request
// whose token is missing or differs. Sessions end on logout, after
// `idle_timeout` without a request, or `absolute_timeout` after login.
// Thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/error.h"
#include "core/identity.h"

namespace countersign::server {

struct UiSessionOptions {
  Millis idle_timeout = 30 * 60 * 1000;             // 30 minutes without a request
  Millis absolute_timeout = 12 * 60 * 60 * 1000;    // 12 hours after login
  std::size_t max_sessions = 10'000;                // the oldest go first beyond this
  bool secure = false;                              // https: Secure cookie, __Host- prefix
  std::string cookie_name = "countersign_session";  // identity.oidc.login.cookie_name
};

struct UiSession {
  Identity identity;
  std::string login_method;  // "api-key" or "oidc"
  std::string csrf_token;    // 64 hex digits
  Millis created_at = 0;
  Millis last_seen = 0;
  Millis expires_at = 0;  // min(last_seen + idle, created_at + absolute)
};

struct NewUiSession {
  std::string id;  // goes to the browser in the cookie, nowhere else
  UiSession session;
  std::string set_cookie;  // the Set-Cookie header value
};

class UiSessionStore {
 public:
  explicit UiSessionStore(const Clock& clock, UiSessionOptions options = {});

  // The seam for every login method: a session for an identity the caller
  // has already authenticated.
  NewUiSession create(const Identity& identity, std::string login_method);

  // The live session the Cookie header names; refreshes its idle expiry.
  // unauthenticated when there is no session cookie, or it names no live
  // session.
  Result<UiSession> find(std::string_view cookie_header);
  // Like find(), without refreshing (for long-lived event streams).
  Result<UiSession> peek(std::string_view cookie_header) const;

  // find(), and for a state-changing method (anything but GET, HEAD,
  // OPTIONS) the CSRF token must equal the session's: permission_denied
  // otherwise.
  Result<UiSession> authorize(std::string_view cookie_header, std::string_view method,
                              std::string_view csrf_header);

  // Ends the session the Cookie header names; false when there was none.
  bool destroy(std::string_view cookie_header);

  // Whether the Cookie header carries this store's session cookie at all.
  bool has_session_cookie(std::string_view cookie_header) const;

  std::string cookie_name() const;
  std::string clear_cookie() const;  // Set-Cookie value that deletes the cookie
  std::size_t size() const;
  const UiSessionOptions& options() const { return options_; }

 private:
  std::optional<std::string> key_for(std::string_view cookie_header) const;
  void evict_locked(Millis now);

  const Clock& clock_;
  UiSessionOptions options_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, UiSession> sessions_;  // by SHA-256 hex of the id
};

// The value of cookie `name` in a Cookie header ("a=1; b=2"), if present.
std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name);

// GET, HEAD and OPTIONS change nothing; everything else needs a CSRF token.
bool is_safe_method(std::string_view method);

}  // namespace countersign::server
