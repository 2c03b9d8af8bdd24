// Identity v1: static API keys from configuration. Keys are held only as
// SHA-256 hashes; a presented key is hashed and compared against every entry
// in constant time, so neither the keys nor their position leak through
// timing. This module never logs or returns a presented key.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/identity.h"

namespace countersign::identity {

struct ApiKey {
  std::string name;        // label for operators ("demo-agent"), never the key
  std::string key_sha256;  // lowercase hex SHA-256 of the key
  Identity identity;
};

class ApiKeyDirectory {
 public:
  ApiKeyDirectory() = default;
  explicit ApiKeyDirectory(std::vector<ApiKey> keys);

  // The identity for a presented bearer key, or unauthenticated.
  Result<Identity> authenticate(std::string_view presented_key) const;

  // The configured identity with this subject (for channel user mapping).
  std::optional<Identity> find_subject(std::string_view subject) const;

  std::size_t size() const { return keys_.size(); }

 private:
  std::vector<ApiKey> keys_;
};

// Reads the token from an "Authorization: Bearer <token>" header value.
std::optional<std::string_view> bearer_token(std::string_view authorization_header);

}  // namespace countersign::identity
