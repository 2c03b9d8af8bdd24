// Credential injection: the headers the gateway adds to an upstream request
// so that the agent never holds the target's credentials. Secrets are read
// from their env:/file: references (cached briefly, so rotation is picked
// up) and never appear in errors or logs.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/http_target.h"
#include "core/clock.h"
#include "core/error.h"

namespace countersign::doors::http {

// What the signer needs to know about the request going upstream.
struct UpstreamRequest {
  std::string method;
  std::string path;   // full upstream path as sent (base path included), percent-encoded
  std::string query;  // raw, without '?'
  std::string host;   // the Host header value
  // Headers already on the request (for SigV4: x-amz-* and content-type are signed).
  std::vector<std::pair<std::string, std::string>> headers;
  // Hex SHA-256 of the body when the whole body is known; empty when it is
  // streamed (SigV4 then signs UNSIGNED-PAYLOAD, which S3 accepts).
  std::string payload_sha256;
  bool has_body = false;
};

class CredentialInjector {
 public:
  explicit CredentialInjector(const config::HttpCredentialSpec& spec, Millis cache_for = 60'000)
      : spec_(spec), cache_for_(cache_for) {}

  // The headers to add (name, value). Errors name the secret reference.
  Result<std::vector<std::pair<std::string, std::string>>> headers(const UpstreamRequest& request,
                                                                   Millis now);

 private:
  Result<void> refresh(Millis now);

  const config::HttpCredentialSpec& spec_;
  Millis cache_for_;
  Millis loaded_at_ = -1;
  std::string primary_;    // token / password / header value / access key id
  std::string secondary_;  // secret access key
  std::string session_;    // session token
  std::string basic_;      // prepared "Basic ..." value
};

std::string base64_encode(std::string_view bytes);

}  // namespace countersign::doors::http
