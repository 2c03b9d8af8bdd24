// The Actions door: the plain REST and exec entry point. A pipeline or agent
// posts {target, verb, params, reason}; the door turns it into an
// ActionRequest and, once the gateway says the action may execute, performs
// it. For this door "performing" means releasing the target's secrets for
// one run (what `countersign exec` hands to the approved command). It must
// never release secrets for an outcome that is not allowed to execute.
#pragma once

#include <map>
#include <string>

#include <boost/json/value.hpp>

#include "config/config.h"
#include "gateway/gateway.h"

namespace countersign::doors::actions {

inline constexpr std::string_view kDoor = "actions";

// Validates the request body: target and verb strings, params an object,
// reason an optional string, nothing else.
Result<gateway::ActionRequest> parse_action_request(const boost::json::value& body,
                                                    const std::string& client_address);

// Resolves every secret of the target (env:/file:) so a misconfiguration is
// found before a grant is spent. Error messages name references, not values.
Result<std::map<std::string, std::string>> resolve_target_secrets(const config::Target& target);

// The JSON answer for an outcome; `secrets` are included only when the
// outcome may execute.
boost::json::object outcome_json(const gateway::Outcome& outcome,
                                  const std::map<std::string, std::string>& secrets,
                                  const std::string& public_url);

// Where a review stands, for answers about a held or decided request:
// {decision: review|rejected|expired|cancelled, review_id, state, review_url, ...}.
boost::json::object review_json(const review::Review& review, const std::string& public_url);

}  // namespace countersign::doors::actions
