// The one uniform request every door produces: who wants to do what, where.
// An Action is described once, decided once, and bound to its digest; any
// change to actor, door, target, verb or params makes a different action.
#pragma once

#include <optional>
#include <string>

#include <boost/json/value.hpp>

#include "core/clock.h"
#include "core/error.h"
#include "core/identity.h"

namespace countersign {

struct Action {
  std::string id;        // unique per request ("act_...")
  Identity actor;
  std::string door;      // "actions", "mcp", "http", "postgres"
  std::string target;    // a configured target name
  std::string verb;      // "exec:terraform-apply", "tools/call:delete_file", "sql:DROP"
  boost::json::value params = boost::json::object();
  std::optional<std::string> reason;
  std::optional<std::string> session;
  std::string client_address;
  Millis time = 0;
};

// Lowercase hex SHA-256 of the JCS form of
// {"actor": subject, "door", "target", "verb", "params"}.
Result<std::string> action_digest(const Action& action);

}  // namespace countersign
