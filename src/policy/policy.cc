#include "policy/policy.h"

#include <algorithm>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "policy/expression.h"
#include "policy/glob.h"
#include "policy/rule_index.h"

namespace countersign::policy {

namespace {

constexpr unsigned kind_bit(IdentityKind kind) { return 1u << static_cast<unsigned>(kind); }
constexpr unsigned kAllKinds =
    kind_bit(IdentityKind::agent) | kind_bit(IdentityKind::human) | kind_bit(IdentityKind::service);

struct CompiledRule {
  RuleSpec spec;
  std::vector<Glob> doors, targets, verbs, subjects, groups;
  unsigned kinds = kAllKinds;  // one bit per IdentityKind the rule accepts
  std::optional<Expression> when;
};

// The match field that rejected an action, in the order they are checked.
enum class Mismatch { none, door, target, verb, subject, kind, group };

bool any_matches(const std::vector<Glob>& patterns, std::string_view value) {
  if (patterns.empty()) return true;
  for (const Glob& pattern : patterns)
    if (pattern.matches(value)) return true;
  return false;
}

const Glob* first_match(const std::vector<Glob>& patterns, std::string_view value) {
  for (const Glob& pattern : patterns)
    if (pattern.matches(value)) return &pattern;
  return nullptr;
}

bool groups_match(const std::vector<Glob>& patterns, const Identity& actor) {
  if (patterns.empty()) return true;
  for (const std::string& group : actor.groups)
    if (any_matches(patterns, group)) return true;
  return false;
}

Mismatch check_match(const CompiledRule& rule, const Action& action) {
  if (!any_matches(rule.doors, action.door)) return Mismatch::door;
  if (!any_matches(rule.targets, action.target)) return Mismatch::target;
  if (!any_matches(rule.verbs, action.verb)) return Mismatch::verb;
  if (!any_matches(rule.subjects, action.actor.subject)) return Mismatch::subject;
  if (!(rule.kinds & kind_bit(action.actor.kind))) return Mismatch::kind;
  if (!groups_match(rule.groups, action.actor)) return Mismatch::group;
  return Mismatch::none;
}

// A rule that applies to an action. A non-empty when_error means the rule's
// `when` failed to evaluate and the rule counts as matched to fail closed.
struct Hit {
  RuleNumber rule = 0;
  std::string when_error;
};

// How a matching rule's `when` turned out.
enum class WhenOutcome { absent, is_true, is_false, errored_matched, errored_ignored };

WhenOutcome evaluate_when(const CompiledRule& rule, const Action& action, std::string& error) {
  if (!rule.when) return WhenOutcome::absent;
  EvaluationResult result = rule.when->evaluate(action);
  if (!result.errored) return result.value ? WhenOutcome::is_true : WhenOutcome::is_false;
  error = std::move(result.error);
  // Fail closed: an error may restrict (deny, review) but never permit.
  return rule.spec.effect == Effect::allow ? WhenOutcome::errored_ignored
                                           : WhenOutcome::errored_matched;
}

std::string quoted_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ", ";
    out += items[i];
  }
  return out + "]";
}

std::string rule_list(const std::vector<const CompiledRule*>& rules) {
  std::string out = rules.size() == 1 ? "rule " : "rules ";
  for (std::size_t i = 0; i < rules.size(); ++i) {
    if (i) out += ", ";
    out += rules[i]->spec.id;
  }
  return out;
}

// Combines the flows of several review rules into one. Every matching
// review rule asked for its approvers, so all of their steps must pass: the
// steps are concatenated in file order. The strictest of the other settings
// wins: the shortest expiry and grant lifetime, and a reason is required if
// any rule requires one.
Flow merge_flows(const std::vector<const CompiledRule*>& deciding) {
  Flow merged;
  bool first = true;
  for (const CompiledRule* rule : deciding) {
    const Flow& flow = *rule->spec.review;
    merged.steps.insert(merged.steps.end(), flow.steps.begin(), flow.steps.end());
    if (first) {
      merged.expires_after = flow.expires_after;
      merged.grant_ttl = flow.grant_ttl;
      merged.require_reason = flow.require_reason;
      first = false;
    } else {
      merged.expires_after = std::min(merged.expires_after, flow.expires_after);
      merged.grant_ttl = std::min(merged.grant_ttl, flow.grant_ttl);
      merged.require_reason = merged.require_reason || flow.require_reason;
    }
  }
  return merged;
}

}  // namespace

