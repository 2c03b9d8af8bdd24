#include "audit/event.h"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/canonical_json.h"
#include "core/hash.h"

namespace countersign::audit {
namespace {

using ::testing::ElementsAre;

AuditEvent make_event(std::string type, std::string actor = "alice@example.com") {
  AuditEvent event;
  event.time = 1'700'000'000'123;
  event.type = std::move(type);
  event.actor = std::move(actor);
  event.action_digest = std::string(64, 'a');
  event.review_id = "rv_1";
  event.details = boost::json::object{{"verb", "exec:terraform-apply"}, {"reason", "deploy"}};
  return event;
}

std::vector<AuditEvent> sealed_chain(int count) {
  std::vector<AuditEvent> events;
  for (int i = 0; i < count; ++i) {
    AuditEvent event = make_event(i % 2 ? "review.voted" : "action.decided");
    event.time += i;
    event.details["n"] = i;
    events.push_back(event);
  }
  EXPECT_TRUE(seal(events, 0, kGenesisHash));
  return events;
}

// What an auditor does: recompute every hash from the bodies alone.
bool chain_verifies(const std::vector<AuditEvent>& events) {
  std::string previous = kGenesisHash;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const AuditEvent& event = events[i];
    if (event.index != static_cast<std::int64_t>(i)) return false;
    if (event.previous_hash != previous) return false;
    auto leaf = leaf_hash(event);
    if (!leaf || chain_hash(previous, *leaf) != event.hash) return false;
    previous = event.hash;
  }
  return true;
}

TEST(ControlsFor, MapsEventTypesToSoc2Controls) {
  EXPECT_THAT(controls_for("action.decided"), ElementsAre("CC6.1"));
  for (const char* type : {"review.created", "review.voted", "review.approved", "review.rejected",
                           "review.escalated", "review.cancelled", "review.expired"}) {
    EXPECT_THAT(controls_for(type), ElementsAre("CC6.2", "CC6.3", "CC8.1")) << type;
  }
  EXPECT_THAT(controls_for("grant.redeemed"), ElementsAre("CC6.3", "CC8.1"));
  EXPECT_THAT(controls_for("action.executed"), ElementsAre("CC6.3", "CC8.1"));
  EXPECT_THAT(controls_for("auth.failed"), ElementsAre("CC6.1", "CC7.2"));
  EXPECT_THAT(controls_for("something.new"), ElementsAre("CC7.2"));
  EXPECT_THAT(controls_for(""), ElementsAre("CC7.2"));
}

TEST(EventBody, HasEveryFieldExceptTheHashes) {
  AuditEvent event = make_event("review.approved");
  event.index = 7;
  event.controls = {"CC6.2"};
  event.previous_hash = std::string(64, '1');
  event.hash = std::string(64, '2');
  boost::json::object body = event_body(event);
  EXPECT_EQ(body.size(), 9u);
  EXPECT_EQ(body.at("index").as_int64(), 7);
  EXPECT_EQ(body.at("time").as_int64(), 1'700'000'000'123);
  EXPECT_EQ(body.at("time_text").as_string(), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(body.at("type").as_string(), "review.approved");
  EXPECT_EQ(body.at("actor").as_string(), "alice@example.com");
  EXPECT_EQ(body.at("review_id").as_string(), "rv_1");
  EXPECT_EQ(body.at("controls").as_array().size(), 1u);
  EXPECT_FALSE(body.contains("hash"));
  EXPECT_FALSE(body.contains("previous_hash"));
  boost::json::object full = to_json(event);
  EXPECT_EQ(full.at("hash").as_string(), event.hash);
  EXPECT_EQ(full.at("previous_hash").as_string(), event.previous_hash);
}

TEST(EventJson, RoundTripsThroughCanonicalText) {
  std::vector<AuditEvent> events = sealed_chain(3);
  for (const AuditEvent& event : events) {
    auto text = canonicalize(to_json(event));
    ASSERT_TRUE(text);
    auto back = event_from_json(boost::json::parse(*text));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->index, event.index);
    EXPECT_EQ(back->time, event.time);
    EXPECT_EQ(back->type, event.type);
    EXPECT_EQ(back->actor, event.actor);
    EXPECT_EQ(back->action_digest, event.action_digest);
    EXPECT_EQ(back->review_id, event.review_id);
    EXPECT_EQ(back->details, event.details);
    EXPECT_EQ(back->controls, event.controls);
    EXPECT_EQ(back->previous_hash, event.previous_hash);
    EXPECT_EQ(back->hash, event.hash);
    EXPECT_EQ(*leaf_hash(*back), *leaf_hash(event));
  }
}

TEST(EventJson, RejectsBadInputWithoutThrowing) {
  EXPECT_EQ(event_from_json(boost::json::value(42)).error().code, ErrorCode::invalid_argument);
  boost::json::object good = to_json(sealed_chain(1)[0]);
  ASSERT_TRUE(event_from_json(good));

  auto broken = [&](auto change) {
    boost::json::object copy = good;
    change(copy);
    return !event_from_json(copy).has_value();
  };
  EXPECT_TRUE(broken([](auto& o) { o.erase("index"); }));
  EXPECT_TRUE(broken([](auto& o) { o["index"] = "7"; }));
  EXPECT_TRUE(broken([](auto& o) { o["time"] = 1.5; }));
  EXPECT_TRUE(broken([](auto& o) { o["time"] = 1e300; }));
  EXPECT_TRUE(broken([](auto& o) { o["time"] = std::numeric_limits<std::uint64_t>::max(); }));
  EXPECT_TRUE(broken([](auto& o) { o["type"] = nullptr; }));
  EXPECT_TRUE(broken([](auto& o) { o["type"] = ""; }));
  EXPECT_TRUE(broken([](auto& o) { o["details"] = boost::json::array(); }));
  EXPECT_TRUE(broken([](auto& o) { o["controls"] = "CC6.1"; }));
  EXPECT_TRUE(broken([](auto& o) { o["controls"] = boost::json::array{1}; }));
  // An integral double (as canonical JSON would give back) is accepted.
  EXPECT_FALSE(broken([](auto& o) { o["time"] = 1.7e12; }));
}

TEST(LeafHash, IsSha256OfZeroBytePlusCanonicalBody) {
  AuditEvent event = make_event("action.decided");
  event.index = 0;
  std::string expected = sha256_hex(std::string(1, '\0') + *canonicalize(event_body(event)));
  EXPECT_EQ(*leaf_hash(event), expected);
}

TEST(LeafHash, AnyTamperedFieldChangesIt) {
  AuditEvent original = make_event("review.approved");
  original.index = 3;
  original.controls = controls_for(original.type);
  const std::string base = *leaf_hash(original);

  std::vector<AuditEvent> tampered(9, original);
  tampered[0].index = 4;
  tampered[1].time += 1;
  tampered[2].type = "review.rejected";
  tampered[3].actor = "mallory@example.com";
  tampered[4].action_digest[0] = 'b';
  tampered[5].review_id = "rv_2";
  tampered[6].details["reason"] = "other";
  tampered[7].controls.pop_back();
  tampered[8].details["extra"] = nullptr;
  for (const AuditEvent& event : tampered) EXPECT_NE(*leaf_hash(event), base);

  // The chain hashes are not part of the leaf: they are derived from it.
  AuditEvent rehashed = original;
  rehashed.hash = "x";
  rehashed.previous_hash = "y";
  EXPECT_EQ(*leaf_hash(rehashed), base);
}

TEST(LeafHash, FailsOnNonFiniteDetails) {
  AuditEvent event = make_event("action.decided");
  event.details["ratio"] = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(leaf_hash(event));
}

TEST(ChainHash, HashesTheRawDigestBytes) {
  std::string previous(64, '0');
  std::string leaf = sha256_hex("leaf");
  std::string raw = std::string(32, '\0');
  for (std::size_t i = 0; i < 32; ++i) {
    raw.push_back(static_cast<char>(std::stoi(leaf.substr(i * 2, 2), nullptr, 16)));
  }
  EXPECT_EQ(chain_hash(previous, leaf), sha256_hex(raw));
  EXPECT_EQ(chain_hash("zz", leaf), "");
  EXPECT_EQ(chain_hash(previous, "not hex at all"), "");
}

TEST(Seal, AssignsIndexesControlsAndChainsHashes) {
  std::vector<AuditEvent> events = sealed_chain(5);
  EXPECT_TRUE(chain_verifies(events));
  EXPECT_EQ(events[0].previous_hash, kGenesisHash);
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].previous_hash, events[i - 1].hash);
    EXPECT_FALSE(events[i].controls.empty());
  }
  EXPECT_THAT(events[0].controls, ElementsAre("CC6.1"));
}

