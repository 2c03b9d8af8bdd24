#include "core/identity.h"

#include <algorithm>

namespace countersign {

std::string_view identity_kind_name(IdentityKind kind) {
  switch (kind) {
    case IdentityKind::agent: return "agent";
    case IdentityKind::human: return "human";
    case IdentityKind::service: return "service";
  }
  return "agent";
}

std::optional<IdentityKind> parse_identity_kind(std::string_view name) {
  if (name == "agent") return IdentityKind::agent;
  if (name == "human") return IdentityKind::human;
  if (name == "service") return IdentityKind::service;
  return std::nullopt;
}

bool Identity::in_group(std::string_view group) const {
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

boost::json::object to_json(const Identity& identity) {
  boost::json::object out;
  out["subject"] = identity.subject;
  out["issuer"] = identity.issuer;
  out["kind"] = identity_kind_name(identity.kind);
  boost::json::array groups;
  for (const auto& group : identity.groups) groups.emplace_back(group);
  out["groups"] = std::move(groups);
  if (identity.email) out["email"] = *identity.email;
  if (identity.on_behalf_of) out["on_behalf_of"] = *identity.on_behalf_of;
  return out;
}

Identity identity_from_json(const boost::json::object& object) {
  Identity identity;
  auto text = [&](const char* key) -> std::string {
    auto* value = object.if_contains(key);
    return value && value->is_string() ? std::string(value->get_string()) : std::string();
  };
  identity.subject = text("subject");
  identity.issuer = text("issuer");
  identity.kind = parse_identity_kind(text("kind")).value_or(IdentityKind::agent);
  if (auto* groups = object.if_contains("groups"); groups && groups->is_array()) {
    for (const auto& group : groups->get_array())
      if (group.is_string()) identity.groups.emplace_back(group.get_string());
  }
  if (auto email = text("email"); !email.empty()) identity.email = email;
  if (auto behalf = text("on_behalf_of"); !behalf.empty()) identity.on_behalf_of = behalf;
  return identity;
}

}  // namespace countersign