struct Policy::Compiled {
  Effect default_effect = Effect::deny;
  std::vector<CompiledRule> rules;
  RuleIndex index;
  std::string default_reason;  // "no rule matched; default is deny"

  Decision build_decision(const std::vector<Hit>& hits) const;
};

// Every hit counts; the most restrictive effect wins. `hits` are in file order.
Decision Policy::Compiled::build_decision(const std::vector<Hit>& hits) const {
  Decision decision;
  if (hits.empty()) {
    decision.effect = default_effect;
    decision.reason = default_reason;
    return decision;
  }
  Effect winner = Effect::allow;
  for (const Hit& hit : hits) winner = std::max(winner, rules[hit.rule].spec.effect);
  decision.effect = winner;
  decision.rules.reserve(hits.size());
  std::vector<const CompiledRule*> deciding;
  std::vector<const Hit*> errored;
  for (const Hit& hit : hits) {
    const CompiledRule& rule = rules[hit.rule];
    decision.rules.push_back(rule.spec.id);
    if (rule.spec.effect != winner) continue;
    deciding.push_back(&rule);
    if (!hit.when_error.empty()) errored.push_back(&hit);
  }

  bool several = deciding.size() > 1;
  switch (winner) {
    case Effect::deny:
      decision.reason = rule_list(deciding) + (several ? " deny" : " denies");
      break;
    case Effect::review:
      decision.reason = rule_list(deciding) + (several ? " require review" : " requires review");
      break;
    case Effect::allow:
      decision.reason = "allowed by " + rule_list(deciding);
      break;
  }
  std::string reasons;
  for (const CompiledRule* rule : deciding) {
    if (rule->spec.reason.empty()) continue;
    reasons += reasons.empty() ? ": " : "; ";
    reasons += rule->spec.reason;
  }
  decision.reason += reasons;
  for (const Hit* hit : errored)
    decision.reason += fmt::format(" (when of rule {} errored: {}; treated as matched)",
                                   rules[hit->rule].spec.id, hit->when_error);

  if (winner == Effect::review) decision.flow = merge_flows(deciding);
  for (const CompiledRule* rule : deciding) {
    if (!rule->spec.mask_profile.empty()) {
      decision.mask_profile = rule->spec.mask_profile;
      break;
    }
  }
  return decision;
}

namespace {

// Where, in the configuration file, byte `offset` of a rule's `when` is.
// Single-line expressions: the expression's own column plus the offset.
// Multi-line ones (YAML block scalars): the line is counted on, and the
// column is counted from the start of that line of the expression text,
// since the YAML indentation is no longer known here.
SourceLocation position_in_when(const RuleSpec& rule, std::size_t offset) {
  SourceLocation where = rule.when_location;
  std::string_view before = std::string_view(rule.when).substr(0, offset);
  auto newlines = std::count(before.begin(), before.end(), '\n');
  if (newlines == 0) {
    where.column = (where.column > 0 ? where.column : 1) + static_cast<int>(offset);
  } else {
    if (where.line > 0) where.line += static_cast<int>(newlines);
    where.column = static_cast<int>(offset - before.rfind('\n'));
  }
  return where;
}

Result<std::vector<Glob>> compile_patterns(const RuleSpec& rule, std::string_view field,
                                           const std::vector<std::string>& patterns) {
  std::vector<Glob> globs;
  globs.reserve(patterns.size());
  for (const std::string& pattern : patterns) {
    auto glob = Glob::parse(pattern);
    if (!glob)
      return fail(ErrorCode::invalid_argument,
                  located(rule.location, fmt::format("rule '{}': match.{}: {}", rule.id, field,
                                                     glob.error().message)));
    globs.push_back(std::move(*glob));
  }
  return globs;
}

Result<unsigned> compile_kinds(const RuleSpec& rule) {
  if (rule.match.kinds.empty()) return kAllKinds;
  unsigned kinds = 0;
  for (const std::string& pattern : rule.match.kinds) {
    auto glob = Glob::parse(pattern);
    unsigned accepted = 0;
    if (glob) {
      for (IdentityKind kind : {IdentityKind::agent, IdentityKind::human, IdentityKind::service})
        if (glob->matches(identity_kind_name(kind))) accepted |= kind_bit(kind);
    }
    // A pattern that can never match is a typo ("humans"), not a policy.
    if (accepted == 0)
      return fail(ErrorCode::invalid_argument,
                  located(rule.location,
                          fmt::format("rule '{}': match.kinds: '{}' is not a kind (agent, human, "
                                      "service)",
                                      rule.id, pattern)));
    kinds |= accepted;
  }
  return kinds;
}

Result<CompiledRule> compile_rule(const RuleSpec& spec) {
  auto error = [&](std::string_view message) {
    return fail(ErrorCode::invalid_argument,
                located(spec.location, fmt::format("rule '{}': {}", spec.id, message)));
  };
  if (spec.effect == Effect::review) {
    if (!spec.review) return error("effect review needs a review flow ('review:' with steps)");
    if (spec.review->steps.empty()) return error("review flow has no steps");
    for (const FlowStep& step : spec.review->steps)
      if (step.approvers.empty()) return error("a review step has no approvers");
  } else if (spec.review) {
    // Almost certainly a mistake, and one that would let an action through
    // that its author expected a human to see.
    return error(fmt::format("has a review flow but its effect is {}", effect_name(spec.effect)));
  }

  CompiledRule rule;
  rule.spec = spec;
  const Match& match = spec.match;
  for (auto [field, patterns, out] : {std::tuple{"doors", &match.doors, &rule.doors},
                                      std::tuple{"targets", &match.targets, &rule.targets},
                                      std::tuple{"verbs", &match.verbs, &rule.verbs},
                                      std::tuple{"subjects", &match.subjects, &rule.subjects},
                                      std::tuple{"groups", &match.groups, &rule.groups}}) {
    auto globs = compile_patterns(spec, field, *patterns);
    if (!globs) return std::unexpected(globs.error());
    *out = std::move(*globs);
  }
  auto kinds = compile_kinds(spec);
  if (!kinds) return std::unexpected(kinds.error());
  rule.kinds = *kinds;

  if (!spec.when.empty()) {
    auto when = Expression::compile(spec.when);
    if (!when) {
      SourceLocation where = position_in_when(spec, when.error().offset);
      std::string message = fmt::format("rule '{}': when: {}", spec.id, when.error().message);
      if (where.file.empty() && where.line == 0)
        message += fmt::format(" (at column {} of the expression)", when.error().offset + 1);
      return fail(ErrorCode::invalid_argument, located(where, message));
    }
    rule.when = std::move(*when);
  }
  return rule;
}

}  // namespace

