// Config: the quickstart loads; every validation error names file:line;
// secrets are references resolved on demand and never echoed; relative paths
// are resolved against the configuration file's directory.
#include "config/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/hash.h"
#include "identity/api_keys.h"
#include "policy/policy.h"

namespace countersign::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// Joins lines with '\n' so that element i is line i + 1 of the document.
std::string lines(std::initializer_list<std::string> items) {
  std::string out;
  for (const auto& item : items) out += item + "\n";
  return out;
}

const std::string kHashA = sha256_hex("key-a");
const std::string kHashB = sha256_hex("key-b");

// Parses text that must fail and checks the "test.yaml:LINE:" prefix.
std::string expect_error_at(const std::string& yaml, int line) {
  auto config = parse_config(yaml, "test.yaml");
  EXPECT_FALSE(config.has_value()) << "expected an error at line " << line;
  if (config) return "";
  EXPECT_EQ(config.error().code, ErrorCode::invalid_argument);
  EXPECT_THAT(config.error().message, StartsWith("test.yaml:" + std::to_string(line) + ":"))
      << config.error().message;
  return config.error().message;
}

Config parse_ok(const std::string& yaml, const std::string& path = "test.yaml") {
  auto config = parse_config(yaml, path);
  EXPECT_TRUE(config.has_value()) << (config ? "" : config.error().message);
  return config ? std::move(*config) : Config{};
}

std::filesystem::path repo_root() {
  // tests/unit/config_test.cc -> repository root
  return std::filesystem::absolute(std::filesystem::path(__FILE__))
      .parent_path()
      .parent_path()
      .parent_path();
}

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() : path_(std::filesystem::temp_directory_path() / ("cs_config_" + new_id("t"))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& content) const {
    auto file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary);
    out << content;
    return file;
  }

 private:
  std::filesystem::path path_;
};

// ---------------------------------------------------------------------------
// The quickstart

