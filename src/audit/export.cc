// JSON Lines and OCSF records of audit events (docs/audit.md#export).
#include "audit/export.h"

#include <algorithm>
#include <cctype>
#include <string>

#include <boost/json.hpp>

namespace countersign::audit {
namespace {

namespace json = boost::json;

std::string detail(const AuditEvent& event, std::string_view key) {
  const json::value* value = event.details.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// OCSF API Activity activity_id from the verb: 1 Create, 2 Read, 3 Update,
// 4 Delete, 99 Other (reviews and grants are 3: they change a review).
std::pair<int, const char*> activity(const AuditEvent& event) {
  if (event.type.starts_with("review.") || event.type.starts_with("grant.")) return {3, "Update"};
  const std::string verb = upper(detail(event, "verb"));
  auto has = [&](std::initializer_list<const char*> words) {
    for (const char* word : words)
      if (verb.find(word) != std::string::npos) return true;
    return false;
  };
  if (has({"DELETE", "DROP", "REMOVE", "DESTROY", "TRUNCATE"})) return {4, "Delete"};
  if (has({"GET", "READ", "SELECT", "LIST", "HEAD", "SEARCH", "DESCRIBE"})) return {2, "Read"};
  if (has({"PUT", "PATCH", "UPDATE", "ALTER", "SET", "WRITE", "EDIT"})) return {3, "Update"};
  if (has({"POST", "CREATE", "INSERT", "ADD"})) return {1, "Create"};
  return {99, "Other"};
}

// status_id: 1 Success, 2 Failure (refused, rejected, expired, failed).
bool failed(const AuditEvent& event) {
  if (event.type == "auth.failed" || event.type == "action.failed" ||
      event.type == "review.rejected" || event.type == "review.expired" ||
      event.type == "review.failed" || event.type == "review.cancelled")
    return true;
  return event.type == "action.decided" && detail(event, "effect") == "deny";
}

}  // namespace

boost::json::object export_record(const AuditEvent& event, std::string_view leaf_hash_hex) {
  json::object record = to_json(event);
  record["leaf_hash"] = leaf_hash_hex;
  return record;
}

boost::json::object ocsf_record(const AuditEvent& event, std::string_view leaf_hash_hex) {
  constexpr int kClass = 6003;  // API Activity
  const auto [activity_id, activity_name] = activity(event);
  const bool failure = failed(event);
  json::object out;
  out["category_uid"] = 6;  // Application Activity
  out["category_name"] = "Application Activity";
  out["class_uid"] = kClass;
  out["class_name"] = "API Activity";
  out["activity_id"] = activity_id;
  out["activity_name"] = activity_name;
  out["type_uid"] = kClass * 100 + activity_id;
  out["time"] = event.time;
  out["severity_id"] = failure ? 3 : 1;  // Medium for refusals, Informational otherwise
  out["severity"] = failure ? "Medium" : "Informational";
  out["status_id"] = failure ? 2 : 1;
  out["status"] = failure ? "Failure" : "Success";
  out["message"] = event.type;
  json::object user{{"uid", event.actor}, {"name", event.actor}};
  out["actor"] = json::object{{"user", std::move(user)}};
  const std::string verb = detail(event, "verb");
  const std::string target = detail(event, "target");
  json::object api{{"operation", verb.empty() ? event.type : verb}};
  if (!target.empty()) api["service"] = json::object{{"name", target}};
  if (!event.review_id.empty()) api["request"] = json::object{{"uid", event.review_id}};
  out["api"] = std::move(api);
  if (!target.empty()) {
    json::object resource{{"name", target}};
    if (std::string door = detail(event, "door"); !door.empty()) resource["type"] = door;
    out["resources"] = json::array{std::move(resource)};
  }
  if (std::string address = detail(event, "client_address"); !address.empty())
    out["src_endpoint"] = json::object{{"ip", address}};
  if (event.type == "action.decided") {
    json::object authorization{{"decision", detail(event, "effect")}};
    if (const json::value* rules = event.details.if_contains("rules"); rules && rules->is_array()) {
      std::string names;
      for (const json::value& rule : rules->get_array())
        if (rule.is_string()) names += (names.empty() ? "" : ",") + std::string(rule.get_string());
      if (!names.empty()) authorization["policy"] = json::object{{"name", names}};
    }
    out["authorizations"] = json::array{std::move(authorization)};
  }
  json::object product{{"name", "countersign"}, {"vendor_name", "countersign"}};
  out["metadata"] = json::object{{"version", "1.1.0"},      {"product", std::move(product)},
                                 {"log_name", "audit"},     {"uid", leaf_hash_hex},
                                 {"sequence", event.index}, {"correlation_uid", event.review_id}};
  json::array controls;
  for (const std::string& control : event.controls) controls.emplace_back(control);
  out["unmapped"] = json::object{{"type", event.type},
                                 {"index", event.index},
                                 {"action_digest", event.action_digest},
                                 {"review_id", event.review_id},
                                 {"controls", std::move(controls)},
                                 {"details", event.details},
                                 {"hash", event.hash}};
  return out;
}

}  // namespace countersign::audit
