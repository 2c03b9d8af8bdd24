// The search columns stored beside each audit event (type, actor, review,
// digest, verb, time) are copies of fields of its hashed body, kept so that
// filters use indexes. They are outside the hash, so `audit verify` checks
// them against the body: an edit to a column alone would otherwise hide an
// event from search (or show it under someone else's name) undetected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace countersign::audit {

// The stored columns of one event (views valid while the row is).
struct IndexedColumns {
  std::int64_t time = 0;
  std::string_view type;
  std::string_view actor;
  std::string_view review_id;
  bool review_id_null = false;
  std::string_view action_digest;
  bool action_digest_null = false;
  std::string_view verb;
  bool verb_null = false;
  // The store keeps a further copy that filters read, filled in batches:
  // whether it exists yet, whether its type, actor, review or verb differ
  // from these columns, and its target (details.target of the body).
  bool search_copied = false;
  bool search_copy_differs = false;
  std::string_view search_target;
  bool search_target_null = true;
};

// The fields of a canonical event body that the columns copy.
struct BodyFields {
  std::int64_t time = 0;
  std::string type;
  std::string actor;
  std::string review_id;
  std::string action_digest;
  std::optional<std::string> verb;  // details.verb, when it is a string
  // details.target: decoded when a string, else its JSON text.
  std::optional<std::string> target;
};

// Reads the fields from the JSON text of an event body with one linear pass
// (no allocation per value beyond the strings returned). nullopt when the
// text is not a JSON object with them.
std::optional<BodyFields> body_fields(std::string_view body);

// The first column that disagrees with the body, described for a person
// ("the actor column says ... but the hashed event says ..."); nullopt when
// all agree. The verb of an event whose details name none comes from its
// review and cannot be checked from the body alone; without a review it
// must be empty.
std::optional<std::string> column_mismatch(const BodyFields& body, const IndexedColumns& columns);

}  // namespace countersign::audit