TEST(Seal, ContinuesAnExistingChain) {
  std::vector<AuditEvent> whole = sealed_chain(4);
  std::vector<AuditEvent> first(whole.begin(), whole.begin() + 2);
  std::vector<AuditEvent> rest(whole.begin() + 2, whole.end());
  for (AuditEvent& event : rest) event.hash.clear();
  ASSERT_TRUE(seal(rest, 2, first.back().hash));
  EXPECT_EQ(rest[0].hash, whole[2].hash);
  EXPECT_EQ(rest[1].hash, whole[3].hash);
}

TEST(Seal, KeepsExplicitControls) {
  std::vector<AuditEvent> events{make_event("action.decided")};
  events[0].controls = {"CC9.9"};
  ASSERT_TRUE(seal(events, 10, kGenesisHash));
  EXPECT_THAT(events[0].controls, ElementsAre("CC9.9"));
  EXPECT_EQ(events[0].index, 10);
}

TEST(Seal, RejectsBadPreviousHashAndLeavesEventsUntouched) {
  std::vector<AuditEvent> events{make_event("action.decided")};
  EXPECT_EQ(seal(events, 0, "abc").error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(seal(events, 0, std::string(64, 'A')).error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(seal(events, -1, kGenesisHash).error().code, ErrorCode::invalid_argument);
  events.push_back(make_event("review.voted"));
  events[1].details["bad"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(seal(events, 0, kGenesisHash));
  EXPECT_EQ(events[0].index, -1);
  EXPECT_TRUE(events[0].hash.empty());
}

TEST(Chain, BreaksWhenAnEventIsTamperedRemovedOrReordered) {
  const std::vector<AuditEvent> events = sealed_chain(6);
  ASSERT_TRUE(chain_verifies(events));

  std::vector<AuditEvent> tampered = events;
  tampered[2].details["reason"] = "forged";
  EXPECT_FALSE(chain_verifies(tampered));

  std::vector<AuditEvent> removed = events;
  removed.erase(removed.begin() + 3);
  for (std::size_t i = 0; i < removed.size(); ++i) removed[i].index = static_cast<int>(i);
  EXPECT_FALSE(chain_verifies(removed));

  std::vector<AuditEvent> reordered = events;
  std::swap(reordered[1], reordered[2]);
  std::swap(reordered[1].index, reordered[2].index);
  EXPECT_FALSE(chain_verifies(reordered));

  // Resealing after a removal gives different hashes from the original:
  // a forger cannot produce the same head without every later event changing.
  std::vector<AuditEvent> resealed(events.begin(), events.end());
  resealed.erase(resealed.begin() + 3);
  ASSERT_TRUE(seal(resealed, 0, kGenesisHash));
  EXPECT_NE(resealed.back().hash, events.back().hash);
}

// The store hashes canonical_body, written field by field; it must be
// byte-identical to canonicalizing the body object, or existing logs would
// stop verifying.
TEST(CanonicalBody, EqualsCanonicalizedEventBody) {
  std::vector<AuditEvent> events = sealed_chain(3);
  AuditEvent unusual = make_event("review.voted", "j\xc3\xb6rg@example.com");
  unusual.index = 9007199254740993;  // beyond 2^53: written as the double it denotes
  unusual.time = -1;
  unusual.review_id.clear();
  unusual.controls = {"CC6.1", "quote\"d"};
  unusual.details = boost::json::object{{"\xef\xbf\xbf", 1},
                                        {"\xf0\x9f\x98\x80", 2.5},
                                        {"z", boost::json::array{nullptr, true}},
                                        {"A", "line\nbreak \xe2\x82\xac"},
                                        {"nested", boost::json::object{{"b", 1}, {"a", -0.0}}}};
  events.push_back(unusual);
  AuditEvent bare;
  bare.type = "x";
  events.push_back(bare);
  for (const AuditEvent& event : events) {
    auto direct = canonical_body(event);
    auto generic = canonicalize(event_body(event));
    ASSERT_TRUE(direct) << direct.error().message;
    ASSERT_TRUE(generic);
    EXPECT_EQ(*direct, *generic);
  }
  AuditEvent invalid = make_event("action.decided", "bad \xff actor");
  EXPECT_FALSE(canonical_body(invalid));
  EXPECT_FALSE(canonicalize(event_body(invalid)));
}

}  // namespace
}  // namespace countersign::audit
