// Policy: compile-time validation, decisions, explanations, and the index
// agreeing with a plain scan.
#include "policy/policy.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace countersign::policy {
namespace {

RuleSpec rule(std::string id, Effect effect, Match match = {}, std::string when = {}) {
  RuleSpec spec;
  spec.id = std::move(id);
  spec.location = SourceLocation{"policy.yaml", 10, 0};
  spec.match = std::move(match);
  spec.when = std::move(when);
  spec.when_location = SourceLocation{"policy.yaml", 12, 13};
  spec.effect = effect;
  if (effect == Effect::review) {
    Flow flow;
    flow.steps.push_back(FlowStep{{"group:dba"}, 1, 0, {}});
    spec.review = flow;
  }
  return spec;
}

Action action(std::string door, std::string target, std::string verb) {
  Action a;
  a.id = "act_test";
  a.door = std::move(door);
  a.target = std::move(target);
  a.verb = std::move(verb);
  a.actor.subject = "agent:ci";
  a.actor.kind = IdentityKind::agent;
  a.actor.groups = {"ci"};
  return a;
}

// Builds a Match field by field (g++ 12 warns on designated initializers
// that leave members out).
struct M {
  Match match;
  M& doors(std::vector<std::string> v) { return match.doors = std::move(v), *this; }
  M& targets(std::vector<std::string> v) { return match.targets = std::move(v), *this; }
  M& verbs(std::vector<std::string> v) { return match.verbs = std::move(v), *this; }
  M& subjects(std::vector<std::string> v) { return match.subjects = std::move(v), *this; }
  M& kinds(std::vector<std::string> v) { return match.kinds = std::move(v), *this; }
  M& groups(std::vector<std::string> v) { return match.groups = std::move(v), *this; }
  operator Match() const { return match; }
};

Policy compile_ok(PolicySpec spec) {
  auto policy = Policy::compile(spec);
  EXPECT_TRUE(policy.has_value()) << (policy ? "" : policy.error().message);
  return std::move(policy.value());
}

std::string compile_error(PolicySpec spec) {
  auto policy = Policy::compile(spec);
  EXPECT_FALSE(policy.has_value());
  return policy ? std::string() : policy.error().message;
}

// ------------------------------------------------------------- compile

TEST(PolicyCompile, DuplicateIds) {
  PolicySpec spec;
  spec.rules.push_back(rule("a", Effect::allow));
  spec.rules.push_back(rule("a", Effect::deny));
  spec.rules[0].location.line = 3;
  spec.rules[1].location.line = 7;
  EXPECT_EQ(compile_error(spec), "policy.yaml:7: duplicate rule id 'a' (first defined at line 3)");
}

TEST(PolicyCompile, EmptyId) {
  PolicySpec spec;
  spec.rules.push_back(rule("", Effect::allow));
  EXPECT_EQ(compile_error(spec), "policy.yaml:10: rule #1 has an empty id");
}

TEST(PolicyCompile, ReviewNeedsAFlow) {
  PolicySpec spec;
  spec.rules.push_back(rule("r", Effect::review));
  spec.rules[0].review.reset();
  EXPECT_EQ(compile_error(spec),
            "policy.yaml:10: rule 'r': effect review needs a review flow ('review:' with steps)");
  spec.rules[0].review = Flow{};
  EXPECT_NE(compile_error(spec).find("no steps"), std::string::npos);
  spec.rules[0].review->steps.push_back(FlowStep{});
  EXPECT_NE(compile_error(spec).find("no approvers"), std::string::npos);
}

TEST(PolicyCompile, FlowOnNonReviewRuleIsAMistake) {
  PolicySpec spec;
  spec.rules.push_back(rule("r", Effect::review));
  spec.rules[0].effect = Effect::allow;
  EXPECT_NE(compile_error(spec).find("has a review flow but its effect is allow"),
            std::string::npos);
}

TEST(PolicyCompile, DefaultCannotBeReview) {
  PolicySpec spec;
  spec.default_effect = Effect::review;
  EXPECT_NE(compile_error(spec).find("default cannot be review"), std::string::npos);
}

TEST(PolicyCompile, MalformedGlobs) {
  PolicySpec spec;
  spec.rules.push_back(rule("g", Effect::allow, M().verbs({"sql:[A-Z]"})));
  EXPECT_NE(compile_error(spec).find("policy.yaml:10: rule 'g': match.verbs: pattern 'sql:[A-Z]'"),
            std::string::npos);
  spec.rules[0].match = M().doors({""});
  EXPECT_NE(compile_error(spec).find("match.doors: empty pattern"), std::string::npos);
}

TEST(PolicyCompile, UnknownKind) {
  PolicySpec spec;
  spec.rules.push_back(rule("k", Effect::allow, M().kinds({"humans"})));
  EXPECT_EQ(compile_error(spec),
            "policy.yaml:10: rule 'k': match.kinds: 'humans' is not a kind (agent, human, "
            "service)");
}

TEST(PolicyCompile, WhenErrorsPointAtTheColumn) {
  PolicySpec spec;
  // when_location is line 12, column 13; the bad name starts at offset 24.
  spec.rules.push_back(rule("w", Effect::deny, {}, "action.door == 'x' && nope.y"));
  EXPECT_EQ(compile_error(spec),
            "policy.yaml:12:35: rule 'w': when: undeclared reference to 'nope' (the only "
            "variable is 'action')");

  spec.rules[0].when = "action.door == 'x' &&\n  action.door + 1 == 2";
  EXPECT_NE(compile_error(spec).find("policy.yaml:13:15: rule 'w': when: no operator '+'"),
            std::string::npos);

  spec.rules[0].when = "action.door";
  EXPECT_NE(compile_error(spec).find("policy.yaml:12:13: rule 'w': when: expression must be a "
                                     "bool"),
            std::string::npos);

  spec.rules[0].when_location = SourceLocation{};
  spec.rules[0].location = SourceLocation{};
  spec.rules[0].when = "1 +";
  EXPECT_EQ(compile_error(spec),
            "rule 'w': when: unexpected end of expression (at column 4 of the expression)");
}

TEST(PolicyCompile, RuleCount) {
  PolicySpec spec;
  spec.rules.push_back(rule("a", Effect::allow));
  spec.rules.push_back(rule("b", Effect::deny));
  EXPECT_EQ(compile_ok(spec).rule_count(), 2u);
}

// ------------------------------------------------------------- decide

TEST(PolicyDecide, NoMatchGivesTheDefault) {
  PolicySpec spec;
  spec.rules.push_back(rule("only-mcp", Effect::allow, M().doors({"mcp"})));
  Decision decision = compile_ok(spec).decide(action("http", "api", "http:GET /"));
  EXPECT_EQ(decision.effect, Effect::deny);
  EXPECT_TRUE(decision.rules.empty());
  EXPECT_EQ(decision.reason, "no rule matched; default is deny");
  EXPECT_EQ(decision.mask_profile, "default");
  EXPECT_FALSE(decision.flow.has_value());

  spec.default_effect = Effect::allow;
  decision = compile_ok(spec).decide(action("http", "api", "http:GET /"));
  EXPECT_EQ(decision.effect, Effect::allow);
  EXPECT_EQ(decision.reason, "no rule matched; default is allow");
}

TEST(PolicyDecide, MostRestrictiveWins) {
  PolicySpec spec;
  spec.rules.push_back(rule("allow-all", Effect::allow));
  spec.rules.push_back(rule("review-prod", Effect::review, M().targets({"prod"})));
  spec.rules.push_back(rule("deny-drop", Effect::deny, M().verbs({"sql:DROP"})));
  Policy policy = compile_ok(spec);

  Decision d = policy.decide(action("postgres", "dev", "sql:SELECT"));
  EXPECT_EQ(d.effect, Effect::allow);
  EXPECT_EQ(d.rules, (std::vector<std::string>{"allow-all"}));
  EXPECT_EQ(d.reason, "allowed by rule allow-all");

  d = policy.decide(action("postgres", "prod", "sql:SELECT"));
  EXPECT_EQ(d.effect, Effect::review);
  EXPECT_EQ(d.rules, (std::vector<std::string>{"allow-all", "review-prod"}));
  EXPECT_EQ(d.reason, "rule review-prod requires review");
  ASSERT_TRUE(d.flow.has_value());
  EXPECT_EQ(d.flow->steps.at(0).approvers, (std::vector<std::string>{"group:dba"}));

  d = policy.decide(action("postgres", "prod", "sql:DROP"));
  EXPECT_EQ(d.effect, Effect::deny);
  EXPECT_EQ(d.rules, (std::vector<std::string>{"allow-all", "review-prod", "deny-drop"}));
  EXPECT_EQ(d.reason, "rule deny-drop denies");
  EXPECT_FALSE(d.flow.has_value());
}

TEST(PolicyDecide, ReasonsAndMaskProfiles) {
  PolicySpec spec;
  spec.rules.push_back(rule("d1", Effect::deny, M().doors({"mcp"})));
  spec.rules.push_back(rule("d2", Effect::deny, M().doors({"m*"})));
  spec.rules.push_back(rule("a1", Effect::allow));
  spec.rules[0].reason = "no mcp today";
  spec.rules[1].mask_profile = "strict";
  spec.rules[2].mask_profile = "loose";
  Decision d = compile_ok(spec).decide(action("mcp", "files", "tools/call:x"));
  EXPECT_EQ(d.effect, Effect::deny);
  EXPECT_EQ(d.reason, "rules d1, d2 deny: no mcp today");
  // The first deciding rule that names a profile; allow rules do not decide.
  EXPECT_EQ(d.mask_profile, "strict");

  d = compile_ok(spec).decide(action("http", "files", "x"));
  EXPECT_EQ(d.effect, Effect::allow);
  EXPECT_EQ(d.mask_profile, "loose");
}

TEST(PolicyDecide, ReviewFlowsMerge) {
  PolicySpec spec;
  spec.rules.push_back(rule("r1", Effect::review));
  spec.rules.push_back(rule("r2", Effect::review, M().targets({"prod"})));
  spec.rules[0].review->expires_after = 3'600'000;
  spec.rules[0].review->require_reason = false;
  spec.rules[1].review->steps[0].approvers = {"group:sre"};
  spec.rules[1].review->steps[0].quorum = 2;
  spec.rules[1].review->expires_after = 900'000;
  spec.rules[1].review->require_reason = true;
  spec.rules[1].review->grant_ttl = 60'000;
  spec.rules[1].mask_profile = "strict";
  Policy policy = compile_ok(spec);

  Decision d = policy.decide(action("postgres", "prod", "sql:UPDATE"));
  EXPECT_EQ(d.effect, Effect::review);
  EXPECT_EQ(d.reason, "rules r1, r2 require review");
  ASSERT_TRUE(d.flow.has_value());
  ASSERT_EQ(d.flow->steps.size(), 2u);
  EXPECT_EQ(d.flow->steps[0].approvers, (std::vector<std::string>{"group:dba"}));
  EXPECT_EQ(d.flow->steps[1].approvers, (std::vector<std::string>{"group:sre"}));
  EXPECT_EQ(d.flow->steps[1].quorum, 2);
  EXPECT_EQ(d.flow->expires_after, 900'000);
  EXPECT_TRUE(d.flow->require_reason);
  EXPECT_EQ(d.flow->grant_ttl, 60'000);
  EXPECT_EQ(d.mask_profile, "strict");

  d = policy.decide(action("postgres", "dev", "sql:UPDATE"));
  ASSERT_TRUE(d.flow.has_value());
  EXPECT_EQ(d.flow->steps.size(), 1u);
  EXPECT_EQ(d.flow->expires_after, 3'600'000);
  EXPECT_FALSE(d.flow->require_reason);
}

TEST(PolicyDecide, SubjectsKindsGroups) {
  PolicySpec spec;
  spec.default_effect = Effect::deny;
  spec.rules.push_back(rule("bots", Effect::allow, M().subjects({"agent:*"})));
  spec.rules.push_back(rule("humans", Effect::allow, M().kinds({"human"})));
  spec.rules.push_back(rule("dba", Effect::allow, M().groups({"dba", "sre-*"})));
  Policy policy = compile_ok(spec);

  Action a = action("postgres", "prod", "sql:UPDATE");
  a.actor.subject = "agent:ci";
  a.actor.groups = {};
  EXPECT_EQ(policy.decide(a).rules, (std::vector<std::string>{"bots"}));

  a.actor.subject = "alice";
  a.actor.kind = IdentityKind::human;
  EXPECT_EQ(policy.decide(a).rules, (std::vector<std::string>{"humans"}));

  a.actor.kind = IdentityKind::service;
  EXPECT_EQ(policy.decide(a).effect, Effect::deny);
  a.actor.groups = {"web", "sre-oncall"};
  EXPECT_EQ(policy.decide(a).rules, (std::vector<std::string>{"dba"}));
  a.actor.groups = {"web"};
  EXPECT_TRUE(policy.decide(a).rules.empty());
}

TEST(PolicyDecide, ListsAreOredAndFieldsAnded) {
  PolicySpec spec;
  spec.rules.push_back(rule(
      "x", Effect::allow,
      M().doors({"postgres"}).targets({"prod", "staging"}).verbs({"sql:UPDATE", "sql:DELETE"})));
  Policy policy = compile_ok(spec);
  EXPECT_EQ(policy.decide(action("postgres", "staging", "sql:DELETE")).effect, Effect::allow);
  EXPECT_EQ(policy.decide(action("postgres", "prod", "sql:UPDATE")).effect, Effect::allow);
  EXPECT_EQ(policy.decide(action("postgres", "dev", "sql:UPDATE")).effect, Effect::deny);
  EXPECT_EQ(policy.decide(action("mcp", "prod", "sql:UPDATE")).effect, Effect::deny);
  EXPECT_EQ(policy.decide(action("postgres", "prod", "sql:SELECT")).effect, Effect::deny);
}

TEST(PolicyDecide, WhenNarrowsARule) {
  PolicySpec spec;
  spec.default_effect = Effect::allow;
  spec.rules.push_back(rule("prod-writes", Effect::review,
                            M().doors({"postgres"}).targets({"prod"}),
                            "!action.params.has_where || "
                            "action.params.tables.exists(t, t == 'customers')"));
  Policy policy = compile_ok(spec);
  Action a = action("postgres", "prod", "sql:UPDATE");
  a.params = boost::json::parse(R"({"has_where": true, "tables": ["orders"]})");
  EXPECT_EQ(policy.decide(a).effect, Effect::allow);
  a.params = boost::json::parse(R"({"has_where": false, "tables": ["orders"]})");
  EXPECT_EQ(policy.decide(a).effect, Effect::review);
  a.params = boost::json::parse(R"({"has_where": true, "tables": ["customers"]})");
  EXPECT_EQ(policy.decide(a).effect, Effect::review);
}

TEST(PolicyDecide, WhenErrorsFailClosed) {
  PolicySpec spec;
  spec.default_effect = Effect::allow;
  spec.rules.push_back(rule("deny-big", Effect::deny, {}, "action.params.rows > 1000"));
  spec.rules.push_back(rule("review-big", Effect::review, {}, "action.params.rows > 100"));
  Policy policy = compile_ok(spec);
  Action a = action("postgres", "prod", "sql:UPDATE");  // params has no "rows"
  Decision d = policy.decide(a);
  EXPECT_EQ(d.effect, Effect::deny);  // the errored deny counts as matched
  EXPECT_EQ(d.rules, (std::vector<std::string>{"deny-big", "review-big"}));
  EXPECT_EQ(d.reason,
            "rule deny-big denies (when of rule deny-big errored: no such key: 'rows'; treated as "
            "matched)");

  PolicySpec allow_spec;
  allow_spec.default_effect = Effect::deny;
  allow_spec.rules.push_back(rule("allow-small", Effect::allow, {}, "action.params.rows < 10"));
  Policy allow_policy = compile_ok(allow_spec);
  d = allow_policy.decide(a);  // the errored allow does not count
  EXPECT_EQ(d.effect, Effect::deny);
  EXPECT_TRUE(d.rules.empty());
  a.params = boost::json::parse(R"({"rows": 3})");
  EXPECT_EQ(allow_policy.decide(a).effect, Effect::allow);
  a.params = boost::json::parse(R"({"rows": "3"})");  // type mismatch at run time
  EXPECT_EQ(allow_policy.decide(a).effect, Effect::deny);
}

TEST(PolicyDecide, NonBoolDynamicResultIsAnError) {
  PolicySpec spec;
  spec.default_effect = Effect::allow;
  spec.rules.push_back(rule("flag", Effect::deny, {}, "action.params.flag"));
  Policy policy = compile_ok(spec);
  Action a = action("mcp", "files", "tools/call:x");
  a.params = boost::json::parse(R"({"flag": "yes"})");
  Decision d = policy.decide(a);
  EXPECT_EQ(d.effect, Effect::deny);
  EXPECT_NE(d.reason.find("result is string, not bool"), std::string::npos) << d.reason;
  a.params = boost::json::parse(R"({"flag": false})");
  EXPECT_EQ(policy.decide(a).effect, Effect::allow);
}

// ------------------------------------------------------------- explain

TEST(PolicyExplain, TracesEveryRuleInFileOrder) {
  PolicySpec spec;
  spec.rules.push_back(rule("read-tools", Effect::allow,
                            M().doors({"mcp"}).targets({"files"}).verbs({"tools/call:read_*"})));
  spec.rules.push_back(rule("staging-only", Effect::allow, M().targets({"staging"})));
  spec.rules.push_back(rule("big", Effect::review, M().doors({"mcp"}), "action.params.size > 10"));
  spec.rules.push_back(
      rule("weird", Effect::deny, M().doors({"mcp"}), "action.params.missing == 1"));
  spec.rules.push_back(
      rule("weird-allow", Effect::allow, M().doors({"mcp"}), "action.params.missing == 1"));
  spec.rules.push_back(rule("humans", Effect::allow, M().kinds({"human"})));
  spec.rules.push_back(rule("dba", Effect::allow, M().groups({"dba"})));
  spec.rules.push_back(rule("everything", Effect::allow));
  Policy policy = compile_ok(spec);
  Action a = action("mcp", "files", "tools/call:read_file");
  a.params = boost::json::parse(R"({"size": 3})");

  Explanation e = policy.explain(a);
  ASSERT_EQ(e.rules.size(), 8u);
  EXPECT_EQ(e.rules[0].rule_id, "read-tools");
  EXPECT_TRUE(e.rules[0].matched);
  EXPECT_EQ(e.rules[0].why,
            "door 'mcp' matches 'mcp', target 'files' matches 'files', verb "
            "'tools/call:read_file' matches 'tools/call:read_*'; effect allow");
  EXPECT_FALSE(e.rules[1].matched);
  EXPECT_EQ(e.rules[1].why, "target 'files' does not match [staging]");
  EXPECT_FALSE(e.rules[2].matched);
  EXPECT_EQ(e.rules[2].why, "door 'mcp' matches 'mcp'; when is false");
  EXPECT_TRUE(e.rules[3].matched);
  EXPECT_EQ(e.rules[3].why,
            "door 'mcp' matches 'mcp'; when errored: no such key: 'missing', treated as matched; "
            "effect deny");
  EXPECT_FALSE(e.rules[4].matched);
  EXPECT_EQ(e.rules[4].why,
            "door 'mcp' matches 'mcp'; when errored: no such key: 'missing', treated as not "
            "matched");
  EXPECT_EQ(e.rules[5].why, "kind 'agent' does not match [human]");
  EXPECT_EQ(e.rules[6].why, "groups [ci] do not match [dba]");
  EXPECT_TRUE(e.rules[7].matched);
  EXPECT_EQ(e.rules[7].why, "matches every action; effect allow");

  EXPECT_EQ(e.decision.effect, Effect::deny);
  EXPECT_EQ(e.decision.rules, (std::vector<std::string>{"read-tools", "weird", "everything"}));

  Decision d = policy.decide(a);
  EXPECT_EQ(d.effect, e.decision.effect);
  EXPECT_EQ(d.rules, e.decision.rules);
  EXPECT_EQ(d.reason, e.decision.reason);

  a.params = boost::json::parse(R"({"size": 30, "missing": 2})");
  e = policy.explain(a);
  EXPECT_EQ(e.rules[2].why, "door 'mcp' matches 'mcp'; when is true; effect review");
  EXPECT_EQ(e.decision.effect, Effect::review);
}

// ------------------------------------------------------------- index vs. scan

// A reference matcher written independently of the implementation.
bool reference_glob(std::string_view pattern, std::string_view value) {
  if (pattern.empty()) return value.empty();
  if (pattern[0] == '*')
    return reference_glob(pattern.substr(1), value) ||
           (!value.empty() && reference_glob(pattern, value.substr(1)));
  if (value.empty()) return false;
  if (pattern[0] == '?' || pattern[0] == value[0])
    return reference_glob(pattern.substr(1), value.substr(1));
  return false;
}

bool reference_any(const std::vector<std::string>& patterns, std::string_view value) {
  if (patterns.empty()) return true;
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return reference_glob(p, value); });
}

class RandomPolicies : public ::testing::Test {
 protected:
  std::mt19937 random_{20240607};

  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[std::uniform_int_distribution<std::size_t>(0, items.size() - 1)(random_)];
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(random_); }

