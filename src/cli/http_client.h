// A small blocking HTTP/1.1 client for the command line: one request per
// connection, JSON in and out. Kept out of the server so the CLI's needs
// (blocking, simple) do not shape the gateway's (async, many connections).
#pragma once

#include <string>

#include "core/error.h"

namespace countersign::cli {

struct HttpReply {
  unsigned status = 0;
  std::string body;
  std::string location;
};

// `base_url` like "http://127.0.0.1:8080"; `target` like "/v1/reviews?state=pending".
// Fails with unavailable when the server cannot be reached in `timeout_seconds`.
Result<HttpReply> http_call(const std::string& base_url, const std::string& method,
                            const std::string& target, const std::string& token,
                            const std::string& body, int timeout_seconds = 60);

}  // namespace countersign::cli
