#include "identity/oidc.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include "core/hash.h"

namespace countersign::identity {
namespace {

std::string text_of(const boost::json::object& object, std::string_view name) {
  auto* value = object.if_contains(name);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

// A NumericDate claim in milliseconds, or nullopt when absent; errors when
// present but not a number.
Result<std::optional<Millis>> numeric_date(const boost::json::object& claims,
                                           std::string_view name) {
  auto* value = claims.if_contains(name);
  if (!value) return std::optional<Millis>();
  double seconds = 0;
  if (value->is_int64())
    seconds = static_cast<double>(value->get_int64());
  else if (value->is_uint64())
    seconds = static_cast<double>(value->get_uint64());
  else if (value->is_double())
    seconds = value->get_double();
  else
    return fail(ErrorCode::unauthenticated, fmt::format("token claim {} is not a number", name));
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e13)
    return fail(ErrorCode::unauthenticated, fmt::format("token claim {} is out of range", name));
  return std::optional<Millis>(static_cast<Millis>(seconds * 1000));
}

std::string claim_text(const boost::json::object& claims, std::string_view path) {
  if (path.empty()) return {};
  auto* value = claim_at(claims, path);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "[::1]") return true;
  // 127.0.0.0/8 as a dotted-quad literal (not a name that starts with "127.").
  if (!host.starts_with("127.")) return false;
  int dots = 0;
  for (char c : host) {
    if (c == '.')
      ++dots;
    else if (c < '0' || c > '9')
      return false;
  }
  return dots == 3;
}

Millis ms_since_epoch_steady(const Clock& clock) { return clock.now(); }

}  // namespace

