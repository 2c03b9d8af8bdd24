#include "server/ui_handler.h"

#include <cctype>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

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
  return options;
}

bool UiHandler::owns(std::string_view path) { return path == "/ui" || path.starts_with("/ui/"); }

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
  } else if (path == "/ui/logout") {
    response = request.method == "POST" ? logout(request) : method_not_allowed(request);
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
