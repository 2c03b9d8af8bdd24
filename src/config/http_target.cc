#include "config/http_target.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "config/yaml_reader.h"

namespace countersign::config {
namespace {

// Names the door itself puts into params; path variables may not shadow them.
const std::set<std::string> kReservedParams = {
    "method", "path", "query", "headers", "body", "body_sha256", "body_bytes", "body_streamed"};

bool is_token(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos)
      return false;
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

Millis positive_duration(const Reader& reader, const YAML::Node& node, std::string_view what) {
  Millis value = reader.duration(node, what);
  if (value <= 0) reader.fail_at(node, fmt::format("{} must be positive", what));
  return value;
}

void read_credentials(const Reader& reader, const YAML::Node& node, HttpCredentialSpec& spec) {
  reader.expect_keys(node, "credentials", {"bearer", "basic", "header", "aws_sigv4"});
  if (node.size() != 1)
    reader.fail_at(node, "credentials: give exactly one of bearer, basic, header, aws_sigv4");
  if (node["bearer"]) {
    spec.kind = HttpCredentialSpec::Kind::bearer;
    spec.token = reader.secret(node["bearer"], "credentials.bearer");
  } else if (const auto& basic = node["basic"]) {
    reader.expect_keys(basic, "credentials.basic", {"username", "password"});
    if (!basic["username"] || !basic["password"])
      reader.fail_at(basic, "credentials.basic needs username and password");
    spec.kind = HttpCredentialSpec::Kind::basic;
    spec.username = reader.text(basic["username"], "credentials.basic.username");
    if (spec.username.find(':') != std::string::npos)
      reader.fail_at(basic["username"], "credentials.basic.username may not contain ':'");
    spec.password = reader.secret(basic["password"], "credentials.basic.password");
  } else if (const auto& header = node["header"]) {
    reader.expect_keys(header, "credentials.header", {"name", "value"});
    if (!header["name"] || !header["value"])
      reader.fail_at(header, "credentials.header needs name and value");
    spec.kind = HttpCredentialSpec::Kind::header;
    spec.header_name = reader.text(header["name"], "credentials.header.name");
    if (!is_token(spec.header_name))
      reader.fail_at(header["name"],
                     fmt::format("'{}' is not a valid header name", spec.header_name));
    std::string lower = spec.header_name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower == "host" || lower == "content-length" || lower == "transfer-encoding" ||
        lower == "connection")
      reader.fail_at(header["name"],
                     fmt::format("credentials.header cannot set {}", spec.header_name));
    spec.header_value = reader.secret(header["value"], "credentials.header.value");
  } else if (const auto& aws = node["aws_sigv4"]) {
    reader.expect_keys(
        aws, "credentials.aws_sigv4",
        {"access_key_id", "secret_access_key", "session_token", "region", "service"});
    for (const char* key : {"access_key_id", "secret_access_key", "region", "service"})
      if (!aws[key]) reader.fail_at(aws, fmt::format("credentials.aws_sigv4 needs {}", key));
    spec.kind = HttpCredentialSpec::Kind::aws_sigv4;
    spec.access_key_id = reader.secret(aws["access_key_id"], "aws_sigv4.access_key_id");
    spec.secret_access_key = reader.secret(aws["secret_access_key"], "aws_sigv4.secret_access_key");
    if (aws["session_token"])
      spec.session_token = reader.secret(aws["session_token"], "aws_sigv4.session_token");
    spec.region = reader.text(aws["region"], "aws_sigv4.region");
    spec.service = reader.text(aws["service"], "aws_sigv4.service");
    for (const std::string* part : {&spec.region, &spec.service})
      if (part->empty() || part->find_first_of("/ \t") != std::string::npos)
        reader.fail_at(aws, fmt::format("aws_sigv4: bad region or service '{}'", *part));
  }
}

}  // namespace

Result<void> parse_upstream(const std::string& url, HttpTarget& target) {
  std::string_view rest = url;
  if (rest.starts_with("http://")) {
    target.scheme = "http";
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    target.scheme = "https";
    rest.remove_prefix(8);
  } else {
    return fail(ErrorCode::invalid_argument,
                fmt::format("upstream '{}' must start with http:// or https://", url));
  }
  std::size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (path.find_first_of("?#") != std::string_view::npos)
    return fail(ErrorCode::invalid_argument,
                fmt::format("upstream '{}': a base URL has no query or fragment", url));
  if (authority.find('@') != std::string_view::npos)
    return fail(ErrorCode::invalid_argument,
                "upstream: credentials do not belong in the URL; use credentials:");
  std::string_view port_text;
  if (authority.starts_with("[")) {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return fail(ErrorCode::invalid_argument, fmt::format("upstream '{}': bad IPv6 host", url));
    target.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':')
        return fail(ErrorCode::invalid_argument, fmt::format("upstream '{}': bad host", url));
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    target.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (target.host.empty())
    return fail(ErrorCode::invalid_argument, fmt::format("upstream '{}' has no host", url));
  target.port = target.scheme == "https" ? 443 : 80;
  if (!port_text.empty()) {
    int port = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || port > 65535)
        return fail(ErrorCode::invalid_argument, fmt::format("upstream '{}': bad port", url));
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535)
      return fail(ErrorCode::invalid_argument, fmt::format("upstream '{}': bad port", url));
    target.port = port;
  }
  std::string base(path);
  while (!base.empty() && base.back() == '/') base.pop_back();
  target.base_path = base;
  target.upstream = url;
  return {};
}

