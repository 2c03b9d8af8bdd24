#include "identity/browser_login.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include "core/hash.h"
#include "identity/jwt.h"

namespace countersign::identity {
namespace {

constexpr std::size_t kMaxPendingLogins = 10'000;

std::string base64(std::string_view bytes) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto byte = [&](std::size_t at) { return static_cast<unsigned char>(bytes[at]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    for (int shift : {18, 12, 6, 0}) out += kTable[(v >> shift) & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = byte(i) << 16;
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += "==";
  } else if (bytes.size() - i == 2) {
    unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto end = header.find(';');
    std::string_view part = header.substr(0, end);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto equals = part.find('=');
    if (equals != std::string_view::npos && part.substr(0, equals) == name)
      return std::string(part.substr(equals + 1));
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

std::string text(const boost::json::object& object, std::string_view name) {
  auto* value = object.if_contains(name);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

std::string query_value(const std::map<std::string, std::string>& query, const std::string& name) {
  auto found = query.find(name);
  return found == query.end() ? std::string() : found->second;
}

}  // namespace

std::string pkce_challenge(std::string_view verifier) {
  Sha256Digest digest = sha256(verifier);
  return base64url_encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

bool is_local_path(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.starts_with("//") || path.size() > 2048)
    return false;
  for (char c : path)
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  return true;
}

OidcLogin::OidcLogin(OidcAuthenticator& verifier, std::string issuer_name,
                     BrowserLoginSettings settings, std::string redirect_uri, bool secure_cookies,
                     const Clock& clock)
    : verifier_(verifier),
      issuer_name_(std::move(issuer_name)),
      settings_(std::move(settings)),
      redirect_uri_(std::move(redirect_uri)),
      secure_(secure_cookies),
      clock_(clock) {}

const OidcIssuer* OidcLogin::issuer() const {
  for (const auto& issuer : verifier_.issuers())
    if (issuer.name == issuer_name_) return &issuer;
  return nullptr;
}

std::string OidcLogin::cookie_name() const {
  return (secure_ ? "__Secure-" : "") + settings_.cookie_name + "_login";
}

std::string OidcLogin::clear_cookie() const {
  return fmt::format("{}=; Path=/auth/; Max-Age=0; HttpOnly; SameSite=Lax{}", cookie_name(),
                     secure_ ? "; Secure" : "");
}

std::size_t OidcLogin::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size() + exchanging_.size();
}

Result<LoginStart> OidcLogin::begin(std::string_view return_to) {
  const OidcIssuer* config = issuer();
  if (!config) return fail(ErrorCode::failed_precondition, "browser login is not configured");
  auto metadata = verifier_.metadata(config->issuer);
  if (!metadata || metadata->authorization_endpoint.empty())
    return fail(ErrorCode::unavailable, "the identity provider has no authorization endpoint");
  Pending login;
  const std::string state = base64url_encode(random_bytes(32));
  const std::string browser = base64url_encode(random_bytes(32));
  login.browser_hash = sha256_hex(browser);
  login.verifier = base64url_encode(random_bytes(32));
  login.nonce = base64url_encode(random_bytes(32));
  login.return_to = is_local_path(return_to) ? std::string(return_to) : settings_.landing_path;
  const Millis now = clock_.now();
  login.expires_at = now + settings_.login_timeout;

  std::string scope;
  for (const auto& item : config->scopes) scope += (scope.empty() ? "" : " ") + item;
  std::vector<std::pair<std::string, std::string>> fields = {
      {"response_type", "code"},
      {"client_id", config->client_id},
      {"redirect_uri", redirect_uri_},
      {"scope", scope},
      {"state", state},
      {"nonce", login.nonce},
      {"code_challenge", pkce_challenge(login.verifier)},
      {"code_challenge_method", "S256"}};
  LoginStart start;
  const std::string& endpoint = metadata->authorization_endpoint;
  start.authorization_url =
      endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") + form_body(fields);
  start.set_cookie =
      fmt::format("{}={}; Path=/auth/; Max-Age={}; HttpOnly; SameSite=Lax{}", cookie_name(),
                  browser, settings_.login_timeout / 1000, secure_ ? "; Secure" : "");
  std::lock_guard lock(mutex_);
  for (auto it = pending_.begin(); it != pending_.end();)
    it = it->second.expires_at <= now ? pending_.erase(it) : std::next(it);
  for (auto it = exchanging_.begin(); it != exchanging_.end();)
    it = it->second.expires_at <= now ? exchanging_.erase(it) : std::next(it);
  if (pending_.size() >= kMaxPendingLogins)
    return fail(ErrorCode::unavailable, "too many logins in progress; try again shortly");
  pending_.emplace(state, std::move(login));
  return start;
}

Result<HttpRequest> OidcLogin::callback(const std::map<std::string, std::string>& query,
                                        std::string_view cookie_header) {
  const OidcIssuer* config = issuer();
  if (!config) return fail(ErrorCode::failed_precondition, "browser login is not configured");
  const std::string state = query_value(query, "state");
  Pending login;
  {
    std::lock_guard lock(mutex_);
    auto found = pending_.find(state);
    if (state.empty() || found == pending_.end())
      return fail(ErrorCode::unauthenticated, "unknown or already used login (state); start again");
    login = std::move(found->second);
    pending_.erase(found);  // one attempt per login, whatever happens next
  }
  if (login.expires_at <= clock_.now())
    return fail(ErrorCode::unauthenticated, "the login took too long; start again");
  const std::string browser = cookie_value(cookie_header, cookie_name());
  if (browser.empty() || !constant_time_equal(sha256_hex(browser), login.browser_hash))
    return fail(ErrorCode::unauthenticated,
                "this login was started in another browser; start again");
  if (std::string error = query_value(query, "error"); !error.empty()) {
    std::string description = query_value(query, "error_description");
    return fail(ErrorCode::unauthenticated,
                fmt::format("the identity provider refused the login: {}{}", error,
                            description.empty() ? "" : " (" + description + ")"));
  }
  const std::string code = query_value(query, "code");
  if (code.empty()) return fail(ErrorCode::invalid_argument, "the callback has no code");
  auto metadata = verifier_.metadata(config->issuer);
  if (!metadata || metadata->token_endpoint.empty())
    return fail(ErrorCode::unavailable, "the identity provider has no token endpoint");

  HttpRequest request;
  request.method = "POST";
  request.url = metadata->token_endpoint;
  request.timeout = config->fetch_timeout;
  request.ca_file = config->ca_file;
  request.headers = {{"Accept", "application/json"},
                     {"Content-Type", "application/x-www-form-urlencoded"}};
  std::vector<std::pair<std::string, std::string>> fields = {{"grant_type", "authorization_code"},
                                                             {"code", code},
                                                             {"redirect_uri", redirect_uri_},
                                                             {"code_verifier", login.verifier}};
  if (config->client_secret.empty()) {
    fields.emplace_back("client_id", config->client_id);
  } else {
    // client_secret_basic (RFC 6749 2.3.1): form-encoded id and secret.
    request.headers.emplace_back("Authorization",
                                 "Basic " + base64(form_encode(config->client_id) + ":" +
                                                   form_encode(config->client_secret)));
  }
  request.body = form_body(fields);
  std::lock_guard lock(mutex_);
  exchanging_.emplace(state, std::move(login));
  return request;
}

Result<LoginResult> OidcLogin::finish(std::string_view state, const Result<HttpResponse>& answer) {
  Pending login;
  {
    std::lock_guard lock(mutex_);
    auto found = exchanging_.find(std::string(state));
    if (found == exchanging_.end())
      return fail(ErrorCode::unauthenticated, "unknown or already used login (state); start again");
    login = std::move(found->second);
    exchanging_.erase(found);
  }
  const OidcIssuer* config = issuer();
  if (!config) return fail(ErrorCode::failed_precondition, "browser login is not configured");
  if (!answer)
    return fail(ErrorCode::unavailable,
                "cannot reach the identity provider's token endpoint: " + answer.error().message);
  boost::system::error_code error;
  auto body = boost::json::parse(answer->body, error);
  if (error || !body.is_object())
    return fail(ErrorCode::unavailable,
                fmt::format("the token endpoint answered HTTP {} without JSON", answer->status));
  const auto& object = body.as_object();
  if (answer->status != 200 || !text(object, "error").empty())
    return fail(ErrorCode::unauthenticated,
                fmt::format("the identity provider refused the code: {} {}", text(object, "error"),
                            text(object, "error_description")));
  std::string id_token = text(object, "id_token");
  if (id_token.empty())
    return fail(ErrorCode::unauthenticated,
                "the identity provider returned no ID token (is openid in scopes?)");
  const OidcIssuer* signer = nullptr;
  auto claims = verifier_.verify(id_token, &signer, false);
  if (!claims) return std::unexpected(claims.error());
  if (signer != config)
    return fail(ErrorCode::unauthenticated, "the ID token comes from another issuer");
  // aud must hold our client id; with several audiences, azp must be us.
  bool ours = false;
  std::size_t audiences = 0;
  if (auto* aud = claims->if_contains("aud")) {
    if (aud->is_string()) {
      audiences = 1;
      ours = aud->get_string() == config->client_id;
    } else if (aud->is_array()) {
      for (const auto& item : aud->as_array()) {
        ++audiences;
        ours = ours || (item.is_string() && item.get_string() == config->client_id);
      }
    }
  }
  if (!ours) return fail(ErrorCode::unauthenticated, "the ID token is not for this client (aud)");
  if (audiences > 1 && text(*claims, "azp") != config->client_id)
    return fail(ErrorCode::unauthenticated, "the ID token's azp is not this client");
  if (text(*claims, "nonce").empty() || !constant_time_equal(text(*claims, "nonce"), login.nonce))
    return fail(ErrorCode::unauthenticated, "the ID token's nonce does not match this login");
  OidcIssuer people = *config;
  people.audiences = {config->client_id};
  people.claims.default_kind = IdentityKind::human;
  people.claims.use_act = false;
  auto identity = identity_from_claims(*claims, people, clock_.now());
  if (!identity) return std::unexpected(identity.error());
  return LoginResult{std::move(*identity), login.return_to, std::move(id_token)};
}

std::string OidcLogin::logout_url(std::string_view id_token_hint,
                                  std::string_view post_logout_redirect_uri) const {
  const OidcIssuer* config = issuer();
  if (!config) return {};
  auto metadata = verifier_.metadata(config->issuer);
  if (!metadata || metadata->end_session_endpoint.empty()) return {};
  std::vector<std::pair<std::string, std::string>> fields = {{"client_id", config->client_id}};
  if (!id_token_hint.empty()) fields.emplace_back("id_token_hint", std::string(id_token_hint));
  if (!post_logout_redirect_uri.empty())
    fields.emplace_back("post_logout_redirect_uri", std::string(post_logout_redirect_uri));
  const std::string& endpoint = metadata->end_session_endpoint;
  return endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") + form_body(fields);
}

}  // namespace countersign::identity
