// Exports of the audit log for other systems: JSON Lines of the events as
// stored (with index and leaf hash), and OCSF (Open Cybersecurity Schema
// Framework 1.1) API Activity events for SIEMs. Pure functions of one event.
#pragma once

#include <string_view>

#include <boost/json/object.hpp>

#include "audit/event.h"

namespace countersign::audit {

// The event as the API serves it (body and chain hashes) plus "leaf_hash"
// (hex); dropping previous_hash, hash and leaf_hash leaves the hashed body.
boost::json::object export_record(const AuditEvent& event, std::string_view leaf_hash_hex);

// The event as an OCSF API Activity (class_uid 6003) with the policy
// decision under "authorizations"; field mapping in docs/audit.md#export.
boost::json::object ocsf_record(const AuditEvent& event, std::string_view leaf_hash_hex);

}  // namespace countersign::audit
