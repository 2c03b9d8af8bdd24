// The `door: http` target section: an upstream HTTP(S) API fronted by the
// HTTP door (src/doors/http). Parsed here so mistakes are load errors with
// file:line; matching and proxying live in the door.
//
//   targets:
//     storage:
//       door: http
//       http:
//         upstream: https://s3.eu-west-1.amazonaws.com
//         credentials: {aws_sigv4: {access_key_id: env:AWS_ACCESS_KEY_ID,
//                                   secret_access_key: env:AWS_SECRET_ACCESS_KEY,
//                                   region: eu-west-1, service: s3}}
//         routes:
//           - {match: "PUT /{bucket}?policy", verb: "http:PutBucketPolicy", body: [Statement]}
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"

namespace countersign::config {

class Reader;

// One segment of a route's path template: a literal, `{name}` (one segment)
// or `{name+}` (the rest of the path, slashes included; last only).
struct PathSegment {
  enum class Kind { literal, variable, rest };
  Kind kind = Kind::literal;
  std::string text;  // the literal (percent-decoded) or the variable name
};

struct HttpRouteSpec {
  std::string method;  // upper case, or "*" for any
  std::vector<PathSegment> path;
  bool trailing_slash = false;  // the template ends in '/' (e.g. "/{bucket}/")
  // Query selectors: `?policy` (key present) or `?list-type=2` (key = value).
  std::vector<std::pair<std::string, std::optional<std::string>>> query;
  std::string verb;                      // e.g. "http:PutBucketPolicy"
  std::vector<std::string> body_fields;  // dotted paths into a JSON body, copied to params.body
  std::string text;                      // the `match:` text as written, for messages
  SourceLocation location;
};

struct HttpCredentialSpec {
  enum class Kind { none, bearer, basic, header, aws_sigv4 };
  Kind kind = Kind::none;
  SecretRef token;                         // bearer
  std::string username;                    // basic (not a secret)
  SecretRef password;                      // basic
  std::string header_name;                 // header
  SecretRef header_value;                  // header
  SecretRef access_key_id;                 // aws_sigv4
  SecretRef secret_access_key;             // aws_sigv4
  std::optional<SecretRef> session_token;  // aws_sigv4, temporary credentials
  std::string region;                      // aws_sigv4
  std::string service;                     // aws_sigv4 ("s3" signs paths as S3 does)
};

struct HttpTarget {
  std::string upstream;  // as written: "https://api.example.com/base"
  std::string scheme;    // "http" | "https"
  std::string host;      // host name or address (no brackets)
  int port = 0;
  std::string base_path;  // "" or "/base" (no trailing slash)
  bool verify_tls = true;
  std::string ca_file;  // extra trust anchors (PEM); empty = system store
  HttpCredentialSpec credentials;
  Millis connect_timeout = 5'000;             // TCP connect + TLS handshake
  Millis response_timeout = 30'000;           // request sent -> response header received
  Millis idle_timeout = 60'000;               // longest pause inside a body, either way
  std::uint64_t max_body_bytes = 1ULL << 30;  // request bodies above are refused (413)
  std::size_t params_body_bytes = 64 * 1024;  // bodies up to this are hashed/parsed into params
  std::vector<std::string> param_headers = {"content-type",
                                            "x-amz-acl"};  // lower case; "x-*" globs
  bool refuse_unmaskable = true;           // masked responses that are neither JSON nor text
  std::size_t mask_max_bytes = 1 << 20;    // largest response body masked in memory
  bool websocket = true;                   // pass `Upgrade: websocket` through when allowed
  std::size_t max_idle_connections = 256;  // kept-alive upstream connections per target
  std::vector<HttpRouteSpec> routes;
};

// Reads a target's `http:` section. Throws ConfigError with file:line.
std::shared_ptr<const HttpTarget> read_http_target(const Reader& reader, const YAML::Node& node,
                                                   const std::string& target_name);

// Parses "PUT /{bucket}/{key+}?policy&list-type=2" (for tests and tools).
Result<HttpRouteSpec> parse_route_match(const std::string& text);

// Parses an upstream base URL into scheme/host/port/base_path.
Result<void> parse_upstream(const std::string& url, HttpTarget& target);

}  // namespace countersign::config