Result<HttpRouteSpec> parse_route_match(const std::string& text) {
  HttpRouteSpec route;
  route.text = text;
  auto space = text.find(' ');
  if (space == std::string::npos)
    return fail(
        ErrorCode::invalid_argument,
        fmt::format("route '{}' must be 'METHOD /path[?query]', e.g. 'PUT /{{bucket}}?policy'",
                    text));
  route.method = text.substr(0, space);
  std::string_view rest = std::string_view(text).substr(space + 1);
  while (rest.starts_with(' ')) rest.remove_prefix(1);
  if (route.method != "*") {
    if (!is_token(route.method))
      return fail(ErrorCode::invalid_argument, fmt::format("route '{}': bad method", text));
    std::transform(route.method.begin(), route.method.end(), route.method.begin(),
                   [](unsigned char c) { return std::toupper(c); });
  }
  auto question = rest.find('?');
  std::string_view path = rest.substr(0, question);
  std::string_view query =
      question == std::string_view::npos ? std::string_view() : rest.substr(question + 1);
  if (!path.starts_with('/'))
    return fail(ErrorCode::invalid_argument,
                fmt::format("route '{}': the path must start with '/'", text));
  if (path.find(' ') != std::string_view::npos)
    return fail(ErrorCode::invalid_argument, fmt::format("route '{}': spaces in the path", text));
  std::set<std::string> names;
  std::size_t start = 1;
  if (path.size() > 1 && path.back() == '/') route.trailing_slash = true;
  std::string_view body = route.trailing_slash ? path.substr(0, path.size() - 1) : path;
  while (start <= body.size() && body.size() > 1) {
    std::size_t end = body.find('/', start);
    if (end == std::string_view::npos) end = body.size();
    std::string_view segment = body.substr(start, end - start);
    if (segment.empty())
      return fail(ErrorCode::invalid_argument, fmt::format("route '{}': empty path segment", text));
    if (!route.path.empty() && route.path.back().kind == PathSegment::Kind::rest)
      return fail(ErrorCode::invalid_argument,
                  fmt::format("route '{}': {{name+}} must be the last segment", text));
    PathSegment part;
    if (segment.starts_with('{')) {
      if (!segment.ends_with('}') || segment.size() < 3)
        return fail(ErrorCode::invalid_argument,
                    fmt::format("route '{}': bad variable '{}'", text, segment));
      std::string name(segment.substr(1, segment.size() - 2));
      part.kind = PathSegment::Kind::variable;
      if (name.ends_with('+')) {
        name.pop_back();
        part.kind = PathSegment::Kind::rest;
      }
      if (name.empty() ||
          !std::all_of(name.begin(), name.end(),
                       [](unsigned char c) { return std::isalnum(c) || c == '_'; }) ||
          std::isdigit(static_cast<unsigned char>(name[0])))
        return fail(ErrorCode::invalid_argument,
                    fmt::format("route '{}': variable names are letters, digits and _", text));
      if (kReservedParams.contains(name))
        return fail(ErrorCode::invalid_argument,
                    fmt::format("route '{}': '{}' is a reserved params name", text, name));
      if (!names.insert(name).second)
        return fail(ErrorCode::invalid_argument,
                    fmt::format("route '{}': '{}' appears twice", text, name));
      part.text = std::move(name);
    } else {
      if (segment.find_first_of("{}") != std::string_view::npos)
        return fail(ErrorCode::invalid_argument,
                    fmt::format("route '{}': a variable must fill a whole segment", text));
      part.text = decode(segment);
    }
    route.path.push_back(std::move(part));
    start = end + 1;
  }
  if (route.trailing_slash && !route.path.empty() &&
      route.path.back().kind == PathSegment::Kind::rest)
    return fail(ErrorCode::invalid_argument,
                fmt::format("route '{}': nothing may follow {{name+}}", text));
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    auto equals = item.find('=');
    if (equals == std::string_view::npos)
      route.query.emplace_back(decode(item), std::nullopt);
    else
      route.query.emplace_back(decode(item.substr(0, equals)), decode(item.substr(equals + 1)));
  }
  return route;
}

