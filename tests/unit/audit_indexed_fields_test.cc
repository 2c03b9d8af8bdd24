// Reading an event body's indexed fields and comparing them with stored columns.
#include "audit/indexed_fields.h"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "audit/event.h"
#include "core/canonical_json.h"

namespace countersign::audit {
namespace {

AuditEvent sample() {
  AuditEvent event;
  event.index = 7;
  event.time = 1'700'000'000'123;
  event.type = "review.voted";
  event.actor =
      "d\xc3\xa9"
      "bora \"q\" \\ <x>@example.com";
  event.review_id = "rv_1";
  event.action_digest = std::string(64, 'a');
  // A nested "actor" and "verb" must not be taken for the top-level ones.
  event.details = boost::json::object{{"params", {{"actor", "mallory"}, {"verb", "nested"}}},
                                      {"verb", "sql:DROP"},
                                      {"note", "tab\there \x01 \xf0\x9f\x94\x91"}};
  event.controls = controls_for(event.type);
  return event;
}

std::string body_of(const AuditEvent& event) { return *canonicalize(event_body(event)); }

IndexedColumns columns_of(const BodyFields& fields) {
  IndexedColumns columns;
  columns.time = fields.time;
  columns.type = fields.type;
  columns.actor = fields.actor;
  columns.review_id = fields.review_id;
  columns.review_id_null = fields.review_id.empty();
  columns.action_digest = fields.action_digest;
  columns.action_digest_null = fields.action_digest.empty();
  columns.verb = fields.verb ? std::string_view(*fields.verb) : std::string_view();
  columns.verb_null = !fields.verb;
  return columns;
}

TEST(IndexedFieldsTest, ReadsTheTopLevelFieldsOfACanonicalBody) {
  AuditEvent event = sample();
  auto fields = body_fields(body_of(event));
  ASSERT_TRUE(fields);
  EXPECT_EQ(fields->time, event.time);
  EXPECT_EQ(fields->type, event.type);
  EXPECT_EQ(fields->actor, event.actor);  // escapes decoded
  EXPECT_EQ(fields->review_id, "rv_1");
  EXPECT_EQ(fields->action_digest, event.action_digest);
  ASSERT_TRUE(fields->verb);
  EXPECT_EQ(*fields->verb, "sql:DROP");
  // \u escapes (as other writers may produce) decode too.
  auto escaped =
      body_fields(R"({"actor":"caf\u00e9 \ud83d\udd11","time":5,"type":"t","details":{"verb":7}})");
  ASSERT_TRUE(escaped);
  EXPECT_EQ(escaped->actor, "caf\xc3\xa9 \xf0\x9f\x94\x91");
  EXPECT_FALSE(escaped->verb);  // not a string
}

TEST(IndexedFieldsTest, RefusesTextThatIsNotAnEvent) {
  EXPECT_FALSE(body_fields(""));
  EXPECT_FALSE(body_fields("[]"));
  EXPECT_FALSE(body_fields(R"({"time":1,"type":"t"})"));  // no actor
  EXPECT_FALSE(body_fields(R"({"time":1.5,"type":"t","actor":"a"})"));
  EXPECT_FALSE(body_fields(R"({"time":1,"type":"t","actor":"a)"));
  EXPECT_FALSE(body_fields(R"({"time":1,"type":"t","actor":"a","details":{"x":[1,2})"));
}

TEST(IndexedFieldsTest, NamesTheColumnThatDisagrees) {
  AuditEvent event = sample();
  auto fields = body_fields(body_of(event));
  ASSERT_TRUE(fields);
  const IndexedColumns good = columns_of(*fields);
  EXPECT_FALSE(column_mismatch(*fields, good));

  IndexedColumns columns = good;
  columns.actor = "mallory@example.com";
  auto problem = column_mismatch(*fields, columns);
  ASSERT_TRUE(problem);
  EXPECT_NE(problem->find("actor column says \"mallory@example.com\""), std::string::npos)
      << *problem;

  columns = good;
  columns.time += 1;
  EXPECT_NE(column_mismatch(*fields, columns)->find("time column"), std::string::npos);
  columns = good;
  columns.type = "review.approved";
  EXPECT_NE(column_mismatch(*fields, columns)->find("type column"), std::string::npos);
  columns = good;
  columns.review_id_null = true;
  columns.review_id = {};
  EXPECT_NE(column_mismatch(*fields, columns)->find("review_id column says NULL"),
            std::string::npos);
  columns = good;
  columns.action_digest = std::string(64, 'b');
  EXPECT_NE(column_mismatch(*fields, columns)->find("action_digest column"), std::string::npos);
  columns = good;
  columns.verb = "sql:SELECT";
  EXPECT_NE(column_mismatch(*fields, columns)->find("verb column"), std::string::npos);
}

TEST(IndexedFieldsTest, AVerbOnlyFromTheReviewIsAcceptedButNotInventedWithoutOne) {
  AuditEvent event = sample();
  event.details = boost::json::object{{"step", 0}};  // names no verb
  auto fields = body_fields(body_of(event));
  ASSERT_TRUE(fields);
  IndexedColumns columns = columns_of(*fields);
  columns.verb = "exec:deploy";  // the store takes it from the review
  columns.verb_null = false;
  EXPECT_FALSE(column_mismatch(*fields, columns));
  event.review_id.clear();
  fields = body_fields(body_of(event));
  columns = columns_of(*fields);
  columns.verb = "exec:deploy";
  columns.verb_null = false;
  ASSERT_TRUE(column_mismatch(*fields, columns));
}

}  // namespace
}  // namespace countersign::audit