TEST(ConfigQuickstart, LoadsAndCompiles) {
  auto path = repo_root() / "examples" / "quickstart.yaml";
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  auto config = load_config(path.string());
  ASSERT_TRUE(config.has_value()) << config.error().message;

  EXPECT_EQ(config->listen_address, "127.0.0.1");
  EXPECT_EQ(config->listen_port, 8080);
  EXPECT_EQ(config->public_url, "http://127.0.0.1:8080");
  EXPECT_EQ(std::filesystem::path(config->sqlite_path), path.parent_path() / "quickstart.db");

  ASSERT_EQ(config->api_keys.size(), 4u);
  const auto& agent = config->api_keys[0];
  EXPECT_EQ(agent.name, "demo-agent");
  EXPECT_EQ(agent.key_sha256, sha256_hex("demo-agent-key"));
  EXPECT_EQ(agent.identity.subject, "agent:deploy-bot");
  EXPECT_EQ(agent.identity.issuer, "api-key");
  EXPECT_EQ(agent.identity.kind, IdentityKind::agent);
  EXPECT_EQ(agent.identity.groups, std::vector<std::string>{"agents"});
  EXPECT_EQ(agent.identity.on_behalf_of, "dana@example.com");
  EXPECT_EQ(config->api_keys[3].identity.groups, (std::vector<std::string>{"sre-leads", "dba"}));
  EXPECT_EQ(config->api_keys[1].identity.kind, IdentityKind::human);
  EXPECT_EQ(config->api_keys[1].identity.email, "dana@example.com");

  // The documented demo keys authenticate to the documented subjects.
  identity::ApiKeyDirectory keys(config->api_keys);
  auto alice = keys.authenticate("demo-alice-key");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->subject, "alice@example.com");

  ASSERT_EQ(config->targets.size(), 3u);
  const auto& production = config->targets.at("production");
  EXPECT_EQ(production.door, "actions");
  EXPECT_EQ(production.hold_timeout, 30'000);
  ASSERT_TRUE(production.secrets.contains("DEPLOY_TOKEN"));
  EXPECT_EQ(production.secrets.at("DEPLOY_TOKEN").reference,
            "file:" + (path.parent_path() / "secrets" / "deploy-token").string());
  EXPECT_EQ(config->targets.at("reports").hold_timeout, 30'000);  // the default
  EXPECT_EQ(config->targets.at("files").door, "mcp");  // the MCP door on examples/sandbox

  EXPECT_EQ(config->policy.default_effect, Effect::deny);
  ASSERT_EQ(config->policy.rules.size(), 6u);
  const auto& changes = config->policy.rules[1];
  EXPECT_EQ(changes.id, "production-changes");
  EXPECT_EQ(changes.effect, Effect::review);
  EXPECT_EQ(changes.match.targets, std::vector<std::string>{"production"});
  EXPECT_EQ(changes.match.verbs, (std::vector<std::string>{"exec:*", "http:*"}));
  EXPECT_EQ(changes.when, "!action.verb.contains('destroy')");
  ASSERT_TRUE(changes.review.has_value());
  ASSERT_EQ(changes.review->steps.size(), 1u);
  EXPECT_EQ(changes.review->steps[0].approvers, std::vector<std::string>{"group:sre"});
  EXPECT_EQ(changes.review->steps[0].quorum, 1);
  EXPECT_EQ(changes.review->steps[0].escalate_after, 15 * 60'000);
  EXPECT_EQ(changes.review->steps[0].escalate_to, std::vector<std::string>{"group:sre-leads"});
  EXPECT_EQ(changes.review->expires_after, 3'600'000);
  EXPECT_EQ(changes.review->grant_ttl, 5 * 60'000);
  EXPECT_FALSE(changes.review->require_reason);
  const auto& destroy = config->policy.rules[2];
  ASSERT_TRUE(destroy.review.has_value());
  EXPECT_EQ(destroy.review->steps.size(), 2u);
  EXPECT_TRUE(destroy.review->require_reason);
  EXPECT_EQ(config->policy.rules[3].match.kinds, std::vector<std::string>{"agent"});

  auto policy = policy::Policy::compile(config->policy);
  ASSERT_TRUE(policy.has_value()) << policy.error().message;
  EXPECT_EQ(policy->rule_count(), 6u);
}

TEST(ConfigQuickstart, RuleLocationsPointIntoTheFile) {
  auto config = load_config((repo_root() / "examples" / "quickstart.yaml").string());
  ASSERT_TRUE(config.has_value()) << config.error().message;
  for (const auto& rule : config->policy.rules) {
    EXPECT_GT(rule.location.line, 0) << rule.id;
    EXPECT_THAT(rule.location.file, HasSubstr("quickstart.yaml"));
  }
  EXPECT_GT(config->policy.rules[1].when_location.line, config->policy.rules[1].location.line);
}

// ---------------------------------------------------------------------------
// Minimal documents and defaults

TEST(ConfigParse, MinimalDocumentGetsDefaults) {
  auto config = parse_ok(lines({"storage: {sqlite: data.db}"}));
  EXPECT_EQ(config.path, "test.yaml");
  EXPECT_EQ(config.listen_address, "127.0.0.1");
  EXPECT_EQ(config.listen_port, 8080);
  EXPECT_EQ(config.sqlite_path, "data.db");  // "test.yaml" has no directory
  EXPECT_TRUE(config.api_keys.empty());
  EXPECT_TRUE(config.targets.empty());
  EXPECT_EQ(config.policy.default_effect, Effect::deny);
}

TEST(ConfigParse, ListenAndServerSettings) {
  auto config =
      parse_ok(lines({"listen: 0.0.0.0:9443", "server:", "  public_url: https://gate.example.com",
                      "  max_wait: 2m", "  max_body_bytes: 4096", "storage: {sqlite: data.db}"}));
  EXPECT_EQ(config.listen_address, "0.0.0.0");
  EXPECT_EQ(config.listen_port, 9443);
  EXPECT_EQ(config.public_url, "https://gate.example.com");
  EXPECT_EQ(config.max_wait, 120'000);
  EXPECT_EQ(config.max_body_bytes, 4096u);
}

TEST(ConfigParse, MaskProfilesAndRuleReference) {
  auto config = parse_ok(lines({
      "storage: {sqlite: data.db}",
      "masking:",
      "  profiles:",
      "    strict:",
      "      secret_keys: [ssn, iban]",
      "policy:",
      "  rules:",
      "    - id: r",
      "      effect: allow",
      "      mask: strict",
  }));
  ASSERT_EQ(config.mask_profiles.size(), 1u);
  EXPECT_EQ(config.mask_profiles[0].name, "strict");
  EXPECT_EQ(config.mask_profiles[0].secret_keys, (std::vector<std::string>{"ssn", "iban"}));
  ASSERT_EQ(config.policy.rules.size(), 1u);
  EXPECT_EQ(config.policy.rules[0].mask_profile, "strict");
  EXPECT_EQ(config.policy.rules[0].location.line, 8);
}

TEST(ConfigParse, QuorumAllWithUsers) {
  auto config = parse_ok(lines({
      "storage: {sqlite: data.db}",
      "policy:",
      "  rules:",
      "    - id: r",
      "      effect: review",
      "      review:",
      "        steps:",
      "          - {approvers: [user:alice, user:bob], quorum: all}",
  }));
  ASSERT_EQ(config.policy.rules.size(), 1u);
  EXPECT_EQ(config.policy.rules[0].review->steps[0].quorum, 0);
}

// ---------------------------------------------------------------------------
// Errors name file:line

TEST(ConfigErrors, UnknownTopLevelKey) {
  auto message = expect_error_at(
      lines({"storage: {sqlite: data.db}", "listen: 127.0.0.1:8080", "polcy: {}"}), 3);
  EXPECT_THAT(message, HasSubstr("polcy"));
}

TEST(ConfigErrors, UnknownKeyInRule) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "policy:",
                                     "  rules:",
                                     "    - id: r",
                                     "      effect: allow",
                                     "      efect: deny",
                                 }),
                                 6);
  EXPECT_THAT(message, HasSubstr("efect"));
}

