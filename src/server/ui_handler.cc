#include "server/ui_handler.h"

#include <cctype>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/html.h"
#include "server/ui_assets.h"

namespace countersign::server {
namespace {

void add_security_headers(ApiResponse& response, bool secure) {
  response.headers.emplace_back("Content-Security-Policy", std::string(kUiContentSecurityPolicy));
  response.headers.emplace_back("X-Frame-Options", "DENY");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  response.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
  response.headers.emplace_back("Permissions-Policy", "camera=(), microphone=(), geolocation=()");
  if (secure) response.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
}

ApiResponse json_answer(unsigned status, const boost::json::value& body) {
  ApiResponse response;
  response.status = status;
  response.body = boost::json::serialize(body);
  response.body.push_back('\n');
  return response;
}

// A small page for a sign-in that went wrong (the browser arrives here from
// the identity provider, not from a script): the reason, escaped, and a way
// back to the login page.
ApiResponse sign_in_problem(const Error& error) {
  ApiResponse response;
  response.status = status_for(error.code);
  response.content_type = "text/html; charset=utf-8";
  response.body = fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>Sign-in failed - countersign</title>"
      "<link rel=\"stylesheet\" href=\"/ui/assets/app.css\"></head>\n"
      "<body><main id=\"main\" class=\"main\"><div class=\"card login\">"
      "<h1>Sign-in failed</h1><p class=\"alert\" role=\"alert\">{}</p>"
      "<p><a href=\"/ui/login\">Sign in again</a></p></div></main></body></html>\n",
      html_escape(error.message));
  return response;
}

ApiResponse redirect(std::string location) {
  ApiResponse response;
  response.status = 302;
  response.content_type = "text/plain; charset=utf-8";
  response.body = location + "\n";
  response.headers.emplace_back("Location", std::move(location));
  return response;
}

ApiResponse not_found(const std::string& path) {
  return error_response({ErrorCode::not_found, "no such page: " + path});
}

ApiResponse method_not_allowed(const ApiRequest& request) {
  ApiResponse response = json_answer(
      405,
      {{"error",
        {{"code", "method_not_allowed"},
         {"message", fmt::format("{} is not supported on {}", request.method, request.path)}}}});
  return response;
}

boost::json::object session_json(const UiSession& session) {
  boost::json::object body = to_json(session.identity);
  body["login_method"] = session.login_method;
  body["csrf_token"] = session.csrf_token;
  body["expires_at"] = session.expires_at;
  return body;
}

bool is_json(const std::string& content_type) {
  std::string lower;
  for (char c : content_type)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return lower == "application/json" || lower.starts_with("application/json;");
}

// Page routes the single page handles itself.
bool is_page(std::string_view rest) {
  if (rest.empty() || rest == "inbox" || rest == "mine" || rest == "audit" || rest == "login")
    return true;
  if (rest.starts_with("reviews/")) {
    std::string_view id = rest.substr(8);
    return !id.empty() && id.size() <= 128 && id.find('/') == std::string_view::npos;
  }
  return false;
}

}  // namespace

UiSessionOptions ui_session_options(const config::Config& config) {
  UiSessionOptions options;
  options.secure = config.public_url.starts_with("https://");
  if (config.browser_login.enabled()) {
    options.absolute_timeout = config.browser_login.session_lifetime;
    options.cookie_name = config.browser_login.cookie_name;
  }
  return options;
}

UiHandler::~UiHandler() = default;

bool UiHandler::owns(std::string_view path) {
  return path == "/ui" || path.starts_with("/ui/") || path.starts_with("/auth/");
}

identity::OidcLogin* UiHandler::oidc_login() {
  const auto& settings = gateway_.config().browser_login;
  identity::OidcAuthenticator* verifier = gateway_.oidc();
  if (!settings.enabled() || verifier == nullptr) return nullptr;
  std::lock_guard lock(oidc_mutex_);
  if (!oidc_login_) {
    std::string base = gateway_.config().public_url;
    while (base.ends_with('/')) base.pop_back();
    oidc_login_ = std::make_unique<identity::OidcLogin>(
        *verifier, settings.issuer_name, settings, base + "/auth/callback",
        sessions_.options().secure, gateway_.clock());
  }
  return oidc_login_.get();
}