bool acceptable_idp_url(std::string_view url) {
  if (url.starts_with("https://")) return url.size() > 8;
  if (!url.starts_with("http://")) return false;
  std::string_view rest = url.substr(7);
  std::string_view authority = rest.substr(0, rest.find('/'));
  std::string_view host = authority;
  if (host.starts_with("[")) {
    host = host.substr(0, host.find(']') + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  return is_loopback_host(host);
}

const boost::json::value* claim_at(const boost::json::object& claims, std::string_view path) {
  const boost::json::object* object = &claims;
  while (true) {
    auto dot = path.find('.');
    std::string_view name = path.substr(0, dot);
    auto* value = object->if_contains(name);
    if (!value) {
      // A claim name may itself contain dots (e.g. URLs as claim names).
      return object->if_contains(path);
    }
    if (dot == std::string_view::npos) return value;
    if (!value->is_object()) return object->if_contains(path);
    object = &value->get_object();
    path = path.substr(dot + 1);
  }
}

Result<ProviderMetadata> parse_discovery(std::string_view json,
                                         const std::string& expected_issuer) {
  boost::system::error_code error;
  auto value = boost::json::parse(json, error);
  if (error || !value.is_object())
    return fail(ErrorCode::invalid_argument, "the discovery document is not a JSON object");
  const auto& object = value.as_object();
  ProviderMetadata metadata;
  metadata.issuer = text_of(object, "issuer");
  if (metadata.issuer != expected_issuer)
    return fail(ErrorCode::invalid_argument,
                fmt::format("the discovery document names issuer '{}', not '{}'", metadata.issuer,
                            expected_issuer));
  metadata.jwks_uri = text_of(object, "jwks_uri");
  metadata.authorization_endpoint = text_of(object, "authorization_endpoint");
  metadata.token_endpoint = text_of(object, "token_endpoint");
  metadata.device_authorization_endpoint = text_of(object, "device_authorization_endpoint");
  metadata.end_session_endpoint = text_of(object, "end_session_endpoint");
  if (auto* methods = object.if_contains("code_challenge_methods_supported");
      methods && methods->is_array())
    for (const auto& method : methods->as_array())
      if (method.is_string()) metadata.code_challenge_methods.emplace_back(method.get_string());
  if (metadata.jwks_uri.empty())
    return fail(ErrorCode::invalid_argument, "the discovery document has no jwks_uri");
  return metadata;
}

Result<void> check_time_claims(const boost::json::object& claims, const OidcIssuer& issuer,
                               Millis now) {
  const Millis skew = issuer.clock_skew;
  auto exp = numeric_date(claims, "exp");
  if (!exp) return std::unexpected(exp.error());
  if (!*exp) return fail(ErrorCode::unauthenticated, "token has no exp claim");
  if (now >= **exp + skew) return fail(ErrorCode::unauthenticated, "token has expired");
  auto nbf = numeric_date(claims, "nbf");
  if (!nbf) return std::unexpected(nbf.error());
  if (*nbf && now + skew < **nbf)
    return fail(ErrorCode::unauthenticated, "token is not valid yet (nbf)");
  auto iat = numeric_date(claims, "iat");
  if (!iat) return std::unexpected(iat.error());
  if (*iat && now + skew < **iat)
    return fail(ErrorCode::unauthenticated, "token was issued in the future (iat)");
  return {};
}

namespace {

Result<void> check_audience(const boost::json::object& claims, const OidcIssuer& issuer) {
  auto* aud = claims.if_contains("aud");
  if (!aud) return fail(ErrorCode::unauthenticated, "token has no aud claim");
  auto accepted = [&](std::string_view value) {
    return std::find(issuer.audiences.begin(), issuer.audiences.end(), value) !=
           issuer.audiences.end();
  };
  bool ok = false;
  if (aud->is_string()) {
    ok = accepted(aud->get_string());
  } else if (aud->is_array()) {
    for (const auto& item : aud->as_array())
      ok = ok || (item.is_string() && accepted(item.get_string()));
  }
  if (!ok) return fail(ErrorCode::unauthenticated, "token audience (aud) is not accepted here");
  return {};
}

}  // namespace

Result<Identity> identity_from_claims(const boost::json::object& claims, const OidcIssuer& issuer,
                                      Millis now) {
  if (text_of(claims, "iss") != issuer.issuer)
    return fail(ErrorCode::unauthenticated, "token issuer (iss) is not configured");
  if (auto audience = check_audience(claims, issuer); !audience)
    return std::unexpected(audience.error());
  if (auto times = check_time_claims(claims, issuer, now); !times)
    return std::unexpected(times.error());

  const ClaimsMapping& mapping = issuer.claims;
  Identity identity;
  identity.issuer = issuer.issuer;
  std::string subject = claim_text(claims, mapping.subject_claim);
  if (subject.empty())
    return fail(ErrorCode::unauthenticated,
                fmt::format("token has no '{}' claim for the subject", mapping.subject_claim));
  std::optional<std::string> behalf;
  bool acting = false;
  if (mapping.use_act) {
    if (auto* act = claims.if_contains("act")) {
      // RFC 8693 4.1: the current actor is the outermost act; sub is whom it acts for.
      if (!act->is_object() || text_of(act->get_object(), "sub").empty())
        return fail(ErrorCode::unauthenticated, "token act claim has no sub");
      behalf = mapping.subject_prefix + subject;
      subject = text_of(act->get_object(), "sub");
      acting = true;
    }
  }
  identity.subject = mapping.subject_prefix + subject;
  if (!behalf && !mapping.on_behalf_of_claim.empty()) {
    std::string named = claim_text(claims, mapping.on_behalf_of_claim);
    if (!named.empty()) behalf = named;
  }
  if (behalf && *behalf == identity.subject)
    return fail(ErrorCode::unauthenticated, "token acts on behalf of itself");
  identity.on_behalf_of = behalf;

  if (!acting && !mapping.email_claim.empty()) {
    std::string email = claim_text(claims, mapping.email_claim);
    bool verified = !mapping.require_email_verified;
    if (auto* flag = claims.if_contains("email_verified"))
      verified = verified || (flag->is_bool() && flag->get_bool()) ||
                 (flag->is_string() && flag->get_string() == "true");
    if (!email.empty() && verified) identity.email = email;
  }
  if (!mapping.groups_claim.empty()) {
    if (auto* groups = claim_at(claims, mapping.groups_claim)) {
      if (groups->is_array()) {
        for (const auto& group : groups->as_array())
          if (group.is_string()) identity.groups.emplace_back(group.get_string());
      } else if (groups->is_string()) {
        std::string_view rest = groups->get_string();
        while (!rest.empty()) {
          auto space = rest.find(' ');
          if (space != 0) identity.groups.emplace_back(rest.substr(0, space));
          if (space == std::string_view::npos) break;
          rest = rest.substr(space + 1);
        }
      }
    }
  }

  identity.kind = mapping.default_kind;
  if (!mapping.kind_claim.empty()) {
    std::string named = claim_text(claims, mapping.kind_claim);
    if (!named.empty()) {
      auto kind = parse_identity_kind(named);
      if (!kind)
        return fail(
            ErrorCode::unauthenticated,
            fmt::format("token claim {} must be agent, human or service", mapping.kind_claim));
      identity.kind = *kind;
    }
  }
  std::string client = text_of(claims, "client_id");
  if (client.empty()) client = text_of(claims, "azp");
  if (auto found = mapping.kind_by_client.find(client);
      !client.empty() && found != mapping.kind_by_client.end())
    identity.kind = found->second;
  // An actor token is never the human it acts for: it cannot be `human`.
  if (acting && identity.kind == IdentityKind::human) identity.kind = IdentityKind::agent;
  return identity;
}

OidcAuthenticator::OidcAuthenticator(std::vector<OidcIssuer> issuers, HttpFetcher fetcher,
                                     const Clock& clock)
    : issuers_(std::move(issuers)),
      fetcher_(std::move(fetcher)),
      clock_(clock),
      states_(issuers_.size()) {}

OidcAuthenticator::~OidcAuthenticator() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (refresher_.joinable()) refresher_.join();
}

Result<void> OidcAuthenticator::discover(std::size_t index) {
  const OidcIssuer& issuer = issuers_[index];
  std::string url = issuer.discovery_url.empty()
                        ? issuer.issuer + (issuer.issuer.ends_with("/") ? "" : "/") +
                              ".well-known/openid-configuration"
                        : issuer.discovery_url;
  HttpRequest request;
  request.url = url;
  request.timeout = issuer.fetch_timeout;
  request.ca_file = issuer.ca_file;
  request.headers = {{"Accept", "application/json"}};
  auto response = fetcher_(request);
  if (!response) return std::unexpected(response.error());
  if (response->status != 200)
    return fail(ErrorCode::unavailable, fmt::format("GET {}: HTTP {}", url, response->status));
  auto metadata = parse_discovery(response->body, issuer.issuer);
  if (!metadata)
    return fail(ErrorCode::unavailable, fmt::format("{}: {}", url, metadata.error().message));
  if (!acceptable_idp_url(metadata->jwks_uri))
    return fail(ErrorCode::unavailable,
                fmt::format("{}: jwks_uri '{}' must be https (or http on loopback)", url,
                            metadata->jwks_uri));
  std::lock_guard lock(mutex_);
  states_[index].metadata = std::move(*metadata);
  return {};
}

Result<void> OidcAuthenticator::refresh(std::size_t index) {
  const OidcIssuer& issuer = issuers_[index];
  std::string jwks_uri = issuer.jwks_uri;
  {
    std::lock_guard lock(mutex_);
    states_[index].last_attempt = ms_since_epoch_steady(clock_);
    states_[index].wanted = false;
    if (jwks_uri.empty() && states_[index].metadata) jwks_uri = states_[index].metadata->jwks_uri;
  }
  if (jwks_uri.empty()) {
    if (auto found = discover(index); !found) return found;
    std::lock_guard lock(mutex_);
    jwks_uri = states_[index].metadata->jwks_uri;
  }
  HttpRequest request;
  request.url = jwks_uri;
  request.timeout = issuer.fetch_timeout;
  request.ca_file = issuer.ca_file;
  request.headers = {{"Accept", "application/jwk-set+json, application/json"}};
  auto response = fetcher_(request);
  if (!response) return std::unexpected(response.error());
  if (response->status != 200)
    return fail(ErrorCode::unavailable, fmt::format("GET {}: HTTP {}", jwks_uri, response->status));
  auto keys = parse_jwks(response->body);
  if (!keys)
    return fail(ErrorCode::unavailable, fmt::format("{}: {}", jwks_uri, keys.error().message));
  if (keys->empty())
    return fail(ErrorCode::unavailable, fmt::format("{}: no usable signing keys", jwks_uri));
  std::lock_guard lock(mutex_);
  states_[index].keys = std::make_shared<const std::vector<Jwk>>(std::move(*keys));
  states_[index].last_success = ms_since_epoch_steady(clock_);
  ++refreshes_;
  return {};
}

std::uint64_t OidcAuthenticator::refresh_count() const {
  std::lock_guard lock(mutex_);
  return refreshes_;
}

Result<void> OidcAuthenticator::load() {
  for (std::size_t i = 0; i < issuers_.size(); ++i) {
    const OidcIssuer& issuer = issuers_[i];
    // Discovery also serves logins, so it is fetched even with a fixed jwks_uri.
    auto discovered = discover(i);
    if (!discovered && issuer.jwks_uri.empty())
      return fail(ErrorCode::unavailable,
                  fmt::format("OIDC issuer '{}' ({}): discovery failed: {}", issuer.name,
                              issuer.issuer, discovered.error().message));
    if (auto keys = refresh(i); !keys)
      return fail(ErrorCode::unavailable,
                  fmt::format("OIDC issuer '{}' ({}): cannot load its signing keys: {}",
                              issuer.name, issuer.issuer, keys.error().message));
  }
  return {};
}

void OidcAuthenticator::start_refresher() {
  if (refresher_.joinable() || issuers_.empty()) return;
  refresher_ = std::thread([this] { refresher_loop(); });
}

void OidcAuthenticator::request_refresh(std::size_t index) {
  {
    std::lock_guard lock(mutex_);
    State& state = states_[index];
    if (state.wanted ||
        ms_since_epoch_steady(clock_) - state.last_attempt < issuers_[index].min_refresh_interval)
      return;  // rate limited: unknown kids cannot make us hammer the IdP
    state.wanted = true;
  }
  wake_.notify_all();
}

void OidcAuthenticator::refresher_loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Pick the issuers that are due: asked for, or past their refresh period
    // (or past the retry interval after a failure).
    Millis now = ms_since_epoch_steady(clock_);
    Millis next_due = now + 60'000;
    std::vector<std::size_t> due;
    for (std::size_t i = 0; i < states_.size(); ++i) {
      const State& state = states_[i];
      const OidcIssuer& issuer = issuers_[i];
      Millis at = state.last_success >= state.last_attempt
                      ? state.last_success + issuer.jwks_refresh
                      : state.last_attempt + issuer.min_refresh_interval;
      if (state.wanted || at <= now)
        due.push_back(i);
      else
        next_due = std::min(next_due, at);
    }
    if (due.empty()) {
      // Wake at least every second: the clock may be a test clock.
      wake_.wait_for(lock, std::chrono::milliseconds(std::clamp<Millis>(next_due - now, 1, 1000)));
      continue;
    }
    lock.unlock();
    for (std::size_t i : due) {
      if (auto result = refresh(i); !result)
        std::cerr << fmt::format(
            "countersign: OIDC issuer '{}': key refresh failed (keeping the "
            "previous keys): {}\n",
            issuers_[i].name, result.error().message);
    }
    lock.lock();
  }
}