TEST(ConfigErrors, UnknownKeyInMatch) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "policy:",
                                     "  rules:",
                                     "    - id: r",
                                     "      effect: allow",
                                     "      match:",
                                     "        verb: read",
                                     "        targte: prod",
                                 }),
                                 8);
  EXPECT_THAT(message, HasSubstr("targte"));
}

TEST(ConfigErrors, UnknownKeyInFlowStyleMatch) {
  expect_error_at(lines({
                      "storage: {sqlite: data.db}",
                      "policy:",
                      "  rules:",
                      "    - id: r",
                      "      effect: allow",
                      "      match: {verb: read, doors: mcp}",
                  }),
                  6);
}

TEST(ConfigErrors, UnknownKeyInStep) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "policy:",
                                     "  rules:",
                                     "    - id: r",
                                     "      effect: review",
                                     "      review:",
                                     "        steps:",
                                     "          - approvers: [group:sre]",
                                     "            quorom: 2",
                                 }),
                                 9);
  EXPECT_THAT(message, HasSubstr("quorom"));
}

TEST(ConfigErrors, UnknownKeyInTarget) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "targets:",
                                     "  prod:",
                                     "    description: Production",
                                     "    hold_timout: 30s",
                                 }),
                                 5);
  EXPECT_THAT(message, HasSubstr("hold_timout"));
}

TEST(ConfigErrors, QuorumNotANumber) {
  expect_error_at(lines({
                      "storage: {sqlite: data.db}",
                      "policy:",
                      "  rules:",
                      "    - id: r",
                      "      effect: review",
                      "      review:",
                      "        steps:",
                      "          - approvers: [group:sre]",
                      "            quorum: x",
                  }),
                  9);
}

TEST(ConfigErrors, QuorumOutOfRange) {
  expect_error_at(lines({
                      "storage: {sqlite: data.db}",
                      "policy:",
                      "  rules:",
                      "    - id: r",
                      "      effect: review",
                      "      review:",
                      "        steps:",
                      "          - approvers: [group:sre]",
                      "            quorum: 0",
                  }),
                  9);
}

TEST(ConfigErrors, ListenWithoutPort) {
  auto message = expect_error_at(lines({"storage: {sqlite: data.db}", "listen: 127.0.0.1"}), 2);
  EXPECT_THAT(message, HasSubstr("listen"));
}

TEST(ConfigErrors, ListenWithBadPorts) {
  expect_error_at(lines({"listen: 127.0.0.1:http", "storage: {sqlite: data.db}"}), 1);
  expect_error_at(lines({"listen: 127.0.0.1:", "storage: {sqlite: data.db}"}), 1);
  expect_error_at(lines({"listen: 127.0.0.1:70000", "storage: {sqlite: data.db}"}), 1);
}

