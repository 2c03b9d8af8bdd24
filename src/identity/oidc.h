// Identity from OpenID Connect providers: bearer JWTs (ID tokens or JWT
// access tokens, RFC 9068) from configured issuers, verified against each
// issuer's JWK Set, with claims mapped to an Identity per issuer.
//
// Network use: OidcAuthenticator fetches discovery and JWK Sets through an
// injected HttpFetcher, only in load() (start-up, blocking, before the server
// serves) and on its own refresher thread. authenticate() never does I/O: a
// token signed by an unknown `kid` fails at once and asks the refresher for
// a fresh JWK Set (at most once per `min_refresh_interval`), so a key the
// IdP has just started using is accepted moments later. JWK Sets are also
// refreshed every `jwks_refresh`; when a refresh fails the previous keys stay
// in use and the refresher retries after `min_refresh_interval`.
// authenticate() may be called from any one thread at a time while the
// refresher runs (the key sets are swapped under a mutex).
//
// Verified tokens are remembered: an agent sends the same access token on
// every request for its lifetime, and a signature check (ECDSA P-256 or
// Ed25519, 40-70 us) costs far more than everything else. The cache maps the
// SHA-256 of the whole token to its claims and the key set that verified it;
// a hit skips decoding and the signature only, never the checks of
// iss/aud/exp/nbf/iat and the mapping, which run on every call. An entry is
// used only while its issuer still has that very key set (any JWK Set
// refresh starts afresh) and is dropped after the token's exp; at most
// kMaxVerifiedTokens entries.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/json/object.hpp>

#include "core/clock.h"
#include "core/error.h"
#include "core/identity.h"
#include "identity/http_fetch.h"
#include "identity/jwt.h"

namespace countersign::identity {

// How a verified token's claims become an Identity. Claim names are dotted
// paths into the claims ("realm_access.roles").
struct ClaimsMapping {
  std::string subject_claim = "sub";
  std::string subject_prefix;  // prepended to the subject, e.g. "okta:"
  std::string email_claim = "email";
  bool require_email_verified = true;   // email only when email_verified is true
  std::string groups_claim = "groups";  // array of strings or a space-separated string
  std::string kind_claim;               // a claim whose value is agent|human|service; empty = none
  std::map<std::string, IdentityKind> kind_by_client;  // client_id / azp -> kind (wins)
  IdentityKind default_kind = IdentityKind::agent;
  std::string on_behalf_of_claim;  // a claim naming the human an agent acts for
  // RFC 8693 `act`: when present, the actor (act.sub) is the subject and the
  // token's `sub` is whom it acts for.
  bool use_act = true;
};

struct OidcIssuer {
  std::string name;                    // label for operators and messages
  std::string issuer;                  // must equal the token's iss exactly
  std::vector<std::string> audiences;  // the token's aud must contain one
  std::vector<JwsAlgorithm> algorithms = all_jws_algorithms();
  std::string discovery_url;  // default: issuer + "/.well-known/openid-configuration"
  std::string jwks_uri;       // set: skips discovery for keys
  Millis clock_skew = 60'000;
  Millis jwks_refresh = 600'000;
  Millis min_refresh_interval = 30'000;
  Millis fetch_timeout = 10'000;
  std::string ca_file;  // extra trust anchors for https to the IdP
  ClaimsMapping claims;
  // Login of people (browser, `countersign login`); optional.
  std::string client_id;
  std::string client_secret;  // resolved at load; empty = public client (PKCE only)
  std::vector<std::string> scopes = {"openid", "email", "profile"};
  SourceLocation location;
};

// identity.oidc.login: signing people in through the browser (Authorization
// Code + PKCE) with one of the issuers. See identity/browser_login.h.
struct BrowserLoginSettings {
  std::string issuer_name;  // an OidcIssuer's name; empty = browser login off
  Millis session_lifetime = 8 * 3'600'000LL;
  Millis login_timeout = 10 * 60'000;  // from /auth/login to /auth/callback
  std::string cookie_name = "countersign_session";
  std::string landing_path =
      "/ui/";  // where a signed-in browser goes when no return path was given
  bool enabled() const { return !issuer_name.empty(); }
};

// The parts of an OpenID Provider's discovery document countersign uses.
struct ProviderMetadata {
  std::string issuer;
  std::string jwks_uri;
  std::string authorization_endpoint;
  std::string token_endpoint;
  std::string device_authorization_endpoint;  // empty when not offered
  std::string end_session_endpoint;           // empty when not offered
  std::vector<std::string> code_challenge_methods;
};

// Parses a discovery document; its `issuer` must equal `expected_issuer`.
Result<ProviderMetadata> parse_discovery(std::string_view json, const std::string& expected_issuer);

// Whether `url` is https, or http to a loopback address (tests, local IdPs).
bool acceptable_idp_url(std::string_view url);

// Value at a dotted path, or nullptr.
const boost::json::value* claim_at(const boost::json::object& claims, std::string_view path);

// iss, aud, exp, nbf, iat checks (with the issuer's skew) and the mapping.
// The signature must already have been verified.
Result<Identity> identity_from_claims(const boost::json::object& claims, const OidcIssuer& issuer,
                                      Millis now);
Result<void> check_time_claims(const boost::json::object& claims, const OidcIssuer& issuer,
                               Millis now);

inline constexpr std::size_t kMaxVerifiedTokens = 10'000;

class OidcAuthenticator {
 public:
  OidcAuthenticator(std::vector<OidcIssuer> issuers, HttpFetcher fetcher, const Clock& clock);
  ~OidcAuthenticator();
  OidcAuthenticator(const OidcAuthenticator&) = delete;
  OidcAuthenticator& operator=(const OidcAuthenticator&) = delete;

