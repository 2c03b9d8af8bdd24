// AWS Signature Version 4 (header signing), as specified in AWS's "Create a
// signed AWS API request" and checked against AWS's published SigV4 test
// suite. Pure functions over strings; OpenSSL for SHA-256 and HMAC.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace countersign::doors::http::sigv4 {

inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
};

struct Request {
  std::string method;
  std::string path;   // as sent on the wire (percent-encoded), e.g. "/bucket/my%20key"
  std::string query;  // raw query string without '?', as sent
  // Headers to sign (the caller picks them; Host must be among them).
  // Repeated names are joined with ',' in order, as the suite requires.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256;  // lowercase hex, or kUnsignedPayload
};

struct Scope {
  std::string region;
  std::string service;
  std::string amz_date;  // "20150830T123600Z"
};

struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;       // lowercase hex
  std::string signed_headers;  // "host;x-amz-date"
  std::string authorization;   // the Authorization header value
};

// RFC 3986 encoding of everything but unreserved characters (A-Z a-z 0-9 - . _ ~);
// '/' kept when `keep_slash`.
std::string uri_encode(std::string_view bytes, bool keep_slash);

// The canonical URI. S3 (`double_encode` false, `normalize` false) signs the
// path as sent; other services normalize dot segments and repeated slashes
// and encode the (already encoded) path a second time.
std::string canonical_uri(std::string_view wire_path, bool normalize, bool double_encode);
std::string canonical_query(std::string_view raw_query);

// Signs `request`. `request.headers` must already include x-amz-date (and
// x-amz-security-token / x-amz-content-sha256 when they are sent).
Signed sign(const Request& request, const Credentials& credentials, const Scope& scope);

// "20150830T123600Z" from Unix milliseconds.
std::string amz_date(long long unix_millis);

}  // namespace countersign::doors::http::sigv4