TEST(ConfigErrors, ListenWithHugePortIsAnErrorNotAnException) {
  EXPECT_NO_THROW({
    expect_error_at(lines({"storage: {sqlite: data.db}", "listen: 127.0.0.1:99999999999999999999"}),
                    2);
  });
}

TEST(ConfigErrors, GroupsAsAMap) {
  expect_error_at(lines({
                      "storage: {sqlite: data.db}",
                      "identity:",
                      "  api_keys:",
                      "    - name: a",
                      "      key_sha256: " + kHashA,
                      "      subject: agent:a",
                      "      groups: {sre: true}",
                  }),
                  7);
}

TEST(ConfigErrors, BadDurationWords) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "targets:",
                                     "  prod:",
                                     "    hold_timeout: 15 minutes",
                                 }),
                                 4);
  EXPECT_THAT(message, HasSubstr("15 minutes"));
}

TEST(ConfigErrors, NegativeDuration) {
  expect_error_at(lines({
                      "storage: {sqlite: data.db}",
                      "policy:",
                      "  rules:",
                      "    - id: r",
                      "      effect: review",
                      "      review:",
                      "        steps:",
                      "          - approvers: [group:sre]",
                      "            escalate_after: -1s",
                      "            escalate_to: [group:leads]",
                  }),
                  9);
}

TEST(ConfigErrors, BadExpiresAfter) {
  expect_error_at(lines({
                      "storage: {sqlite: data.db}",
                      "policy:",
                      "  rules:",
                      "    - id: r",
                      "      effect: review",
                      "      review:",
                      "        steps: [{approvers: [group:sre]}]",
                      "        expires_after: 1 hour",
                  }),
                  8);
}

TEST(ConfigErrors, InlineSecretIsRefusedWithoutEchoingIt) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "targets:",
                                     "  prod:",
                                     "    secrets:",
                                     "      DEPLOY_TOKEN: hunter2-inline-value",
                                 }),
                                 5);
  EXPECT_THAT(message, Not(HasSubstr("hunter2")));
  EXPECT_THAT(message, HasSubstr("env:"));
}

TEST(ConfigErrors, InlineApiKeyIsRefusedWithoutEchoingIt) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "identity:",
                                     "  api_keys:",
                                     "    - name: a",
                                     "      key: plaintext-key-value",
                                     "      subject: agent:a",
                                 }),
                                 5);
  EXPECT_THAT(message, Not(HasSubstr("plaintext-key-value")));
}

TEST(ConfigErrors, MissingStorage) {
  auto message = expect_error_at(lines({"listen: 127.0.0.1:8080", "policy: {default: deny}"}), 1);
  EXPECT_THAT(message, HasSubstr("storage"));
}

TEST(ConfigErrors, StorageWithoutSqlite) {
  expect_error_at(lines({"listen: 127.0.0.1:8080", "storage:", "  postgres: env:DSN"}), 3);
}

TEST(ConfigErrors, RuleReferencesUnknownTarget) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "targets:",
                                     "  prod: {description: p}",
                                     "policy:",
                                     "  rules:",
                                     "    - id: r",
                                     "      effect: allow",
                                     "      match:",
                                     "        target: staging",
                                 }),
                                 9);
  EXPECT_THAT(message, HasSubstr("staging"));
}

TEST(ConfigErrors, RuleTargetGlobNeedNotExist) {
  parse_ok(lines({
      "storage: {sqlite: data.db}",
      "policy:",
      "  rules:",
      "    - id: r",
      "      effect: allow",
      "      match: {target: 'stag*'}",
  }));
}

TEST(ConfigErrors, UnknownMaskProfile) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "policy:",
                                     "  rules:",
                                     "    - id: first",
                                     "      effect: allow",
                                     "    - id: r",
                                     "      effect: allow",
                                     "      mask: strcit",
                                 }),
                                 8);
  EXPECT_THAT(message, HasSubstr("strcit"));
}

TEST(ConfigErrors, MaskProfileExtendsUnknownProfile) {
  auto config = parse_config(lines({"storage: {sqlite: data.db}",
                                    "masking:", "  profiles:", "    strict: {extends: nosuch}"}),
                             "test.yaml");
  ASSERT_FALSE(config.has_value());
  EXPECT_THAT(config.error().message, StartsWith("test.yaml:"));
  EXPECT_THAT(config.error().message, HasSubstr("nosuch"));
}

