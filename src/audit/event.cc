#include "audit/event.h"

#include <cmath>
#include <optional>
#include <string_view>

#include <boost/json.hpp>

#include "audit/soc2.h"
#include "core/canonical_json.h"
#include "core/hash.h"

namespace countersign::audit {
namespace {

namespace json = boost::json;

bool is_hex_digest(std::string_view text) {
  if (text.size() != 64) return false;
  for (char character : text) {
    bool digit = character >= '0' && character <= '9';
    bool lower = character >= 'a' && character <= 'f';
    if (!digit && !lower) return false;
  }
  return true;
}

int hex_value(char character) {
  if (character >= '0' && character <= '9') return character - '0';
  if (character >= 'a' && character <= 'f') return character - 'a' + 10;
  if (character >= 'A' && character <= 'F') return character - 'A' + 10;
  return -1;
}

// Raw bytes of a 64-digit hex digest, or nullopt when it is not one.
std::optional<std::string> digest_bytes(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::string bytes;
  bytes.reserve(32);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int high = hex_value(hex[i]);
    int low = hex_value(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

// Reads an integer field that may have come back from JSON as int64, uint64
// or an integral double (canonical JSON writes every number as a double).
std::optional<std::int64_t> integer_field(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64()) {
    if (value->get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<std::int64_t>(value->get_uint64());
  }
  if (value->is_double()) {
    double number = value->get_double();
    // 2^63 is the first double outside int64.
    if (std::trunc(number) != number || std::abs(number) >= 9223372036854775808.0) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(number);
  }
  return std::nullopt;
}

// A string field; absent reads as empty, any other kind is an error.
std::optional<std::string> string_field(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr) return std::string();
  if (!value->is_string()) return std::nullopt;
  return std::string(value->get_string());
}

}  // namespace

// Written directly, without building the body object (and copying the
// details) first. The body's keys are ASCII, so their canonical order is
// fixed: the order below (the unit tests compare with the generic path).
Result<std::string> canonical_body(const AuditEvent& event) {
  std::string out;
  out.reserve(512);
  auto text = [&out](std::string_view key, std::string_view value) {
    out.append(key);
    return append_canonical_string(out, value);
  };
  Result<void> written = text(R"({"action_digest":)", event.action_digest);
  if (written) written = text(R"(,"actor":)", event.actor);
  if (written) out.append(R"(,"controls":[)");
  for (std::size_t i = 0; written && i < event.controls.size(); ++i) {
    written = text(i == 0 ? "" : ",", event.controls[i]);
  }
  if (written) {
    out.append(R"(],"details":)");
    written = append_canonical(out, event.details);
  }
  if (written) {
    out.append(R"(,"index":)");
    append_canonical_integer(out, event.index);
    written = text(R"(,"review_id":)", event.review_id);
  }
  if (written) {
    out.append(R"(,"time":)");
    append_canonical_integer(out, event.time);
    written = text(R"(,"time_text":)", format_time(event.time));
  }
  if (written) written = text(R"(,"type":)", event.type);
  if (!written) return std::unexpected(written.error());
  out.push_back('}');
  return out;
}

boost::json::object event_body(const AuditEvent& event) {
  json::object body;
  body["index"] = event.index;
  body["time"] = event.time;
  body["time_text"] = format_time(event.time);
  body["type"] = event.type;
  body["actor"] = event.actor;
  body["action_digest"] = event.action_digest;
  body["review_id"] = event.review_id;
  body["details"] = event.details;
  json::array controls;
  for (const std::string& control : event.controls) controls.emplace_back(control);
  body["controls"] = std::move(controls);
  return body;
}

boost::json::object to_json(const AuditEvent& event) {
  json::object object = event_body(event);
  object["previous_hash"] = event.previous_hash;
  object["hash"] = event.hash;
  return object;
}

Result<AuditEvent> event_from_json(const boost::json::value& value) {
  if (!value.is_object()) return fail(ErrorCode::invalid_argument, "audit event is not an object");
  const json::object& object = value.get_object();
  AuditEvent event;

  auto index = integer_field(object, "index");
  auto time = integer_field(object, "time");
  if (!index) return fail(ErrorCode::invalid_argument, "audit event has no integer index");
  if (!time) return fail(ErrorCode::invalid_argument, "audit event has no integer time");
  event.index = *index;
  event.time = *time;

  struct TextField {
    std::string_view key;
    std::string* target;
  };
  const TextField text_fields[] = {
      {"type", &event.type},
      {"actor", &event.actor},
      {"action_digest", &event.action_digest},
      {"review_id", &event.review_id},
      {"previous_hash", &event.previous_hash},
      {"hash", &event.hash},
  };
  for (const TextField& field : text_fields) {
    auto text = string_field(object, field.key);
    if (!text) {
      return fail(ErrorCode::invalid_argument,
                  "audit event field " + std::string(field.key) + " is not a string");
    }
    *field.target = std::move(*text);
  }
  if (event.type.empty()) return fail(ErrorCode::invalid_argument, "audit event has no type");

  if (const json::value* details = object.if_contains("details")) {
    if (!details->is_object()) {
      return fail(ErrorCode::invalid_argument, "audit event details is not an object");
    }
    event.details = details->get_object();
  }
  if (const json::value* controls = object.if_contains("controls")) {
    if (!controls->is_array()) {
      return fail(ErrorCode::invalid_argument, "audit event controls is not an array");
    }
    for (const json::value& control : controls->get_array()) {
      if (!control.is_string()) {
        return fail(ErrorCode::invalid_argument, "audit event control is not a string");
      }
      event.controls.emplace_back(control.get_string());
    }
  }
  // time_text is derived from time and recomputed by event_body, so a stored
  // copy is not read back.
  return event;
}

Result<std::string> leaf_hash(const AuditEvent& event) {
  auto canonical = canonical_body(event);
  if (!canonical) return std::unexpected(canonical.error());
  // RFC 6962 domain separation: leaves are prefixed 0x00, interior nodes 0x01,
  // so a leaf can never be passed off as an interior node.
  std::string preimage;
  preimage.reserve(canonical->size() + 1);
  preimage.push_back('\0');
  preimage += *canonical;
  return sha256_hex(preimage);
}

// Returns an empty string when either input is not a 64-digit hex digest:
// the result then never matches a stored hash, so verification fails closed.
std::string chain_hash(const std::string& previous_hash_hex, const std::string& leaf_hash_hex) {
  auto previous = digest_bytes(previous_hash_hex);
  auto leaf = digest_bytes(leaf_hash_hex);
  if (!previous || !leaf) return std::string();
  return sha256_hex(*previous + *leaf);
}

Result<void> seal(std::vector<AuditEvent>& events, std::int64_t next_index,
                  std::string previous_hash) {
  // Work on copies so that a failure part-way leaves the caller's events as they were.
  auto sealed = seal_events(events, next_index, std::move(previous_hash));
  if (!sealed) return std::unexpected(sealed.error());
  for (std::size_t i = 0; i < events.size(); ++i) events[i] = std::move((*sealed)[i].event);
  return {};
}

Hash chain_hash_bytes(const Hash& previous, const Hash& leaf) {
  std::string input(hash_bytes(previous));
  input.append(hash_bytes(leaf));
  return sha256(input);
}

Result<std::vector<SealedEvent>> seal_events(const std::vector<AuditEvent>& events,
                                             std::int64_t next_index, std::string previous_hash) {
  if (next_index < 0) return fail(ErrorCode::invalid_argument, "negative audit index");
  auto previous = hash_from_hex(previous_hash);
  if (!previous || !is_hex_digest(previous_hash)) {
    return fail(ErrorCode::invalid_argument, "previous audit hash is not a lowercase hex digest");
  }
  std::vector<SealedEvent> sealed;
  sealed.reserve(events.size());
  for (const AuditEvent& original : events) {
    SealedEvent item{original, {}, {}};
    AuditEvent& event = item.event;
    if (event.controls.empty()) event.controls = controls_for(event.type);
    event.index = next_index++;
    event.previous_hash = to_hex(*previous);
    auto canonical = canonical_body(event);
    if (!canonical) return std::unexpected(canonical.error());
    item.body = std::move(*canonical);
    item.leaf = hash_leaf(item.body);
    *previous = chain_hash_bytes(*previous, item.leaf);
    event.hash = to_hex(*previous);
    sealed.push_back(std::move(item));
  }
  return sealed;
}

}  // namespace countersign::audit