const OidcIssuer* OidcAuthenticator::find_issuer(std::string_view issuer) const {
  for (const auto& candidate : issuers_)
    if (candidate.issuer == issuer) return &candidate;
  return nullptr;
}

std::optional<ProviderMetadata> OidcAuthenticator::metadata(std::string_view issuer) const {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < issuers_.size(); ++i)
    if (issuers_[i].issuer == issuer) return states_[i].metadata;
  return std::nullopt;
}

std::size_t OidcAuthenticator::verified_tokens() const {
  std::lock_guard lock(mutex_);
  return verified_.size();
}

void OidcAuthenticator::remember_locked(std::string digest, VerifiedToken token, Millis now) {
  if (verified_.size() >= kMaxVerifiedTokens) {
    std::erase_if(verified_, [&](const auto& entry) {
      return entry.second.expires_at <= now ||
             entry.second.keys != states_[entry.second.issuer].keys;
    });
    if (verified_.size() >= kMaxVerifiedTokens) verified_.clear();
  }
  verified_.insert_or_assign(std::move(digest), std::move(token));
}

Result<boost::json::object> OidcAuthenticator::verify(std::string_view token,
                                                      const OidcIssuer** which, bool audience) {
  // A token verified before with the issuer's current keys: only the claim
  // checks below run again.
  const Sha256Digest hash = sha256(token);
  std::string digest(reinterpret_cast<const char*>(hash.data()), hash.size());
  std::optional<VerifiedToken> known;
  {
    std::lock_guard lock(mutex_);
    auto found = verified_.find(digest);
    if (found != verified_.end()) {
      if (found->second.keys == states_[found->second.issuer].keys &&
          found->second.expires_at > clock_.now())
        known = found->second;
      else
        verified_.erase(found);
    }
  }
  if (known) {
    const OidcIssuer& issuer = issuers_[known->issuer];
    if (which) *which = &issuer;
    const Millis now = clock_.now();
    if (audience) {
      auto identity = identity_from_claims(known->claims, issuer, now);
      if (!identity) return std::unexpected(identity.error());
    } else if (auto times = check_time_claims(known->claims, issuer, now); !times) {
      return std::unexpected(times.error());
    }
    return std::move(known->claims);
  }

  auto decoded = decode_jwt(token);
  if (!decoded) return std::unexpected(decoded.error());
  // The issuer picks the keys; iss is checked again after the signature.
  std::string iss = text_of(decoded->claims, "iss");
  std::size_t index = issuers_.size();
  for (std::size_t i = 0; i < issuers_.size(); ++i)
    if (issuers_[i].issuer == iss) index = i;
  if (index == issuers_.size())
    return fail(ErrorCode::unauthenticated,
                iss.empty() ? std::string("token has no iss claim")
                            : fmt::format("token issuer '{}' is not configured", iss));
  const OidcIssuer& issuer = issuers_[index];
  if (std::find(issuer.algorithms.begin(), issuer.algorithms.end(), decoded->algorithm) ==
      issuer.algorithms.end())
    return fail(ErrorCode::unauthenticated,
                fmt::format("algorithm {} is not accepted for issuer '{}'",
                            jws_algorithm_name(decoded->algorithm), issuer.name));
  std::shared_ptr<const std::vector<Jwk>> keys;
  {
    std::lock_guard lock(mutex_);
    keys = states_[index].keys;
  }
  bool kid_known = false;
  Error last{ErrorCode::unauthenticated, "invalid token signature"};
  if (keys) {
    for (const auto& key : *keys) {
      if (!decoded->kid.empty() && key.kid != decoded->kid) continue;
      kid_known = true;
      if (!key.fits(decoded->algorithm)) {
        last = {ErrorCode::unauthenticated,
                fmt::format("signing key '{}' is a {} key and cannot verify {}", key.kid, key.kty,
                            jws_algorithm_name(decoded->algorithm))};
        continue;
      }
      auto verified = verify_signature(*decoded, key);
      if (verified) {
        last.message.clear();
        break;
      }
      last = verified.error();
    }
  }
  if (!kid_known) {
    request_refresh(index);
    return fail(ErrorCode::unauthenticated,
                decoded->kid.empty()
                    ? std::string("token has no kid and no key of the issuer fits it")
                    : fmt::format("token signed by an unknown key (kid '{}'); the issuer's keys "
                                  "are being refreshed",
                                  decoded->kid));
  }
  if (!last.message.empty()) return std::unexpected(last);
  if (which) *which = &issuer;
  const Millis now = clock_.now();
  if (audience) {
    auto identity = identity_from_claims(decoded->claims, issuer, now);
    if (!identity) return std::unexpected(identity.error());
  } else if (auto times = check_time_claims(decoded->claims, issuer, now); !times) {
    return std::unexpected(times.error());
  }
  // Remember it until exp (checked above: present and in the future).
  if (const auto* exp = decoded->claims.if_contains("exp"); exp && exp->is_number()) {
    boost::system::error_code error;
    const double seconds = exp->to_number<double>(error);
    if (!error && seconds > 0 && seconds < 1e13) {
      VerifiedToken entry{index, keys, decoded->claims,
                          static_cast<Millis>(seconds * 1000) + issuer.clock_skew};
      std::lock_guard lock(mutex_);
      remember_locked(std::move(digest), std::move(entry), now);
    }
  }
  return std::move(decoded->claims);
}

Result<Identity> OidcAuthenticator::authenticate(std::string_view token) {
  const OidcIssuer* issuer = nullptr;
  auto claims = verify(token, &issuer, false);
  if (!claims) return std::unexpected(claims.error());
  return identity_from_claims(*claims, *issuer, clock_.now());
}

}  // namespace countersign::identity