TEST(ConfigErrors, MaskProfileCycleIsAnError) {
  auto config =
      parse_config(lines({"storage: {sqlite: data.db}",
                          "masking:", "  profiles:", "    a: {extends: b}", "    b: {extends: a}"}),
                   "test.yaml");
  ASSERT_FALSE(config.has_value());
  EXPECT_THAT(config.error().message, StartsWith("test.yaml:"));
}

TEST(ConfigErrors, QuorumAllWithGroupApprover) {
  expect_error_at(lines({
                      "storage: {sqlite: data.db}",
                      "policy:",
                      "  rules:",
                      "    - id: r",
                      "      effect: review",
                      "      review:",
                      "        steps:",
                      "          - approvers: [user:alice, group:sre]",
                      "            quorum: all",
                  }),
                  9);
}

TEST(ConfigErrors, EscalateAfterWithoutEscalateTo) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "policy:",
                                     "  rules:",
                                     "    - id: r",
                                     "      effect: review",
                                     "      review:",
                                     "        steps:",
                                     "          - approvers: [group:sre]",
                                     "            escalate_after: 15m",
                                 }),
                                 8);
  EXPECT_THAT(message, HasSubstr("escalate_to"));
}

TEST(ConfigErrors, ReviewEffectWithoutFlow) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "policy:",
                                     "  rules:",
                                     "    - id: ok",
                                     "      effect: allow",
                                     "    - id: needs-flow",
                                     "      effect: review",
                                 }),
                                 6);
  EXPECT_THAT(message, HasSubstr("needs-flow"));
}

TEST(ConfigErrors, ReviewOnAnAllowRule) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "policy:",
                                     "  rules:",
                                     "    - id: r",
                                     "      effect: allow",
                                     "      review: {steps: [{approvers: [group:sre]}]}",
                                 }),
                                 6);
  EXPECT_THAT(message, HasSubstr("review"));
}

TEST(ConfigErrors, BadApprover) {
  expect_error_at(lines({
                      "storage: {sqlite: data.db}",
                      "policy:",
                      "  rules:",
                      "    - id: r",
                      "      effect: review",
                      "      review:",
                      "        steps:",
                      "          - approvers: [sre]",
                  }),
                  8);
}

TEST(ConfigErrors, DuplicateApiKeySubject) {
  auto message = expect_error_at(lines({
                                     "storage: {sqlite: data.db}",
                                     "identity:",
                                     "  api_keys:",
                                     "    - name: a",
                                     "      key_sha256: " + kHashA,
                                     "      subject: agent:same",
                                     "    - name: b",
                                     "      key_sha256: " + kHashB,
                                     "      subject: agent:same",
                                 }),
                                 9);
  EXPECT_THAT(message, HasSubstr("agent:same"));
}

TEST(ConfigErrors, BadKeySha256) {
  // Too short, uppercase, and not hex: all refused at the value's line.
  expect_error_at(lines({"storage: {sqlite: data.db}", "identity:", "  api_keys:", "    - name: a",
                         "      key_sha256: abc123", "      subject: agent:a"}),
                  5);
  std::string upper = kHashA;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  expect_error_at(lines({"storage: {sqlite: data.db}", "identity:", "  api_keys:", "    - name: a",
                         "      subject: agent:a", "      key_sha256: " + upper}),
                  6);
  std::string not_hex = kHashA;
  not_hex[10] = 'g';
  expect_error_at(lines({"storage: {sqlite: data.db}", "identity:", "  api_keys:", "    - name: a",
                         "      key_sha256: " + not_hex, "      subject: agent:a"}),
                  5);
}

TEST(ConfigErrors, BadIdentityKind) {
  expect_error_at(
      lines({"storage: {sqlite: data.db}", "identity:", "  api_keys:", "    - name: a",
             "      key_sha256: " + kHashA, "      subject: agent:a", "      kind: robot"}),
      7);
}

TEST(ConfigErrors, YamlSyntaxError) {
  expect_error_at(lines({"storage: {sqlite: data.db}", "policy:", "  rules: [unclosed",
                         "listen: 127.0.0.1:8080"}),
                  4);
}