  std::vector<std::string> patterns(const std::vector<std::string>& pool) {
    std::vector<std::string> out;
    if (chance(0.3)) return out;  // any
    int count = std::uniform_int_distribution<int>(1, 3)(random_);
    for (int i = 0; i < count; ++i) out.push_back(pick(pool));
    return out;
  }

  const std::vector<std::string> doors_{"mcp", "http", "postgres", "actions"};
  const std::vector<std::string> door_patterns_{"mcp", "http",     "postgres", "actions", "*",
                                                "m*",  "p?stgres", "*s",       "h*p",     "ac*"};
  const std::vector<std::string> targets_{"prod", "prod-eu", "staging", "dev", "files", "p", ""};
  const std::vector<std::string> target_patterns_{
      "prod", "prod-*", "prod*", "staging", "dev", "files", "*", "?", "p*", "*-eu", "*o*"};
  const std::vector<std::string> verbs_{"sql:UPDATE",
                                        "sql:DELETE",
                                        "sql:DROP",
                                        "sql:",
                                        "tools/call:read_file",
                                        "tools/call:delete_file",
                                        "http:DELETE /buckets/{name}",
                                        "exec:terraform-apply"};
  const std::vector<std::string> verb_patterns_{"sql:UPDATE",
                                                "sql:*",
                                                "sql:D*",
                                                "sql:?ROP",
                                                "tools/call:read_*",
                                                "tools/call:*_file",
                                                "*_file",
                                                "http:DELETE /buckets/*",
                                                "exec:*",
                                                "*",
                                                "sql:DELETE",
                                                "s*"};
};

