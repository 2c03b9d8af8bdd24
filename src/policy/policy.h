// Policy: decides allow / deny / review for an Action. Rules are compiled
// once at load (globs, an index over door/target/verb, type-checked `when`
// expressions) so a decision touches only the rules that can match.
// Every matching rule counts; the most restrictive effect wins
// (deny > review > allow); no match gives the default effect.
// This module never performs I/O and never throws on the decision path.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/action.h"
#include "core/decision.h"
#include "core/error.h"

namespace countersign::policy {

// Each list is OR'ed; an empty list matches anything. Strings may be globs
// ('*' any run of characters, '?' one character). Groups match when the
// actor is in any listed group; kinds are "agent", "human", "service".
struct Match {
  std::vector<std::string> doors;
  std::vector<std::string> targets;
  std::vector<std::string> verbs;
  std::vector<std::string> subjects;
  std::vector<std::string> kinds;
  std::vector<std::string> groups;
};

struct RuleSpec {
  std::string id;
  SourceLocation location;        // where the rule starts in the config file
  Match match;
  std::string when;               // CEL-subset expression, empty = always
  SourceLocation when_location;   // where the expression text starts
  Effect effect = Effect::deny;
  std::optional<Flow> review;     // required when effect == review
  std::string mask_profile;       // empty = "default"
  std::string reason;             // optional human-readable reason shown to reviewers
};

struct PolicySpec {
  Effect default_effect = Effect::deny;
  std::vector<RuleSpec> rules;
};

// Why one rule did or did not apply to an action.
struct RuleTrace {
  std::string rule_id;
  bool matched = false;
  std::string why;  // e.g. "verb 'sql:DROP' matches 'sql:*'; when is true"
};

struct Explanation {
  Decision decision;
  std::vector<RuleTrace> rules;  // every rule in the policy, in file order
};

class Policy {
 public:
  // Validates and compiles; the first error names file:line (and column for
  // expressions). Duplicate rule ids, review rules without a flow, bad
  // globs and expressions that fail to parse or type-check are errors.
  static Result<Policy> compile(const PolicySpec& spec);

  Decision decide(const Action& action) const;
  Explanation explain(const Action& action) const;
  std::size_t rule_count() const;

 private:
  struct Compiled;
  explicit Policy(std::shared_ptr<const Compiled> compiled);
  std::shared_ptr<const Compiled> compiled_;
};

}  // namespace countersign::policy