TEST(ConfigErrors, YamlSyntaxErrorBadIndentation) {
  auto config = parse_config(lines({"storage:", "  sqlite: data.db", "   bad: : x"}), "test.yaml");
  ASSERT_FALSE(config.has_value());
  EXPECT_THAT(config.error().message, StartsWith("test.yaml:3:")) << config.error().message;
}

TEST(ConfigErrors, EmptyDocument) {
  auto config = parse_config("", "test.yaml");
  ASSERT_FALSE(config.has_value());
  EXPECT_THAT(config.error().message, StartsWith("test.yaml"));
}

TEST(ConfigErrors, PolicyDefaultReviewRefused) {
  expect_error_at(lines({"storage: {sqlite: data.db}", "policy:", "  default: review"}), 3);
}

// ---------------------------------------------------------------------------
// Secrets

TEST(ConfigSecrets, EnvSet) {
  ::setenv("CS_CONFIG_TEST_SECRET", "s3cr3t-from-env", 1);
  auto value = resolve_secret({"env:CS_CONFIG_TEST_SECRET", {"test.yaml", 4, 7}});
  ::unsetenv("CS_CONFIG_TEST_SECRET");
  ASSERT_TRUE(value.has_value()) << value.error().message;
  EXPECT_EQ(*value, "s3cr3t-from-env");
}

TEST(ConfigSecrets, EnvUnsetNamesTheVariableAndLocation) {
  ::unsetenv("CS_CONFIG_TEST_UNSET");
  auto value = resolve_secret({"env:CS_CONFIG_TEST_UNSET", {"test.yaml", 4, 7}});
  ASSERT_FALSE(value.has_value());
  EXPECT_THAT(value.error().message, StartsWith("test.yaml:4:"));
  EXPECT_THAT(value.error().message, HasSubstr("CS_CONFIG_TEST_UNSET"));
}

TEST(ConfigSecrets, FileWithTrailingNewlineIsTrimmed) {
  TempDir dir;
  auto file = dir.write("token", "file-secret-value\n");
  auto value = resolve_secret({"file:" + file.string(), {"test.yaml", 2, 1}});
  ASSERT_TRUE(value.has_value()) << value.error().message;
  EXPECT_EQ(*value, "file-secret-value");

  auto crlf = dir.write("token-crlf", "crlf-value\r\n");
  value = resolve_secret({"file:" + crlf.string(), {}});
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, "crlf-value");
}

TEST(ConfigSecrets, FileKeepsInnerWhitespace) {
  TempDir dir;
  auto file = dir.write("token", "a b\nc\n");
  auto value = resolve_secret({"file:" + file.string(), {}});
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, "a b\nc");
}

TEST(ConfigSecrets, MissingFile) {
  TempDir dir;
  auto value = resolve_secret({"file:" + (dir.path() / "absent").string(), {"test.yaml", 9, 3}});
  ASSERT_FALSE(value.has_value());
  EXPECT_THAT(value.error().message, StartsWith("test.yaml:9:"));
  EXPECT_THAT(value.error().message, HasSubstr("absent"));
}

TEST(ConfigSecrets, NotAReference) {
  auto value = resolve_secret({"inline-secret-value", {"test.yaml", 1, 1}});
  ASSERT_FALSE(value.has_value());
  EXPECT_THAT(value.error().message, Not(HasSubstr("inline-secret-value")));
}

TEST(ConfigSecrets, ApiKeyFromEnvIsHashedAtLoad) {
  ::setenv("CS_CONFIG_TEST_KEY", "env-api-key-value", 1);
  auto config =
      parse_ok(lines({"storage: {sqlite: data.db}", "identity:", "  api_keys:", "    - name: a",
                      "      key: env:CS_CONFIG_TEST_KEY", "      subject: agent:a"}));
  ::unsetenv("CS_CONFIG_TEST_KEY");
  ASSERT_EQ(config.api_keys.size(), 1u);
  EXPECT_EQ(config.api_keys[0].key_sha256, sha256_hex("env-api-key-value"));
}