ApiResponse UiHandler::login_methods() {
  boost::json::value oidc = nullptr;
  if (oidc_login() != nullptr)
    oidc = {{"name", gateway_.config().browser_login.issuer_name}, {"login_url", "/auth/login"}};
  return json_answer(200, {{"api_key", true}, {"oidc", oidc}});
}

ApiResponse UiHandler::auth_login(const ApiRequest& request) {
  identity::OidcLogin* login = oidc_login();
  if (login == nullptr)
    return sign_in_problem({ErrorCode::not_found,
                            "sign-in through an identity provider is not configured here "
                            "(identity.oidc.login); use an API key"});
  auto found = request.query.find("return_to");
  auto start = login->begin(found == request.query.end() ? std::string_view() : found->second);
  if (!start) return sign_in_problem(start.error());
  ApiResponse response = redirect(start->authorization_url);
  response.headers.emplace_back("Set-Cookie", start->set_cookie);
  return response;
}

UiHandler::CallbackStart UiHandler::begin_callback(const ApiRequest& request) {
  CallbackStart start;
  identity::OidcLogin* login = oidc_login();
  if (request.method != "GET") {
    start.response = method_not_allowed(request);
  } else if (login == nullptr) {
    start.response = sign_in_problem(
        {ErrorCode::not_found,
         "sign-in through an identity provider is not configured here (identity.oidc.login)"});
  } else if (auto token_request = login->callback(request.query, request.cookie); !token_request) {
    start.response = sign_in_problem(token_request.error());
    start.response.headers.emplace_back("Set-Cookie", login->clear_cookie());
  } else {
    start.token_request = std::move(*token_request);
    start.state = request.query.at("state");  // callback() succeeded: it is there
  }
  add_security_headers(start.response, sessions_.options().secure);
  return start;
}

ApiResponse UiHandler::finish_callback(const ApiRequest& request, const std::string& state,
                                       const Result<identity::HttpResponse>& answer) {
  identity::OidcLogin* login = oidc_login();
  ApiResponse response;
  if (login == nullptr) {
    response = sign_in_problem({ErrorCode::failed_precondition, "sign-in is not configured"});
  } else if (auto result = login->finish(state, answer); !result) {
    response = sign_in_problem(result.error());
  } else if (result->identity.kind == IdentityKind::agent) {
    response = sign_in_problem(
        {ErrorCode::permission_denied, "the web UI is for people: " + result->identity.subject +
                                           " is an agent and uses the API"});
  } else {
    // A fresh id on every login; any session this browser had ends.
    sessions_.destroy(request.cookie);
    auto created = sessions_.create(result->identity, "oidc");
    response = redirect(result->return_to);
    response.headers.emplace_back("Set-Cookie", created.set_cookie);
  }
  if (login != nullptr) response.headers.emplace_back("Set-Cookie", login->clear_cookie());
  add_security_headers(response, sessions_.options().secure);
  return response;
}

ApiResponse UiHandler::handle(const ApiRequest& request) {
  ApiResponse response;
  const std::string& path = request.path;
  if (path == "/ui") {
    response.status = 308;
    response.content_type = "text/plain; charset=utf-8";
    response.headers.emplace_back("Location", "/ui/");
    response.body = "/ui/\n";
  } else if (path == "/ui/login" && request.method == "POST") {
    response = login(request);
  } else if (path == "/ui/session") {
    response = request.method == "GET" ? session(request) : method_not_allowed(request);
  } else if (path == "/ui/logout" || path == "/auth/logout") {
    response = request.method == "POST" ? logout(request) : method_not_allowed(request);
  } else if (path == "/ui/login-methods") {
    response = request.method == "GET" ? login_methods() : method_not_allowed(request);
  } else if (path == "/auth/login") {
    response = request.method == "GET" ? auth_login(request) : method_not_allowed(request);
  } else if (path == "/auth/callback") {
    // Served by the web UI's streaming route (the token request must not
    // block the I/O thread); only a server without it gets here.
    response = error_response(
        {ErrorCode::unavailable, "the sign-in callback is not served by this server"});
  } else if (path.starts_with("/auth/")) {
    response = not_found(path);
  } else {
    response = request.method == "GET" ? page(request) : method_not_allowed(request);
  }
  add_security_headers(response, sessions_.options().secure);
  return response;
}