std::shared_ptr<const HttpTarget> read_http_target(const Reader& reader, const YAML::Node& body,
                                                   const std::string& target_name) {
  reader.expect_keys(body, fmt::format("target '{}' http", target_name),
                     {"upstream", "credentials", "tls", "timeouts", "max_body_bytes",
                      "params_body_bytes", "param_headers", "unmaskable", "mask_max_bytes",
                      "websocket", "max_idle_connections", "routes"});
  auto http = std::make_shared<HttpTarget>();
  if (!body["upstream"])
    reader.fail_at(body,
                   fmt::format("target '{}': http.upstream (a URL) is required", target_name));
  if (auto parsed = parse_upstream(reader.text(body["upstream"], "upstream"), *http); !parsed)
    reader.fail_at(body["upstream"], parsed.error().message);
  if (body["credentials"]) read_credentials(reader, body["credentials"], http->credentials);
  if (const auto& tls = body["tls"]) {
    reader.expect_keys(tls, "tls", {"verify", "ca_file"});
    if (tls["verify"]) http->verify_tls = reader.boolean(tls["verify"], "tls.verify");
    if (tls["ca_file"]) {
      std::filesystem::path file = reader.text(tls["ca_file"], "tls.ca_file");
      if (file.is_relative()) file = std::filesystem::path(reader.file()).parent_path() / file;
      http->ca_file = file.string();
    }
  }
  if (const auto& timeouts = body["timeouts"]) {
    reader.expect_keys(timeouts, "timeouts", {"connect", "response", "idle"});
    if (timeouts["connect"])
      http->connect_timeout = positive_duration(reader, timeouts["connect"], "timeouts.connect");
    if (timeouts["response"])
      http->response_timeout = positive_duration(reader, timeouts["response"], "timeouts.response");
    if (timeouts["idle"])
      http->idle_timeout = positive_duration(reader, timeouts["idle"], "timeouts.idle");
  }
  if (body["max_body_bytes"])
    http->max_body_bytes = static_cast<std::uint64_t>(
        reader.integer(body["max_body_bytes"], "max_body_bytes", 0, 1LL << 50));
  if (body["params_body_bytes"])
    http->params_body_bytes = static_cast<std::size_t>(
        reader.integer(body["params_body_bytes"], "params_body_bytes", 0, 64LL << 20));
  if (body["mask_max_bytes"])
    http->mask_max_bytes = static_cast<std::size_t>(
        reader.integer(body["mask_max_bytes"], "mask_max_bytes", 1024, 256LL << 20));
  if (body["max_idle_connections"])
    http->max_idle_connections = static_cast<std::size_t>(
        reader.integer(body["max_idle_connections"], "max_idle_connections", 0, 100000));
  if (body["param_headers"]) {
    http->param_headers = reader.strings(body["param_headers"], "param_headers");
    for (auto& name : http->param_headers) {
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      std::string bare = name.ends_with('*') ? name.substr(0, name.size() - 1) : name;
      if (!bare.empty() && !is_token(bare))
        reader.fail_at(body["param_headers"],
                       fmt::format("param_headers: bad header name '{}'", name));
    }
  }
  if (body["unmaskable"]) {
    std::string mode = reader.text(body["unmaskable"], "unmaskable");
    if (mode != "pass" && mode != "refuse")
      reader.fail_at(body["unmaskable"], "unmaskable must be pass or refuse");
    http->refuse_unmaskable = mode == "refuse";
  }
  if (body["websocket"]) http->websocket = reader.boolean(body["websocket"], "websocket");
  if (const auto& routes = body["routes"]) {
    if (!routes.IsSequence()) reader.fail_at(routes, "routes must be a list");
    for (const auto& item : routes) {
      reader.expect_keys(item, "a route", {"match", "verb", "body"});
      if (!item["match"] || !item["verb"]) reader.fail_at(item, "a route needs match and verb");
      auto route = parse_route_match(reader.text(item["match"], "match"));
      if (!route) reader.fail_at(item["match"], route.error().message);
      route->verb = reader.text(item["verb"], "verb");
      if (route->verb.empty() || route->verb.size() > 256)
        reader.fail_at(item["verb"], "verb must be 1 to 256 characters");
      if (item["body"]) {
        route->body_fields = reader.strings(item["body"], "body");
        for (const auto& field : route->body_fields)
          if (field.empty() || field.front() == '.' || field.back() == '.' ||
              field.find("..") != std::string::npos)
            reader.fail_at(item["body"], fmt::format("body: bad field path '{}'", field));
      }
      route->location = reader.where(item);
      http->routes.push_back(std::move(*route));
    }
  }
  return http;
}

}  // namespace countersign::config
