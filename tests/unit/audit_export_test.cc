// JSON Lines and OCSF records of audit events.
#include "audit/export.h"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/canonical_json.h"
#include "core/hash.h"

namespace countersign::audit {
namespace {

namespace json = boost::json;

AuditEvent decided(std::string effect, std::string verb) {
  AuditEvent event;
  event.time = 1'700'000'000'000;
  event.type = "action.decided";
  event.actor = "agent:deploy-bot";
  event.action_digest = std::string(64, 'c');
  event.details =
      json::object{{"door", "actions"}, {"target", "prod-db"},   {"verb", verb},
                   {"effect", effect},  {"rules", {"r1", "r2"}}, {"client_address", "10.0.0.7"}};
  std::vector<AuditEvent> events{event};
  EXPECT_TRUE(seal(events, 41, kGenesisHash));
  return events[0];
}

TEST(ExportTest, JsonLinesRecordIsTheEventPlusItsLeafHash) {
  AuditEvent event = decided("allow", "sql:SELECT");
  auto leaf = leaf_hash(event);
  ASSERT_TRUE(leaf);
  json::object record = export_record(event, *leaf);
  EXPECT_EQ(record.at("index").as_int64(), 41);
  EXPECT_EQ(record.at("leaf_hash").as_string(), *leaf);
  EXPECT_EQ(record.at("hash").as_string(), event.hash);
  // Without the hashes, the record is the hashed body: the leaf recomputes.
  json::object body = record;
  body.erase("leaf_hash");
  body.erase("previous_hash");
  body.erase("hash");
  EXPECT_EQ(sha256_hex(std::string(1, '\0') + *canonicalize(body)), *leaf);
}

TEST(ExportTest, OcsfApiActivityMapping) {
  AuditEvent event = decided("deny", "sql:DROP");
  json::object record = ocsf_record(event, "ab");
  EXPECT_EQ(record.at("class_uid").as_int64(), 6003);
  EXPECT_EQ(record.at("category_uid").as_int64(), 6);
  EXPECT_EQ(record.at("activity_id").as_int64(), 4);  // Delete
  EXPECT_EQ(record.at("type_uid").as_int64(), 600304);
  EXPECT_EQ(record.at("time").as_int64(), event.time);
  EXPECT_EQ(record.at("status").as_string(), "Failure");
  EXPECT_EQ(record.at("actor").at("user").at("uid").as_string(), "agent:deploy-bot");
  EXPECT_EQ(record.at("api").at("operation").as_string(), "sql:DROP");
  EXPECT_EQ(record.at("api").at("service").at("name").as_string(), "prod-db");
  EXPECT_EQ(record.at("src_endpoint").at("ip").as_string(), "10.0.0.7");
  EXPECT_EQ(record.at("resources").as_array()[0].at("type").as_string(), "actions");
  const auto& authorization = record.at("authorizations").as_array()[0];
  EXPECT_EQ(authorization.at("decision").as_string(), "deny");
  EXPECT_EQ(authorization.at("policy").at("name").as_string(), "r1,r2");
  EXPECT_EQ(record.at("metadata").at("uid").as_string(), "ab");
  EXPECT_EQ(record.at("metadata").at("sequence").as_int64(), 41);
  EXPECT_EQ(record.at("metadata").at("product").at("name").as_string(), "countersign");
  EXPECT_EQ(record.at("unmapped").at("controls").as_array().size(), 1u);

  EXPECT_EQ(ocsf_record(decided("allow", "sql:SELECT"), "").at("activity_id").as_int64(), 2);
  EXPECT_EQ(ocsf_record(decided("allow", "sql:SELECT"), "").at("status_id").as_int64(), 1);
  EXPECT_EQ(ocsf_record(decided("allow", "exec:deploy"), "").at("activity_id").as_int64(), 99);
  AuditEvent approved = decided("review", "exec:deploy");
  approved.type = "review.approved";
  approved.review_id = "rv_1";
  json::object review = ocsf_record(approved, "");
  EXPECT_EQ(review.at("activity_id").as_int64(), 3);
  EXPECT_FALSE(review.contains("authorizations"));
  EXPECT_EQ(review.at("api").at("request").at("uid").as_string(), "rv_1");
}

}  // namespace
}  // namespace countersign::audit
