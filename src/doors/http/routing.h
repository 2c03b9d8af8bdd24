// The HTTP door's request model, free of any networking library: how a
// request under /http/{target}/... becomes an Action (verb from the target's
// routes or the generic `http:METHOD /path`, params from path variables,
// query, selected headers and the body), which headers travel upstream, and
// whether a response must be masked. The Beast proxy (http_door.cc) only
// moves bytes around these decisions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "config/http_target.h"
#include "core/decision.h"
#include "policy/policy.h"

namespace countersign::doors::http {

inline constexpr std::string_view kDoor = "http";
inline constexpr std::string_view kPrefix = "/http/";

using Headers = std::vector<std::pair<std::string, std::string>>;
using QueryPairs = std::vector<std::pair<std::string, std::string>>;

// "/http/storage/bucket/key?acl" -> {"storage", "/bucket/key", "acl"}.
struct SplitTarget {
  std::string target;  // decoded target name
  std::string path;    // raw (still percent-encoded) path below the target, starts with '/'
  std::string query;   // raw query without '?', may be empty
};
std::optional<SplitTarget> split_request_target(std::string_view request_target);

std::string percent_decode(std::string_view text, bool plus_is_space = false);
// Decoded pairs in order; "a&b=1" -> {("a",""),("b","1")}.
QueryPairs parse_query(std::string_view raw);

// Which route a request took and what its path variables hold.
struct RouteMatch {
  const config::HttpRouteSpec* route = nullptr;  // null: unrouted (generic verb)
  std::string verb;
  boost::json::object variables;  // decoded path variables
};

// The first route (in configuration order) whose method, path template and
// query selectors fit; else the generic verb `http:METHOD /decoded/path`.
RouteMatch match_route(const config::HttpTarget& target, std::string_view method,
                       std::string_view raw_path, const QueryPairs& query);

// What the door knows about the request body when it decides.
struct BodySummary {
  bool present = false;
  bool streamed = false;                 // larger than params_body_bytes: not read before deciding
  std::optional<std::uint64_t> bytes;    // known size (read, or Content-Length)
  std::string sha256;                    // hex, when read
  const std::string* content = nullptr;  // the body, when read
};

// params = {method, path, query, headers, <path variables>, body (selected
// JSON fields), body_sha256, body_bytes, body_streamed}. The body hash puts
// the body into the action digest: a changed body is a different action.
boost::json::object build_params(const config::HttpTarget& target, const RouteMatch& match,
                                 std::string_view method, std::string_view raw_path,
                                 const QueryPairs& query, const Headers& request_headers,
                                 const BodySummary& body);

// Headers never forwarded upstream: hop-by-hop ones, the agent's
// credentials, and what the gateway sets itself (Host, injected
// credentials). `name` is compared case-insensitively.
bool drop_request_header(const config::HttpTarget& target, std::string_view name);
// Hop-by-hop response headers (Connection, Keep-Alive, Transfer-Encoding, ...).
bool drop_response_header(std::string_view name);

// The mask profile the deciding rule named, if any: responses are masked
// only when a rule that decided the action names a profile.
std::optional<std::string> response_mask_profile(const Decision& decision,
                                                 const policy::PolicySpec& policy);

// JSON and text bodies can be masked; everything else cannot.
bool maskable_content_type(std::string_view content_type);

bool iequals(std::string_view a, std::string_view b);

}  // namespace countersign::doors::http