ApiResponse UiHandler::page(const ApiRequest& request) {
  std::string_view rest = std::string_view(request.path).substr(4);  // after "/ui/"
  const UiAsset* asset = nullptr;
  std::string name;
  if (is_page(rest)) {
    name = "index.html";
  } else if (rest.starts_with("assets/") && rest.find("..") == std::string_view::npos) {
    name = std::string(rest);
  } else {
    return not_found(request.path);
  }
  asset = find_ui_asset(name);
  if (!asset) return not_found(request.path);
  ApiResponse response;
  response.content_type = ui_content_type(name);
  response.body.assign(reinterpret_cast<const char*>(asset->data), asset->size);
  return response;
}

ApiResponse UiHandler::login(const ApiRequest& request) {
  // Only a same-origin script can send JSON without a CORS preflight (which
  // this server never grants): no cross-site form can sign someone in.
  if (!is_json(request.content_type))
    return error_response({ErrorCode::invalid_argument, "send the login as application/json"});
  boost::system::error_code parse_error;
  auto body = boost::json::parse(request.body, parse_error);
  const boost::json::object* object = parse_error ? nullptr : body.if_object();
  const boost::json::value* key = object ? object->if_contains("api_key") : nullptr;
  if (!key || !key->is_string() || key->get_string().empty() || object->size() != 1)
    return error_response({ErrorCode::invalid_argument, "the body must be {\"api_key\": \"...\"}"});
  std::string presented(key->get_string());
  while (!presented.empty() && (presented.back() == ' ' || presented.back() == '\n' ||
                                presented.back() == '\r' || presented.back() == '\t'))
    presented.pop_back();
  while (!presented.empty() && (presented.front() == ' ' || presented.front() == '\t'))
    presented.erase(presented.begin());
  // Failures are audited (without the key) by the gateway.
  auto identity = gateway_.authenticate("Bearer " + presented, request.client_address);
  if (!identity) return error_response({ErrorCode::unauthenticated, "unknown API key"});
  if (identity->kind == IdentityKind::agent)
    return error_response(
        {ErrorCode::permission_denied,
         "the web UI is for people: " + identity->subject + " is an agent and uses the API"});
  // A fresh id on every login; any session this browser had ends.
  sessions_.destroy(request.cookie);
  auto created = sessions_.create(*identity, "api-key");
  ApiResponse response = json_answer(200, session_json(created.session));
  response.headers.emplace_back("Set-Cookie", created.set_cookie);
  return response;
}

ApiResponse UiHandler::session(const ApiRequest& request) {
  auto session = sessions_.find(request.cookie);
  if (!session) return error_response(session.error());
  return json_answer(200, session_json(*session));
}

ApiResponse UiHandler::logout(const ApiRequest& request) {
  if (sessions_.has_session_cookie(request.cookie)) {
    auto session = sessions_.authorize(request.cookie, request.method, request.csrf_token);
    if (!session && session.error().code == ErrorCode::permission_denied)
      return error_response(session.error());
    sessions_.destroy(request.cookie);
  }
  ApiResponse response = json_answer(200, {{"signed_out", true}});
  response.headers.emplace_back("Set-Cookie", sessions_.clear_cookie());
  return response;
}

std::optional<Result<Identity>> UiHandler::authenticate(const ApiRequest& request) {
  if (!request.authorization.empty() || !sessions_.has_session_cookie(request.cookie))
    return std::nullopt;
  auto session = sessions_.authorize(request.cookie, request.method, request.csrf_token);
  if (!session) return Result<Identity>(std::unexpected(session.error()));
  return Result<Identity>(session->identity);
}

}  // namespace countersign::server
