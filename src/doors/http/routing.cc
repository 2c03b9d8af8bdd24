#include "doors/http/routing.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/canonical_json.h"

namespace countersign::doors::http {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Raw path segments after the leading '/': "/a//b/" -> {"a", "", "b", ""}.
std::vector<std::string_view> raw_segments(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.starts_with('/')) path.remove_prefix(1);
  if (path.empty()) return out;
  std::size_t start = 0;
  for (;;) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      out.push_back(path.substr(start));
      break;
    }
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool path_matches(const config::HttpRouteSpec& route, std::string_view raw_path,
                  boost::json::object& variables) {
  auto segments = raw_segments(raw_path);
  // A trailing slash is part of the shape: "/{bucket}/" differs from "/{bucket}".
  bool trailing = !segments.empty() && segments.back().empty();
  if (trailing) segments.pop_back();
  const auto& parts = route.path;
  const bool has_rest = !parts.empty() && parts.back().kind == config::PathSegment::Kind::rest;
  if (!has_rest) {
    if (trailing != route.trailing_slash || segments.size() != parts.size()) return false;
  } else if (segments.size() < parts.size()) {
    return false;
  }
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& part = parts[i];
    if (part.kind == config::PathSegment::Kind::rest) {
      // The rest of the raw path from this segment on, slashes and all.
      std::string rest;
      for (std::size_t j = i; j < segments.size(); ++j) {
        if (j > i) rest.push_back('/');
        rest += segments[j];
      }
      if (trailing) rest.push_back('/');
      if (rest.empty()) return false;
      variables[part.text] = percent_decode(rest);
      return true;
    }
    if (segments[i].empty()) return false;
    std::string value = percent_decode(segments[i]);
    if (part.kind == config::PathSegment::Kind::literal) {
      if (value != part.text) return false;
    } else {
      variables[part.text] = value;
    }
  }
  return true;
}

bool query_matches(const config::HttpRouteSpec& route, const QueryPairs& query) {
  for (const auto& [key, value] : route.query) {
    bool found = false;
    for (const auto& [k, v] : query)
      if (k == key && (!value || v == *value)) found = true;
    if (!found) return false;
  }
  return true;
}

// Copies the field at dotted `path` of `from` into `into` at the same path.
void copy_field(const boost::json::object& from, std::string_view path, boost::json::object& into) {
  const boost::json::object* source = &from;
  boost::json::object* target = &into;
  for (;;) {
    auto dot = path.find('.');
    std::string_view key = path.substr(0, dot);
    const boost::json::value* value = source->if_contains(key);
    if (value == nullptr) return;
    if (dot == std::string_view::npos) {
      (*target)[key] = *value;
      return;
    }
    if (!value->is_object()) return;
    source = &value->get_object();
    boost::json::value& next = (*target)[key];
    if (!next.is_object()) next = boost::json::object();
    target = &next.get_object();
    path.remove_prefix(dot + 1);
  }
}