  // Blocking: discovery and JWK Set of every issuer. Fails with a message
  // naming the issuer and URL when one cannot be fetched or parsed.
  Result<void> load();
  // Starts the refresher thread (after load()).
  void start_refresher();

  // Verifies a bearer JWT and maps it; never blocks on the network.
  Result<Identity> authenticate(std::string_view token);
  // Verifies signature and iss/exp/nbf/iat (and aud when `check_audience`)
  // and returns the claims, e.g. for an ID token whose aud is a client id.
  Result<boost::json::object> verify(std::string_view token, const OidcIssuer** issuer,
                                     bool check_audience = true);

  const std::vector<OidcIssuer>& issuers() const { return issuers_; }
  const OidcIssuer* find_issuer(std::string_view issuer) const;
  std::optional<ProviderMetadata> metadata(std::string_view issuer) const;

  // Fetches the JWK Set of issuer `index` now (blocking). For the refresher
  // and tests.
  Result<void> refresh(std::size_t index);
  std::uint64_t refresh_count() const;
  // Tokens whose verified signature is remembered (see above).
  std::size_t verified_tokens() const;

 private:
  struct State {
    std::optional<ProviderMetadata> metadata;
    std::shared_ptr<const std::vector<Jwk>> keys;
    Millis last_attempt = 0;  // steady clock ms
    Millis last_success = 0;
    bool wanted = false;  // a refresh was asked for (unknown kid)
  };
  struct VerifiedToken {
    std::size_t issuer = 0;
    std::shared_ptr<const std::vector<Jwk>> keys;  // the set that verified it
    boost::json::object claims;
    Millis expires_at = 0;  // exp (+ skew), wall clock ms
  };
  Result<void> discover(std::size_t index);
  void remember_locked(std::string digest, VerifiedToken token, Millis now);
  void request_refresh(std::size_t index);
  void refresher_loop();

  std::vector<OidcIssuer> issuers_;
  HttpFetcher fetcher_;
  const Clock& clock_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<State> states_;
  std::unordered_map<std::string, VerifiedToken> verified_;  // by SHA-256 of the token
  bool stopping_ = false;
  std::uint64_t refreshes_ = 0;
  std::thread refresher_;
};

}  // namespace countersign::identity
