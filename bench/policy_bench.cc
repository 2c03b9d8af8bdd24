// Decisions per second for policies of 10, 1,000 and 10,000 rules.
//
// BM_Decide is the realistic mix: targets are named "team-K-ENV"; most rules
// name one or two targets exactly, about a third a team's family
// ("team-K-*"), and a few global guard rails (1%) apply to every target. Verbs
// are exact, a family glob ("sql:*", "tools/call:read_*") or any; one rule in
// five has a `when` on params. An action typically matches a few rules.
//
// BM_DecideBroad is a stress mix where target globs are wide ("svc-1*"
// covers a tenth of all targets) and 10% of rules apply to any target, so an
// action matches 1-2% of all rules (about 15 at 1,000 rules, 110 at 10,000).
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/json.hpp>

#include "policy/policy.h"

namespace countersign::policy {
namespace {

const std::vector<std::string> kDoors{"mcp", "http", "postgres", "actions"};
const std::vector<std::string> kSqlVerbs{"sql:SELECT", "sql:UPDATE", "sql:DELETE",
                                         "sql:DROP",   "sql:INSERT", "sql:COPY_TO"};
const std::vector<std::string> kTools{"read_file", "write_file",  "delete_file", "list_dir",
                                      "search",    "read_secret", "deploy",      "query"};
const std::vector<std::string> kMethods{"GET", "POST", "PUT", "DELETE"};
const std::vector<std::string> kWhen{
    "action.params.rows > 100",
    "!action.params.has_where || action.params.tables.exists(t, t == 'customers')",
    "action.params.path.startsWith('/etc') || action.params.path.matches('\\\\.pem$')",
    "'oncall' in action.actor.groups && action.params.rows < 10",
};

class Generator {
 public:
  Generator(int rule_count, bool broad)
      : broad_(broad), teams_(std::max(2, rule_count / (broad ? 10 : 8))) {}

  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[std::uniform_int_distribution<std::size_t>(0, items.size() - 1)(random_)];
  }
  int number(int low, int high) { return std::uniform_int_distribution<int>(low, high)(random_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(random_); }

  std::string team() { return std::to_string(number(0, teams_ - 1)); }
  std::string target() {
    if (broad_) return "svc-" + team();
    static const std::vector<std::string> kEnvironments{"prod", "staging", "dev", "eu"};
    return "team-" + team() + "-" + pick(kEnvironments);
  }

  std::string verb(const std::string& door) {
    if (door == "postgres") return pick(kSqlVerbs);
    if (door == "mcp") return "tools/call:" + pick(kTools);
    if (door == "http") return "http:" + pick(kMethods) + " /api/v" + std::to_string(number(1, 3));
    return "exec:job-" + std::to_string(number(0, 50));
  }

  RuleSpec rule(int index) {
    RuleSpec spec;
    spec.id = "rule-" + std::to_string(index);
    double roll = number(0, 99) / 100.0;
    spec.effect = roll < 0.6 ? Effect::allow : roll < 0.85 ? Effect::review : Effect::deny;
    if (spec.effect == Effect::review) {
      Flow flow;
      flow.steps.push_back(FlowStep{{"group:dba"}, 1, 0, {}});
      spec.review = flow;
    }
    std::string door = pick(kDoors);
    if (!chance(0.05)) spec.match.doors = {door};
    // Targets: mostly exact, some family globs, a few wildcards.
    double shape = number(0, 99) / 100.0;
    if (broad_) {
      if (shape < 0.65) {
        spec.match.targets = {target()};
        if (chance(0.2)) spec.match.targets.push_back(target());
      } else if (shape < 0.9) {
        spec.match.targets = {"svc-" + std::to_string(number(1, 9)) + "*"};
      } else if (shape < 0.95) {
        spec.match.targets = {"*"};
      }
    } else {
      if (shape < 0.01) {
        // A global guard rail: any target.
      } else if (shape < 0.7) {
        spec.match.targets = {target()};
        if (chance(0.2)) spec.match.targets.push_back(target());
      } else {
        spec.match.targets = {"team-" + team() + "-*"};
      }
    }
    // Verbs: exact, a family glob ("sql:*", "tools/call:read_*"), or any.
    double verb_shape = number(0, 99) / 100.0;
    if (verb_shape < 0.6) {
      spec.match.verbs = {verb(door)};
    } else if (verb_shape < 0.85) {
      spec.match.verbs = {door == "postgres" ? "sql:*"
                          : door == "mcp"    ? "tools/call:read_*"
                          : door == "http"   ? "http:DELETE *"
                                             : "exec:*"};
    }
    if (chance(0.2)) spec.when = pick(kWhen);
    if (chance(0.3)) spec.mask_profile = "strict";
    return spec;
  }

  Action action() {
    Action a;
    a.id = "act_bench";
    a.door = pick(kDoors);
    a.target = target();
    a.verb = verb(a.door);
    a.actor.subject = "agent:bench";
    a.actor.kind = IdentityKind::agent;
    a.actor.groups = {"ci", chance(0.3) ? "oncall" : "dev"};
    boost::json::array tables{"orders"};
    if (chance(0.3)) tables.emplace_back("customers");
    a.params = boost::json::object{{"rows", number(0, 500)},
                                   {"has_where", chance(0.7)},
                                   {"tables", std::move(tables)},
                                   {"path", chance(0.5) ? "/etc/passwd" : "/srv/app/key.pem"}};
    return a;
  }

 private:
  std::mt19937 random_{42};
  bool broad_;
  int teams_;
};

void run(benchmark::State& state, bool broad) {
  const int rule_count = static_cast<int>(state.range(0));
  Generator generator(rule_count, broad);
  PolicySpec spec;
  for (int i = 0; i < rule_count; ++i) spec.rules.push_back(generator.rule(i));
  auto policy = Policy::compile(spec);
  if (!policy) {
    state.SkipWithError(policy.error().message.c_str());
    return;
  }
  std::vector<Action> actions;
  for (int i = 0; i < 1024; ++i) actions.push_back(generator.action());

  std::size_t next = 0, matched = 0;
  for (auto _ : state) {
    Decision decision = policy->decide(actions[next]);
    matched += decision.rules.size();
    benchmark::DoNotOptimize(decision);
    next = (next + 1) & 1023;
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["rules_matched"] =
      benchmark::Counter(static_cast<double>(matched) / static_cast<double>(state.iterations()));
}

void BM_Decide(benchmark::State& state) { run(state, false); }
void BM_DecideBroad(benchmark::State& state) { run(state, true); }

BENCHMARK(BM_Decide)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_DecideBroad)->Arg(10)->Arg(1000)->Arg(10000);

}  // namespace
}  // namespace countersign::policy

BENCHMARK_MAIN();