Policy::Policy(std::shared_ptr<const Compiled> compiled) : compiled_(std::move(compiled)) {}

Result<Policy> Policy::compile(const PolicySpec& spec) {
  if (spec.default_effect == Effect::review)
    return fail(ErrorCode::invalid_argument,
                "policy: default cannot be review (a review needs a flow; write a catch-all rule "
                "with effect review instead)");
  auto compiled = std::make_shared<Compiled>();
  compiled->default_effect = spec.default_effect;
  compiled->default_reason =
      fmt::format("no rule matched; default is {}", effect_name(spec.default_effect));
  compiled->rules.reserve(spec.rules.size());
  std::unordered_map<std::string_view, const RuleSpec*> seen;
  for (std::size_t i = 0; i < spec.rules.size(); ++i) {
    const RuleSpec& rule = spec.rules[i];
    if (rule.id.empty())
      return fail(ErrorCode::invalid_argument,
                  located(rule.location, fmt::format("rule #{} has an empty id", i + 1)));
    auto [previous, inserted] = seen.emplace(rule.id, &rule);
    if (!inserted)
      return fail(
          ErrorCode::invalid_argument,
          located(rule.location, fmt::format("duplicate rule id '{}' (first defined at line {})",
                                             rule.id, previous->second->location.line)));
    auto compiled_rule = compile_rule(rule);
    if (!compiled_rule) return std::unexpected(compiled_rule.error());
    compiled->rules.push_back(std::move(*compiled_rule));
  }
  for (std::size_t i = 0; i < compiled->rules.size(); ++i) {
    const CompiledRule& rule = compiled->rules[i];
    compiled->index.add(static_cast<RuleNumber>(i), rule.doors, rule.targets, rule.verbs);
  }
  return Policy(std::move(compiled));
}

Decision Policy::decide(const Action& action) const {
  const Compiled& compiled = *compiled_;
  thread_local std::vector<RuleNumber> candidates;  // scratch, reused across calls
  compiled.index.candidates(action.door, action.target, action.verb, candidates);
  std::vector<Hit> hits;
  hits.reserve(candidates.size());
  for (RuleNumber number : candidates) {
    const CompiledRule& rule = compiled.rules[number];
    if (check_match(rule, action) != Mismatch::none) continue;
    std::string error;
    switch (evaluate_when(rule, action, error)) {
      case WhenOutcome::absent:
      case WhenOutcome::is_true:
        hits.push_back(Hit{number, {}});
        break;
      case WhenOutcome::errored_matched:
        hits.push_back(Hit{number, std::move(error)});
        break;
      case WhenOutcome::is_false:
      case WhenOutcome::errored_ignored:
        break;
    }
  }
  return compiled.build_decision(hits);
}