TEST(ConfigSecrets, ApiKeyFromUnsetEnvNamesTheLineOnce) {
  ::unsetenv("CS_CONFIG_TEST_NOKEY");
  auto message = expect_error_at(
      lines({"storage: {sqlite: data.db}", "identity:", "  api_keys:", "    - name: a",
             "      key: env:CS_CONFIG_TEST_NOKEY", "      subject: agent:a"}),
      5);
  EXPECT_THAT(message, HasSubstr("CS_CONFIG_TEST_NOKEY"));
  // "test.yaml:5:12: test.yaml:5:12: ..." would repeat the location.
  EXPECT_EQ(message.find("test.yaml", 1), std::string::npos) << message;
}

TEST(ConfigSecrets, ErrorsNeverContainTheSecretValue) {
  // A file that exists and holds a secret, referenced where resolution fails
  // for another reason (two keys given): the message must not carry it.
  TempDir dir;
  dir.write("key", "very-secret-key-material\n");
  auto config = parse_config(
      lines({"storage: {sqlite: data.db}", "identity:", "  api_keys:", "    - name: a",
             "      key: file:key", "      key_sha256: " + kHashA, "      subject: agent:a"}),
      (dir.path() / "test.yaml").string());
  ASSERT_FALSE(config.has_value());
  EXPECT_THAT(config.error().message, Not(HasSubstr("very-secret-key-material")));
}

// ---------------------------------------------------------------------------
// Paths relative to the configuration file

TEST(ConfigPaths, RelativeSqliteIsResolvedAgainstTheConfigDirectory) {
  auto config = parse_ok(lines({"storage: {sqlite: data/cs.db}"}), "/etc/countersign/main.yaml");
  EXPECT_EQ(config.sqlite_path, "/etc/countersign/data/cs.db");

  config = parse_ok(lines({"storage: {sqlite: /var/lib/cs.db}"}), "/etc/countersign/main.yaml");
  EXPECT_EQ(config.sqlite_path, "/var/lib/cs.db");

  config = parse_ok(lines({"storage: {sqlite: ':memory:'}"}), "/etc/countersign/main.yaml");
  EXPECT_EQ(config.sqlite_path, ":memory:");
}

TEST(ConfigPaths, RelativeFileSecretIsResolvedAgainstTheConfigDirectory) {
  auto config =
      parse_ok(lines({"storage: {sqlite: cs.db}",
                      "targets:", "  prod:", "    secrets:", "      TOKEN: file:secrets/token",
                      "      ABS: file:/run/abs", "      ENV: env:TOKEN_VAR"}),
               "/etc/countersign/main.yaml");
  const auto& secrets = config.targets.at("prod").secrets;
  EXPECT_EQ(secrets.at("TOKEN").reference, "file:/etc/countersign/secrets/token");
  EXPECT_EQ(secrets.at("TOKEN").location.line, 5);
  EXPECT_EQ(secrets.at("ABS").reference, "file:/run/abs");
  EXPECT_EQ(secrets.at("ENV").reference, "env:TOKEN_VAR");
}

TEST(ConfigPaths, LoadConfigResolvesFilesNextToTheConfig) {
  TempDir dir;
  dir.write("secrets/api-key", "file-api-key\n");
  dir.write("secrets/deploy", "deploy-token-value\n");
  auto path =
      dir.write("countersign.yaml",
                lines({"storage: {sqlite: state.db}", "identity:", "  api_keys:", "    - name: a",
                       "      key: file:secrets/api-key", "      subject: agent:a",
                       "targets:", "  prod:", "    secrets: {DEPLOY: 'file:secrets/deploy'}"}));
  auto config = load_config(path.string());
  ASSERT_TRUE(config.has_value()) << config.error().message;
  EXPECT_EQ(std::filesystem::path(config->sqlite_path), dir.path() / "state.db");
  ASSERT_EQ(config->api_keys.size(), 1u);
  EXPECT_EQ(config->api_keys[0].key_sha256, sha256_hex("file-api-key"));
  auto deploy = resolve_secret(config->targets.at("prod").secrets.at("DEPLOY"));
  ASSERT_TRUE(deploy.has_value()) << deploy.error().message;
  EXPECT_EQ(*deploy, "deploy-token-value");
}

TEST(ConfigPaths, LoadConfigMissingFile) {
  auto config = load_config("/nonexistent/countersign.yaml");
  ASSERT_FALSE(config.has_value());
  EXPECT_THAT(config.error().message, HasSubstr("/nonexistent/countersign.yaml"));
}

}  // namespace
}  // namespace countersign::config