bool header_selected(const std::vector<std::string>& patterns, const std::string& name) {
  for (const auto& pattern : patterns) {
    if (pattern.ends_with('*')
            ? name.starts_with(std::string_view(pattern).substr(0, pattern.size() - 1))
            : name == pattern)
      return true;
  }
  return false;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

QueryPairs parse_query(std::string_view raw) {
  QueryPairs pairs;
  while (!raw.empty()) {
    auto amp = raw.find('&');
    std::string_view item = raw.substr(0, amp);
    raw = amp == std::string_view::npos ? std::string_view() : raw.substr(amp + 1);
    if (item.empty()) continue;
    auto equals = item.find('=');
    if (equals == std::string_view::npos)
      pairs.emplace_back(percent_decode(item, true), std::string());
    else
      pairs.emplace_back(percent_decode(item.substr(0, equals), true),
                         percent_decode(item.substr(equals + 1), true));
  }
  return pairs;
}

std::optional<SplitTarget> split_request_target(std::string_view request_target) {
  if (!request_target.starts_with(kPrefix)) return std::nullopt;
  request_target.remove_prefix(kPrefix.size());
  auto question = request_target.find('?');
  std::string_view path = request_target.substr(0, question);
  SplitTarget split;
  if (question != std::string_view::npos)
    split.query = std::string(request_target.substr(question + 1));
  auto slash = path.find('/');
  split.target = percent_decode(path.substr(0, slash));
  if (split.target.empty()) return std::nullopt;
  split.path = slash == std::string_view::npos ? "/" : std::string(path.substr(slash));
  return split;
}

RouteMatch match_route(const config::HttpTarget& target, std::string_view method,
                       std::string_view raw_path, const QueryPairs& query) {
  RouteMatch match;
  for (const auto& route : target.routes) {
    if (route.method != "*" && route.method != method) continue;
    boost::json::object variables;
    if (!path_matches(route, raw_path, variables) || !query_matches(route, query)) continue;
    match.route = &route;
    match.verb = route.verb;
    match.variables = std::move(variables);
    return match;
  }
  match.verb = fmt::format("http:{} {}", method, percent_decode(raw_path));
  if (match.verb.size() > 256) match.verb.resize(256);
  return match;
}

boost::json::object build_params(const config::HttpTarget& target, const RouteMatch& match,
                                 std::string_view method, std::string_view raw_path,
                                 const QueryPairs& query, const Headers& request_headers,
                                 const BodySummary& body) {
  boost::json::object params = match.variables;
  params["method"] = method;
  params["path"] = percent_decode(raw_path);
  boost::json::object query_object;
  for (const auto& [key, value] : query) {
    auto* existing = query_object.if_contains(key);
    if (existing == nullptr) {
      query_object[key] = value;
    } else if (existing->is_array()) {
      existing->get_array().emplace_back(value);
    } else {
      boost::json::array both{*existing, boost::json::value(value)};
      *existing = std::move(both);
    }
  }
  params["query"] = std::move(query_object);
  boost::json::object headers;
  for (const auto& [name, value] : request_headers) {
    std::string key = lower(name);
    if (!header_selected(target.param_headers, key) || drop_request_header(target, key)) continue;
    auto* existing = headers.if_contains(key);
    if (existing)
      *existing = std::string(existing->get_string()) + "," + value;
    else
      headers[key] = value;
  }
  if (!headers.empty()) params["headers"] = std::move(headers);
  if (body.present) {
    if (body.bytes) params["body_bytes"] = static_cast<std::int64_t>(*body.bytes);
    if (body.streamed) {
      params["body_streamed"] = true;
    } else {
      params["body_sha256"] = body.sha256;
      if (match.route && !match.route->body_fields.empty() && body.content) {
        auto parsed = parse_json(*body.content);
        if (parsed && parsed->is_object()) {
          boost::json::object selected;
          for (const auto& field : match.route->body_fields)
            copy_field(parsed->get_object(), field, selected);
          params["body"] = std::move(selected);
        }
      }
    }
  }
  return params;
}

bool drop_request_header(const config::HttpTarget& target, std::string_view name) {
  static const char* const kDropped[] = {"connection",
                                         "keep-alive",
                                         "proxy-connection",
                                         "proxy-authorization",
                                         "proxy-authenticate",
                                         "te",
                                         "trailer",
                                         "transfer-encoding",
                                         "upgrade",
                                         "host",
                                         "authorization",
                                         "expect",
                                         "content-length"};
  for (const char* dropped : kDropped)
    if (iequals(name, dropped)) return true;
  if (name.size() >= 14 && iequals(name.substr(0, 14), "x-countersign-")) return true;
  const auto& credentials = target.credentials;
  if (credentials.kind == config::HttpCredentialSpec::Kind::header &&
      iequals(name, credentials.header_name))
    return true;
  if (credentials.kind == config::HttpCredentialSpec::Kind::aws_sigv4 &&
      (iequals(name, "x-amz-date") || iequals(name, "x-amz-content-sha256") ||
       iequals(name, "x-amz-security-token")))
    return true;
  return false;
}

bool drop_response_header(std::string_view name) {
  static const char* const kDropped[] = {"connection", "keep-alive",        "proxy-connection",
                                         "te",         "trailer",           "transfer-encoding",
                                         "upgrade",    "proxy-authenticate"};
  for (const char* dropped : kDropped)
    if (iequals(name, dropped)) return true;
  return false;
}

std::optional<std::string> response_mask_profile(const Decision& decision,
                                                 const policy::PolicySpec& policy) {
  for (const auto& rule : policy.rules) {
    if (rule.mask_profile.empty() || rule.effect != decision.effect) continue;
    if (std::find(decision.rules.begin(), decision.rules.end(), rule.id) != decision.rules.end())
      return rule.mask_profile;
  }
  return std::nullopt;
}

bool maskable_content_type(std::string_view content_type) {
  std::string type = lower(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type.starts_with("text/") || type == "application/json" || type.ends_with("+json") ||
         type == "application/x-ndjson" || type == "application/xml" || type.ends_with("+xml") ||
         type == "application/x-www-form-urlencoded";
}

}  // namespace countersign::doors::http