namespace {

std::string describe_mismatch(const CompiledRule& rule, const Action& action, Mismatch mismatch) {
  const Match& match = rule.spec.match;
  switch (mismatch) {
    case Mismatch::door:
      return fmt::format("door '{}' does not match {}", action.door, quoted_list(match.doors));
    case Mismatch::target:
      return fmt::format("target '{}' does not match {}", action.target,
                         quoted_list(match.targets));
    case Mismatch::verb:
      return fmt::format("verb '{}' does not match {}", action.verb, quoted_list(match.verbs));
    case Mismatch::subject:
      return fmt::format("subject '{}' does not match {}", action.actor.subject,
                         quoted_list(match.subjects));
    case Mismatch::kind:
      return fmt::format("kind '{}' does not match {}", identity_kind_name(action.actor.kind),
                         quoted_list(match.kinds));
    case Mismatch::group:
      return fmt::format("groups {} do not match {}", quoted_list(action.actor.groups),
                         quoted_list(match.groups));
    case Mismatch::none:
      break;
  }
  return {};
}

// "door 'mcp' matches 'mcp', verb 'tools/call:read_x' matches 'tools/call:read_*'"
std::string describe_match(const CompiledRule& rule, const Action& action) {
  std::vector<std::string> parts;
  auto field = [&](std::string_view name, const std::vector<Glob>& patterns,
                   std::string_view value) {
    if (const Glob* glob = first_match(patterns, value))
      parts.push_back(fmt::format("{} '{}' matches '{}'", name, value, glob->pattern()));
  };
  field("door", rule.doors, action.door);
  field("target", rule.targets, action.target);
  field("verb", rule.verbs, action.verb);
  field("subject", rule.subjects, action.actor.subject);
  if (!rule.spec.match.kinds.empty())
    parts.push_back(fmt::format("kind '{}' is in {}", identity_kind_name(action.actor.kind),
                                quoted_list(rule.spec.match.kinds)));
  for (const std::string& group : action.actor.groups) {
    if (const Glob* glob = first_match(rule.groups, group)) {
      parts.push_back(fmt::format("group '{}' matches '{}'", group, glob->pattern()));
      break;
    }
  }
  if (parts.empty()) return "matches every action";
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) out += ", ";
    out += part;
  }
  return out;
}

}  // namespace

Explanation Policy::explain(const Action& action) const {
  // Walks every rule in file order, without the index, so that a trace can
  // say why each rule did not apply. It reaches the same decision as decide().
  const Compiled& compiled = *compiled_;
  Explanation explanation;
  explanation.rules.reserve(compiled.rules.size());
  std::vector<Hit> hits;
  for (std::size_t i = 0; i < compiled.rules.size(); ++i) {
    const CompiledRule& rule = compiled.rules[i];
    RuleTrace trace;
    trace.rule_id = rule.spec.id;
    Mismatch mismatch = check_match(rule, action);
    if (mismatch != Mismatch::none) {
      trace.why = describe_mismatch(rule, action, mismatch);
      explanation.rules.push_back(std::move(trace));
      continue;
    }
    trace.why = describe_match(rule, action);
    std::string error;
    switch (evaluate_when(rule, action, error)) {
      case WhenOutcome::absent:
        trace.matched = true;
        break;
      case WhenOutcome::is_true:
        trace.matched = true;
        trace.why += "; when is true";
        break;
      case WhenOutcome::is_false:
        trace.why += "; when is false";
        break;
      case WhenOutcome::errored_matched:
        trace.matched = true;
        trace.why += fmt::format("; when errored: {}, treated as matched", error);
        break;
      case WhenOutcome::errored_ignored:
        trace.why += fmt::format("; when errored: {}, treated as not matched", error);
        break;
    }
    if (trace.matched) {
      trace.why += fmt::format("; effect {}", effect_name(rule.spec.effect));
      hits.push_back(Hit{static_cast<RuleNumber>(i), {}});
      if (!error.empty()) hits.back().when_error = std::move(error);
    }
    explanation.rules.push_back(std::move(trace));
  }
  explanation.decision = compiled.build_decision(hits);
  return explanation;
}

std::size_t Policy::rule_count() const { return compiled_->rules.size(); }

}  // namespace countersign::policy