TEST_F(RandomPolicies, IndexAgreesWithScan) {
  int decisions = 0, matched_some = 0;
  for (int round = 0; round < 60; ++round) {
    PolicySpec spec;
    spec.default_effect = chance(0.5) ? Effect::allow : Effect::deny;
    int rule_count = std::uniform_int_distribution<int>(1, 80)(random_);
    for (int i = 0; i < rule_count; ++i) {
      Effect effect = pick(std::vector<Effect>{Effect::allow, Effect::review, Effect::deny});
      Match match;
      match.doors = patterns(door_patterns_);
      match.targets = patterns(target_patterns_);
      match.verbs = patterns(verb_patterns_);
      if (chance(0.1)) match.kinds = {pick(std::vector<std::string>{"agent", "human", "*"})};
      if (chance(0.1)) match.groups = {pick(std::vector<std::string>{"ci", "dba", "*"})};
      std::string when;
      if (chance(0.2))
        when = pick(std::vector<std::string>{"action.params.n > 5", "action.params.flag",
                                             "action.verb.startsWith('sql:')"});
      RuleSpec spec_rule = rule("r" + std::to_string(i), effect, match, when);
      if (chance(0.2)) spec_rule.mask_profile = "m" + std::to_string(i % 3);
      spec.rules.push_back(spec_rule);
    }
    Policy policy = compile_ok(spec);
    for (int k = 0; k < 60; ++k) {
      Action a = action(pick(doors_), pick(targets_), pick(verbs_));
      a.actor.kind = chance(0.5) ? IdentityKind::agent : IdentityKind::human;
      a.actor.groups =
          chance(0.5) ? std::vector<std::string>{"ci"} : std::vector<std::string>{"dba", "x"};
      if (chance(0.7))
        a.params = boost::json::object{{"n", std::uniform_int_distribution<int>(0, 10)(random_)},
                                       {"flag", chance(0.5)}};

      Decision fast = policy.decide(a);
      Explanation slow = policy.explain(a);
      ++decisions;
      ASSERT_EQ(fast.effect, slow.decision.effect);
      ASSERT_EQ(fast.rules, slow.decision.rules);
      ASSERT_EQ(fast.reason, slow.decision.reason);
      ASSERT_EQ(fast.mask_profile, slow.decision.mask_profile);
      ASSERT_EQ(fast.flow.has_value(), slow.decision.flow.has_value());
      if (fast.flow) {
        ASSERT_EQ(fast.flow->steps.size(), slow.decision.flow->steps.size());
      }

      // Independently: which rules pass the match lists (ignoring `when`)?
      for (std::size_t i = 0; i < spec.rules.size(); ++i) {
        const RuleSpec& r = spec.rules[i];
        bool kind_ok =
            r.match.kinds.empty() || reference_any(r.match.kinds, identity_kind_name(a.actor.kind));
        bool group_ok =
            r.match.groups.empty() ||
            std::any_of(a.actor.groups.begin(), a.actor.groups.end(),
                        [&](const std::string& g) { return reference_any(r.match.groups, g); });
        bool fields = reference_any(r.match.doors, a.door) &&
                      reference_any(r.match.targets, a.target) &&
                      reference_any(r.match.verbs, a.verb) && kind_ok && group_ok;
        bool in_decision =
            std::find(fast.rules.begin(), fast.rules.end(), r.id) != fast.rules.end();
        if (r.when.empty()) {
          ASSERT_EQ(fields, in_decision)
              << r.id << " for " << a.door << " " << a.target << " " << a.verb;
        } else if (!fields) {
          ASSERT_FALSE(in_decision) << r.id;
        }
        if (in_decision) ++matched_some;
      }
    }
  }
  EXPECT_EQ(decisions, 3600);
  EXPECT_GT(matched_some, 1000);  // the generator exercises real matches
}

}  // namespace
}  // namespace countersign::policy
