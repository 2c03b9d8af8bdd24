// The stored form of a review: every field survives a round trip, and any
// missing or ill-typed field is an invalid_argument error, never a throw.

#include <functional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "review/review.h"

namespace countersign::review {
namespace {

constexpr Millis kStart = 1'700'000'000'123;

// A review with every field set to something other than its default.
Review full_review() {
  Review review;
  review.id = "rv_full";
  review.action.id = "act_9";
  review.action.actor.subject = "agent:ci-bot";
  review.action.actor.issuer = "api-key";
  review.action.actor.kind = IdentityKind::agent;
  review.action.actor.groups = {"bots", "deployers"};
  review.action.actor.email = "bot@example.com";
  review.action.actor.on_behalf_of = "alice";
  review.action.door = "mcp";
  review.action.target = "prod-db";
  review.action.verb = "tools/call:delete_file";
  review.action.masked_params = boost::json::parse(
      R"({"path":"/etc/[MASKED]","nested":{"list":[1,2.5,true,null,"x"]},"empty":{}})");
  review.action.reason = "cleanup";
  review.action.digest = std::string(64, 'f');
  review.rules = {"prod-writes", "mcp-deletes"};
  review.policy_reason = "deletes in production need two steps";
  FlowStep first;
  first.approvers = {"group:sre", "user:bob"};
  first.quorum = 2;
  first.escalate_after = 900'000;
  first.escalate_to = {"group:managers"};
  FlowStep second;
  second.approvers = {"user:dave", "user:erin"};
  second.quorum = 0;
  review.flow.steps = {first, second};
  review.flow.expires_after = 7'200'000;
  review.flow.require_reason = true;
  review.flow.grant_ttl = 120'000;
  review.state = ReviewState::approved;
  review.step = 1;
  review.escalated = true;
  review.step_started_at = kStart + 5'000;
  review.votes = {Vote{"bob", true, "plan looks right", 0, kStart + 1'000},
                  Vote{"carol", true, "ok", 0, kStart + 5'000},
                  Vote{"dave", true, "fine \"quoted\" \u00e9", 1, kStart + 6'000},
                  Vote{"erin", true, "", 1, kStart + 7'000}};
  review.created_at = kStart;
  review.expires_at = kStart + 7'200'000;
  review.decided_at = kStart + 7'000;
  review.outcome_reason = "";
  review.version = 42;
  return review;
}

std::string text_of(const Review& review) { return boost::json::serialize(to_json(review)); }

void expect_same(const Review& a, const Review& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.action.id, b.action.id);
  EXPECT_EQ(a.action.actor.subject, b.action.actor.subject);
  EXPECT_EQ(a.action.actor.issuer, b.action.actor.issuer);
  EXPECT_EQ(a.action.actor.kind, b.action.actor.kind);
  EXPECT_EQ(a.action.actor.groups, b.action.actor.groups);
  EXPECT_EQ(a.action.actor.email, b.action.actor.email);
  EXPECT_EQ(a.action.actor.on_behalf_of, b.action.actor.on_behalf_of);
  EXPECT_EQ(a.action.door, b.action.door);
  EXPECT_EQ(a.action.target, b.action.target);
  EXPECT_EQ(a.action.verb, b.action.verb);
  EXPECT_EQ(a.action.masked_params, b.action.masked_params);
  EXPECT_EQ(a.action.reason, b.action.reason);
  EXPECT_EQ(a.action.digest, b.action.digest);
  EXPECT_EQ(a.rules, b.rules);
  EXPECT_EQ(a.policy_reason, b.policy_reason);
  ASSERT_EQ(a.flow.steps.size(), b.flow.steps.size());
  for (std::size_t i = 0; i < a.flow.steps.size(); ++i) {
    EXPECT_EQ(a.flow.steps[i].approvers, b.flow.steps[i].approvers);
    EXPECT_EQ(a.flow.steps[i].quorum, b.flow.steps[i].quorum);
    EXPECT_EQ(a.flow.steps[i].escalate_after, b.flow.steps[i].escalate_after);
    EXPECT_EQ(a.flow.steps[i].escalate_to, b.flow.steps[i].escalate_to);
  }
  EXPECT_EQ(a.flow.expires_after, b.flow.expires_after);
  EXPECT_EQ(a.flow.require_reason, b.flow.require_reason);
  EXPECT_EQ(a.flow.grant_ttl, b.flow.grant_ttl);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.step, b.step);
  EXPECT_EQ(a.escalated, b.escalated);
  EXPECT_EQ(a.step_started_at, b.step_started_at);
  ASSERT_EQ(a.votes.size(), b.votes.size());
  for (std::size_t i = 0; i < a.votes.size(); ++i) {
    EXPECT_EQ(a.votes[i].approver, b.votes[i].approver);
    EXPECT_EQ(a.votes[i].approve, b.votes[i].approve);
    EXPECT_EQ(a.votes[i].reason, b.votes[i].reason);
    EXPECT_EQ(a.votes[i].step, b.votes[i].step);
    EXPECT_EQ(a.votes[i].time, b.votes[i].time);
  }
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.expires_at, b.expires_at);
  EXPECT_EQ(a.decided_at, b.decided_at);
  EXPECT_EQ(a.outcome_reason, b.outcome_reason);
  EXPECT_EQ(a.version, b.version);
}

// Reads text, as a store would after saving it.
Result<Review> from_text(const std::string& text) {
  return review_from_json(boost::json::parse(text));
}

TEST(ReviewJson, RoundTripsEveryField) {
  Review review = full_review();
  auto back = from_text(text_of(review));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  expect_same(review, *back);
  EXPECT_EQ(text_of(*back), text_of(review));
}

TEST(ReviewJson, RoundTripsOptionalsWhenAbsent) {
  Review review = full_review();
  review.action.reason.reset();
  review.action.actor.email.reset();
  review.action.actor.on_behalf_of.reset();
  review.action.masked_params = boost::json::object();
  review.votes.clear();
  review.rules.clear();
  review.state = ReviewState::pending;
  review.decided_at = 0;
  review.step = 0;
  review.escalated = false;
  auto back = from_text(text_of(review));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  expect_same(review, *back);
  EXPECT_FALSE(back->action.reason.has_value());
}

TEST(ReviewJson, TimesCarryMillisAndReadableText) {
  Review review = full_review();
  boost::json::object json = to_json(review);
  EXPECT_EQ(json.at("created_at"), kStart);
  EXPECT_EQ(json.at("created_at_text"), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(json.at("expires_at_text"), boost::json::value(format_time(review.expires_at)));
  EXPECT_EQ(json.at("decided_at_text"), boost::json::value(format_time(review.decided_at)));
  EXPECT_EQ(json.at("step_started_at_text"),
            boost::json::value(format_time(review.step_started_at)));
  EXPECT_EQ(json.at("votes").at(0).at("time_text"),
            boost::json::value(format_time(kStart + 1'000)));
  EXPECT_EQ(json.at("state"), "approved");
  EXPECT_EQ(json.at("action").at("actor").at("kind"), "agent");

  review.decided_at = 0;  // "not decided" is not 1970
  EXPECT_FALSE(to_json(review).contains("decided_at_text"));
}

TEST(ReviewJson, ReadableTextIsIgnoredWhenReading) {
  boost::json::object json = to_json(full_review());
  json["created_at_text"] = "nonsense";
  json.erase("expires_at_text");
  auto back = review_from_json(json);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->created_at, kStart);
}

// Every path to a required field in the stored form, e.g. {"action","actor","kind"}.
using Path = std::vector<std::string>;

std::vector<Path> required_paths() {
  std::vector<Path> paths;
  for (const char* key : {"id", "state", "action", "rules", "policy_reason", "flow", "step",
                          "escalated", "step_started_at", "votes", "created_at", "expires_at",
                          "decided_at", "outcome_reason", "version"}) {
    paths.push_back({key});
  }
  for (const char* key : {"id", "actor", "door", "target", "verb", "masked_params", "digest"}) {
    paths.push_back({"action", key});
  }
  for (const char* key : {"subject", "issuer", "kind", "groups"}) {
    paths.push_back({"action", "actor", key});
  }
  for (const char* key : {"steps", "expires_after", "require_reason", "grant_ttl"}) {
    paths.push_back({"flow", key});
  }
  for (const char* key : {"approvers", "quorum", "escalate_after", "escalate_to"}) {
    paths.push_back({"flow", "steps", "1", key});
  }
  for (const char* key : {"approver", "approve", "reason", "step", "time"}) {
    paths.push_back({"votes", "2", key});
  }
  return paths;
}

// The container holding the last element of `path`, inside `root`.
boost::json::value& parent_of(boost::json::value& root, const Path& path) {
  boost::json::value* at = &root;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    if (at->is_array()) {
      at = &at->as_array().at(std::stoul(path[i]));
    } else {
      at = &at->as_object().at(path[i]);
    }
  }
  return *at;
}

std::string describe(const Path& path) {
  std::string out;
  for (const auto& part : path) out += "/" + part;
  return out;
}

TEST(ReviewJson, EveryMissingFieldIsInvalidArgument) {
  for (const Path& path : required_paths()) {
    boost::json::value json = to_json(full_review());
    parent_of(json, path).as_object().erase(path.back());
    Result<Review> result = Review{};
    ASSERT_NO_THROW(result = review_from_json(json)) << describe(path);
    ASSERT_FALSE(result.has_value()) << describe(path);
    EXPECT_EQ(result.error().code, ErrorCode::invalid_argument) << describe(path);
    EXPECT_NE(result.error().message.find(path.back()), std::string::npos)
        << describe(path) << ": " << result.error().message;
  }
}

TEST(ReviewJson, EveryIllTypedFieldIsInvalidArgument) {
  for (const Path& path : required_paths()) {
    if (path.back() == "masked_params") continue;  // any JSON value is a valid masked view
    boost::json::value json = to_json(full_review());
    boost::json::value& field = parent_of(json, path).as_object()[path.back()];
    std::vector<boost::json::value> wrong = {boost::json::value(nullptr), 1.5, "text",
                                             boost::json::array{7}, boost::json::object{}};
    for (const auto& replacement : wrong) {
      if (replacement.kind() == field.kind()) continue;
      boost::json::value copy = json;
      parent_of(copy, path).as_object()[path.back()] = replacement;
      Result<Review> result = Review{};
      ASSERT_NO_THROW(result = review_from_json(copy)) << describe(path);
      ASSERT_FALSE(result.has_value())
          << describe(path) << " = " << boost::json::serialize(replacement);
      EXPECT_EQ(result.error().code, ErrorCode::invalid_argument) << describe(path);
    }
  }
}

Result<Review> with(const std::function<void(boost::json::object&)>& edit) {
  boost::json::value json = to_json(full_review());
  edit(json.as_object());
  return review_from_json(json);
}

void expect_invalid(const Result<Review>& result, std::string_view fragment) {
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
}

TEST(ReviewJson, RejectsBadValues) {
  expect_invalid(review_from_json(boost::json::value("a review")), "object");
  expect_invalid(review_from_json(boost::json::array{}), "object");
  expect_invalid(with([](auto& json) { json["state"] = "done"; }), "state");
  expect_invalid(
      with([](auto& json) { json["action"].as_object()["actor"].as_object()["kind"] = "robot"; }),
      "kind");
  expect_invalid(with([](auto& json) { json["step"] = 2; }), "step");
  expect_invalid(with([](auto& json) { json["step"] = -1; }), "step");
  expect_invalid(with([](auto& json) { json["step"] = std::int64_t{1} << 40; }), "step");
  expect_invalid(with([](auto& json) { json["version"] = 18446744073709551615ull; }), "version");
  expect_invalid(with([](auto& json) { json["created_at"] = 1.0; }), "created_at");
  expect_invalid(with([](auto& json) { json["flow"].as_object()["steps"] = boost::json::array{}; }),
                 "steps");
  expect_invalid(with([](auto& json) { json["flow"].as_object()["steps"].as_array()[0] = 3; }),
                 "steps[0]");
  expect_invalid(with([](auto& json) { json["votes"].as_array()[1] = "bob"; }), "votes[1]");
  expect_invalid(with([](auto& json) { json["rules"].as_array().push_back(7); }), "rules");
  expect_invalid(with([](auto& json) { json["votes"].as_array()[0].as_object()["step"] = 5; }),
                 "step 5");
  expect_invalid(with([](auto& json) { json["action"].as_object()["reason"] = 5; }), "reason");
}

TEST(ReviewJson, AcceptsUnsignedIntegersThatFit) {
  auto result = with([](auto& json) { json["version"] = std::uint64_t{7}; });
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->version, 7);
}

TEST(ReviewJson, NullReasonMeansNone) {
  auto result = with([](auto& json) { json["action"].as_object()["reason"] = nullptr; });
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_FALSE(result->action.reason.has_value());
}

// Random damage to a valid document: the reader may accept or refuse it, but
// must never throw, and whatever it accepts must write back and read again.
void damage(boost::json::value& value, std::mt19937& random) {
  if (auto* object = value.if_object(); object && !object->empty()) {
    auto it = object->begin();
    std::advance(it, random() % object->size());
    switch (random() % 4) {
      case 0:
        object->erase(it);
        return;
      case 1:
        it->value() = (random() % 2) ? boost::json::value(-1) : boost::json::value("?");
        return;
      default:
        damage(it->value(), random);
        return;
    }
  }
  if (auto* array = value.if_array(); array && !array->empty()) {
    auto index = random() % array->size();
    if (random() % 3 == 0) {
      array->erase(array->begin() + static_cast<std::ptrdiff_t>(index));
    } else {
      damage((*array)[index], random);
    }
    return;
  }
  value = (random() % 2) ? boost::json::value(nullptr) : boost::json::value(random() % 100);
}

TEST(ReviewJson, RandomDamageNeverThrows) {
  std::mt19937 random(20241122);
  const boost::json::value original = to_json(full_review());
  int accepted = 0;
  for (int run = 0; run < 3000; ++run) {
    boost::json::value json = original;
    for (int hits = 1 + static_cast<int>(random() % 3); hits > 0; --hits) damage(json, random);
    Result<Review> result = Review{};
    ASSERT_NO_THROW(result = review_from_json(json)) << boost::json::serialize(json);
    if (!result) {
      EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
      continue;
    }
    ++accepted;
    auto again = review_from_json(to_json(*result));
    ASSERT_TRUE(again.has_value()) << again.error().message;
    EXPECT_EQ(text_of(*again), text_of(*result));
  }
  EXPECT_GT(accepted, 0);  // some damage (to masked_params, *_text) is harmless
}

}  // namespace
}  // namespace countersign::review
