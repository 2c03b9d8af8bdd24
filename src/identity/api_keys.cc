#include "identity/api_keys.h"

#include "core/hash.h"

namespace countersign::identity {

ApiKeyDirectory::ApiKeyDirectory(std::vector<ApiKey> keys) : keys_(std::move(keys)) {}

Result<Identity> ApiKeyDirectory::authenticate(std::string_view presented_key) const {
  if (presented_key.empty()) return fail(ErrorCode::unauthenticated, "missing API key");
  const std::string presented_hash = sha256_hex(presented_key);
  // Scan every entry without stopping early: the time taken does not depend
  // on which entry (if any) matches.
  const ApiKey* found = nullptr;
  for (const auto& key : keys_) {
    if (constant_time_equal(presented_hash, key.key_sha256) && found == nullptr) found = &key;
  }
  if (found == nullptr) return fail(ErrorCode::unauthenticated, "unknown or invalid API key");
  return found->identity;
}

std::optional<Identity> ApiKeyDirectory::find_subject(std::string_view subject) const {
  for (const auto& key : keys_)
    if (key.identity.subject == subject) return key.identity;
  return std::nullopt;
}

std::optional<std::string_view> bearer_token(std::string_view header) {
  constexpr std::string_view prefix = "Bearer ";
  if (header.size() <= prefix.size()) return std::nullopt;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return std::nullopt;
  }
  std::string_view token = header.substr(prefix.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace countersign::identity
