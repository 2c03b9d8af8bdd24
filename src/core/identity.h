// Who is acting. An Identity is established by the identity module (API key,
// later OIDC) and never taken from what a caller claims about itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace countersign {

enum class IdentityKind { agent, human, service };

std::string_view identity_kind_name(IdentityKind kind);
std::optional<IdentityKind> parse_identity_kind(std::string_view name);

struct Identity {
  std::string subject;  // stable unique id, e.g. "alice@example.com" or "agent:ci-bot"
  std::string issuer;   // "api-key" or an OIDC issuer URL
  IdentityKind kind = IdentityKind::agent;
  std::vector<std::string> groups;
  std::optional<std::string> email;
  std::optional<std::string> on_behalf_of;  // the human an agent acts for

  bool in_group(std::string_view group) const;
};

boost::json::object to_json(const Identity& identity);
// Inverse of to_json, for identities read back from storage.
Identity identity_from_json(const boost::json::object& object);

}  // namespace countersign
