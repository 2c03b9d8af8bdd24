#include "config/config.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "config/channels.h"
#include "config/http_target.h"
#include "config/identity_section.h"
#include "config/mcp_target.h"
#include "config/yaml_reader.h"
#include "core/hash.h"
#include "mask/detectors.h"
#include "mask/mask.h"
#include "mask/scanner.h"

namespace countersign::config {
namespace {

void read_listen(const Reader& reader, const YAML::Node& node, Config& config) {
  std::string listen = reader.text(node, "listen");
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    reader.fail_at(node, fmt::format("listen must be HOST:PORT, got '{}'", listen));
  config.listen_address = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535)
    reader.fail_at(node, fmt::format("listen: bad port '{}'", port));
  config.listen_port = std::stoi(port);
}

void read_server(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_keys(node, "server", {"public_url", "max_body_bytes", "max_wait", "tls"});
  if (node["tls"]) read_tls(reader, node["tls"], config);
  if (node["public_url"]) config.public_url = reader.text(node["public_url"], "server.public_url");
  if (node["max_body_bytes"])
    config.max_body_bytes = static_cast<std::size_t>(
        reader.integer(node["max_body_bytes"], "server.max_body_bytes", 1024, 1LL << 30));
  if (node["max_wait"]) config.max_wait = reader.duration(node["max_wait"], "server.max_wait");
}

void read_storage(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_keys(node, "storage", {"sqlite", "postgres"});
  if (node["sqlite"] && node["postgres"])
    reader.fail_at(node, "storage: choose one of sqlite or postgres");
  if (node["postgres"])
    reader.fail_at(node["postgres"], "storage.postgres is not supported yet; use storage.sqlite");
  if (!node["sqlite"]) reader.fail_at(node, "storage: sqlite: PATH is required");
  std::filesystem::path path = reader.text(node["sqlite"], "storage.sqlite");
  if (path.is_relative() && path != ":memory:")
    path = std::filesystem::path(reader.file()).parent_path() / path;
  config.sqlite_path = path.string();
}

bool is_hex_sha256(const std::string& text) {
  return text.size() == 64 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

void read_api_keys(const Reader& reader, const YAML::Node& node, Config& config) {
  if (!node.IsSequence()) reader.fail_at(node, "identity.api_keys must be a list");
  std::set<std::string> subjects;
  for (const auto& entry : node) {
    reader.expect_keys(entry, "an api_keys entry",
                       {"name", "key_sha256", "key", "subject", "kind", "groups", "email",
                        "on_behalf_of"});
    identity::ApiKey key;
    if (!entry["name"]) reader.fail_at(entry, "api key: name is required");
    key.name = reader.text(entry["name"], "api key name");
    if (entry["key_sha256"] && entry["key"])
      reader.fail_at(entry, fmt::format("api key '{}': give key_sha256 or key, not both", key.name));
    if (entry["key_sha256"]) {
      key.key_sha256 = reader.text(entry["key_sha256"], "key_sha256");
      if (!is_hex_sha256(key.key_sha256))
        reader.fail_at(entry["key_sha256"],
                       "key_sha256 must be 64 lowercase hex digits (sha256sum of the key)");
    } else if (entry["key"]) {
      auto secret = resolve_secret(reader.secret(entry["key"], "api key"));
      if (!secret) throw ConfigError{secret.error().message};  // already names file:line
      key.key_sha256 = sha256_hex(*secret);
    } else {
      reader.fail_at(entry, fmt::format("api key '{}': key_sha256 or key is required", key.name));
    }
    if (!entry["subject"]) reader.fail_at(entry, fmt::format("api key '{}': subject is required", key.name));
    key.identity.subject = reader.text(entry["subject"], "subject");
    key.identity.issuer = "api-key";
    if (!subjects.insert(key.identity.subject).second)
      reader.fail_at(entry["subject"],
                     fmt::format("subject '{}' is used by two api keys", key.identity.subject));
    if (entry["kind"]) {
      auto kind = parse_identity_kind(reader.text(entry["kind"], "kind"));
      if (!kind) reader.fail_at(entry["kind"], "kind must be agent, human or service");
      key.identity.kind = *kind;
    }
    if (entry["groups"]) key.identity.groups = reader.strings(entry["groups"], "groups");
    if (entry["email"]) key.identity.email = reader.text(entry["email"], "email");
    if (entry["on_behalf_of"])
      key.identity.on_behalf_of = reader.text(entry["on_behalf_of"], "on_behalf_of");
    config.api_keys.push_back(std::move(key));
  }
}

void read_identity(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_keys(node, "identity", {"api_keys", "oidc"});
  if (node["api_keys"]) read_api_keys(reader, node["api_keys"], config);
  if (node["oidc"]) read_oidc(reader, node["oidc"], config);
}

void read_targets(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_map(node, "targets");
  for (const auto& entry : node) {
    Target target;
    target.name = entry.first.as<std::string>();
    target.location = reader.where(entry.first);
    const YAML::Node& body = entry.second;
    reader.expect_keys(body, fmt::format("target '{}'", target.name),
                       {"door", "description", "hold_timeout", "secrets", "mcp", "http"});
    if (body["door"]) {
      target.door = reader.text(body["door"], "door");
      if (target.door != "actions" && target.door != "mcp" && target.door != "http")
        reader.fail_at(body["door"], fmt::format("target '{}': door '{}' is not available (doors: "
                                                 "actions, mcp, http)",
                                                 target.name, target.door));
    }
    if (target.door == "mcp" && !body["mcp"])
      reader.fail_at(body, fmt::format("target '{}': door mcp needs an mcp: section", target.name));
    if (body["mcp"]) {
      if (target.door != "mcp")
        reader.fail_at(body["mcp"], fmt::format("target '{}': mcp: needs door: mcp", target.name));
      target.mcp = std::make_shared<const McpTarget>(read_mcp_target(reader, body["mcp"], target.name));
    }
    if ((target.door == "http") != bool(body["http"]))
      reader.fail_at(body, fmt::format("target '{}': door http and an http: section go together",
                                       target.name));
    if (body["http"]) target.http = read_http_target(reader, body["http"], target.name);
    if (body["description"]) target.description = reader.text(body["description"], "description");
    if (body["hold_timeout"])
      target.hold_timeout = reader.duration(body["hold_timeout"], "hold_timeout");
    if (body["secrets"]) {
      reader.expect_map(body["secrets"], "secrets");
      for (const auto& secret : body["secrets"]) {
        std::string name = secret.first.as<std::string>();
        if (name.empty() || name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
                                std::string::npos)
          reader.fail_at(secret.first,
                         fmt::format("secret name '{}' must be an environment variable name "
                                     "(A-Z, 0-9, _)",
                                     name));
        target.secrets[name] = reader.secret(secret.second, "secret " + name);
      }
    }
    config.targets[target.name] = std::move(target);
  }
}

std::vector<std::string> read_approvers(const Reader& reader, const YAML::Node& node,
                                        std::string_view what) {
  auto approvers = reader.strings(node, what);
  for (const auto& approver : approvers) {
    if (!(approver.starts_with("group:") && approver.size() > 6) &&
        !(approver.starts_with("user:") && approver.size() > 5))
      reader.fail_at(node, fmt::format("{}: '{}' must be group:NAME or user:SUBJECT", what,
                                       approver));
  }
  return approvers;
}

Flow read_flow(const Reader& reader, const YAML::Node& node) {
  reader.expect_keys(node, "review", {"steps", "expires_after", "require_reason", "grant_ttl"});
  Flow flow;
  if (!node["steps"] || !node["steps"].IsSequence() || node["steps"].size() == 0)
    reader.fail_at(node, "review.steps must be a non-empty list");
  for (const auto& item : node["steps"]) {
    reader.expect_keys(item, "a review step",
                       {"approvers", "quorum", "escalate_after", "escalate_to"});
    FlowStep step;
    if (!item["approvers"]) reader.fail_at(item, "a review step needs approvers");
    step.approvers = read_approvers(reader, item["approvers"], "approvers");
    if (item["quorum"]) {
      if (item["quorum"].IsScalar() && item["quorum"].Scalar() == "all") {
        step.quorum = 0;
        for (const auto& approver : step.approvers)
          if (!approver.starts_with("user:"))
            reader.fail_at(item["quorum"],
                           "quorum: all needs every approver listed as user:SUBJECT (a group's "
                           "members cannot be enumerated)");
      } else {
        step.quorum = static_cast<int>(reader.integer(item["quorum"], "quorum", 1, 100));
      }
    }
    if (item["escalate_after"])
      step.escalate_after = reader.duration(item["escalate_after"], "escalate_after");
    if (item["escalate_to"])
      step.escalate_to = read_approvers(reader, item["escalate_to"], "escalate_to");
    if (step.escalate_after > 0 && step.escalate_to.empty())
      reader.fail_at(item, "escalate_after needs escalate_to");
    flow.steps.push_back(std::move(step));
  }
  if (node["expires_after"]) flow.expires_after = reader.duration(node["expires_after"], "expires_after");
  if (node["require_reason"]) flow.require_reason = reader.boolean(node["require_reason"], "require_reason");
  if (node["grant_ttl"]) flow.grant_ttl = reader.duration(node["grant_ttl"], "grant_ttl");
  if (flow.expires_after <= 0) reader.fail_at(node, "expires_after must be positive");
  if (flow.grant_ttl <= 0) reader.fail_at(node, "grant_ttl must be positive");
  return flow;
}

bool has_glob(const std::string& text) { return text.find_first_of("*?") != std::string::npos; }

policy::RuleSpec read_rule(const Reader& reader, const YAML::Node& node, const Config& config) {
  reader.expect_keys(node, "a rule",
                     {"id", "match", "when", "effect", "review", "mask", "reason", "description"});
  policy::RuleSpec rule;
  rule.location = reader.where(node);
  if (!node["id"]) reader.fail_at(node, "a rule needs an id");
  rule.id = reader.text(node["id"], "id");
  if (!node["effect"]) reader.fail_at(node, fmt::format("rule '{}': effect is required", rule.id));
  auto effect = parse_effect(reader.text(node["effect"], "effect"));
  if (!effect) reader.fail_at(node["effect"], "effect must be allow, deny or review");
  rule.effect = *effect;
  if (node["match"]) {
    const YAML::Node& match = node["match"];
    reader.expect_keys(match, "match", {"door", "target", "verb", "subject", "kind", "group"});
    if (match["door"]) rule.match.doors = reader.strings(match["door"], "match.door");
    if (match["target"]) {
      rule.match.targets = reader.strings(match["target"], "match.target");
      for (const auto& target : rule.match.targets)
        if (!has_glob(target) && !config.targets.contains(target))
          reader.fail_at(match["target"],
                         fmt::format("rule '{}': unknown target '{}' (not under targets:)", rule.id,
                                     target));
    }
    if (match["verb"]) rule.match.verbs = reader.strings(match["verb"], "match.verb");
    if (match["subject"]) rule.match.subjects = reader.strings(match["subject"], "match.subject");
    if (match["kind"]) {
      rule.match.kinds = reader.strings(match["kind"], "match.kind");
      for (const auto& kind : rule.match.kinds)
        if (!parse_identity_kind(kind))
          reader.fail_at(match["kind"], fmt::format("match.kind '{}' must be agent, human or "
                                                    "service",
                                                    kind));
    }
    if (match["group"]) rule.match.groups = reader.strings(match["group"], "match.group");
  }
  if (node["when"]) {
    rule.when = reader.text(node["when"], "when");
    rule.when_location = reader.where(node["when"]);
    // The scalar's mark points at its first character, or at the opening
    // quote; expression columns are reported relative to the text itself.
    if (node["when"].Tag() == "!" && rule.when_location.column > 0) rule.when_location.column += 1;
  }
  if (node["review"]) {
    if (rule.effect != Effect::review)
      reader.fail_at(node["review"], fmt::format("rule '{}': review: is only valid with effect: "
                                                 "review",
                                                 rule.id));
    rule.review = read_flow(reader, node["review"]);
  } else if (rule.effect == Effect::review) {
    reader.fail_at(node, fmt::format("rule '{}': effect review needs a review: flow", rule.id));
  }
  if (node["mask"]) rule.mask_profile = reader.text(node["mask"], "mask");
  if (node["reason"]) rule.reason = reader.text(node["reason"], "reason");
  if (node["description"] && rule.reason.empty())
    rule.reason = reader.text(node["description"], "description");
  return rule;
}

void read_policy(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_keys(node, "policy", {"default", "rules"});
  if (node["default"]) {
    auto effect = parse_effect(reader.text(node["default"], "policy.default"));
    if (!effect || *effect == Effect::review)
      reader.fail_at(node["default"], "policy.default must be allow or deny");
    config.policy.default_effect = *effect;
  }
  if (node["rules"]) {
    if (!node["rules"].IsSequence()) reader.fail_at(node["rules"], "policy.rules must be a list");
    for (const auto& rule : node["rules"]) config.policy.rules.push_back(read_rule(reader, rule, config));
  }
}

MaskDetectorSpec read_mask_detector(const Reader& reader, const YAML::Node& node) {
  reader.expect_keys(node, "a mask detector",
                     {"name", "type", "pattern", "validator", "confidence", "caseless", "label"});
  MaskDetectorSpec detector;
  if (!node["name"] || !node["pattern"])
    reader.fail_at(node, "a mask detector needs a name and a pattern");
  detector.name = reader.text(node["name"], "name");
  if (node["type"]) detector.type = reader.text(node["type"], "type");
  detector.pattern = reader.text(node["pattern"], "pattern");
  if (node["caseless"]) detector.caseless = reader.boolean(node["caseless"], "caseless");
  if (std::string error = mask::pattern_error(detector.pattern, detector.caseless); !error.empty())
    reader.fail_at(node["pattern"],
                   fmt::format("mask detector '{}': bad pattern: {}", detector.name, error));
  if (node["validator"]) {
    detector.validator = reader.text(node["validator"], "validator");
    if (!mask::named_validator(detector.validator))
      reader.fail_at(node["validator"],
                     fmt::format("mask detector '{}': unknown validator '{}' (known: {})",
                                 detector.name, detector.validator,
                                 fmt::join(mask::validator_names(), ", ")));
  }
  if (node["confidence"]) {
    std::string raw = reader.text(node["confidence"], "confidence");
    char* end = nullptr;
    detector.confidence = std::strtod(raw.c_str(), &end);
    if (raw.empty() || *end != '\0' || !(detector.confidence > 0 && detector.confidence <= 1))
      reader.fail_at(node["confidence"],
                     fmt::format("confidence must be a number in (0, 1], got '{}'", raw));
  }
  if (node["label"]) detector.label = reader.text(node["label"], "label");
  return detector;
}

void read_masking(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_keys(node, "masking", {"profiles", "hash_key"});
  if (node["hash_key"]) {
    auto key = resolve_secret(reader.secret(node["hash_key"], "masking.hash_key"));
    if (!key) throw ConfigError{key.error().message};  // already names file:line
    if (key->size() < 16) reader.fail_at(node["hash_key"], "masking.hash_key must be at least 16 bytes");
    config.mask_hash_key = *key;
  }
  if (!node["profiles"]) return;
  reader.expect_map(node["profiles"], "masking.profiles");
  for (const auto& entry : node["profiles"]) {
    MaskProfileSpec profile;
    profile.name = entry.first.as<std::string>();
    reader.expect_keys(entry.second, "a mask profile",
                       {"extends", "secret_keys", "strategies", "labels", "detectors", "disable"});
    if (entry.second["extends"]) profile.extends = reader.text(entry.second["extends"], "extends");
    if (entry.second["secret_keys"])
      profile.secret_keys = reader.strings(entry.second["secret_keys"], "secret_keys");
    if (const auto& strategies = entry.second["strategies"]) {
      reader.expect_map(strategies, "strategies");
      for (const auto& item : strategies) {
        std::string value = reader.text(item.second, "strategy");
        if (!mask::parse_strategy(value))
          reader.fail_at(item.second, fmt::format("strategy must be redact, partial or hash, got '{}'",
                                                  value));
        profile.strategies[item.first.as<std::string>()] = value;
      }
    }
    if (const auto& labels = entry.second["labels"]) {
      reader.expect_map(labels, "labels");
      for (const auto& item : labels)
        profile.labels[item.first.as<std::string>()] = reader.text(item.second, "label");
    }
    if (const auto& detectors = entry.second["detectors"]) {
      if (!detectors.IsSequence()) reader.fail_at(detectors, "detectors must be a list");
      for (const auto& detector : detectors)
        profile.detectors.push_back(read_mask_detector(reader, detector));
    }
    if (entry.second["disable"]) profile.disable = reader.strings(entry.second["disable"], "disable");
    config.mask_profiles.push_back(std::move(profile));
  }
}

void read_audit(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_keys(node, "audit", {"signing_key", "checkpoint_every"});
  if (node["signing_key"]) {
    SecretRef key = reader.secret(node["signing_key"], "audit.signing_key");
    // Read now so that a missing or wrong key stops start-up, not the first checkpoint.
    auto value = resolve_secret(key);
    if (!value) throw ConfigError{value.error().message};  // already names file:line
    if (!value->starts_with("PRIVATE+KEY+"))
      reader.fail_at(node["signing_key"],
                     "audit.signing_key does not hold a signing key (PRIVATE+KEY+...); create one "
                     "with `countersign audit keygen`");
    config.audit.signing_key = std::move(key);
  }
  if (const YAML::Node every = node["checkpoint_every"]) {
    reader.expect_keys(every, "audit.checkpoint_every", {"events", "interval"});
    if (every["events"])
      config.audit.checkpoint_events =
          reader.integer(every["events"], "audit.checkpoint_every.events", 1, 1'000'000'000);
    if (every["interval"]) {
      config.audit.checkpoint_interval =
          reader.duration(every["interval"], "audit.checkpoint_every.interval");
      if (config.audit.checkpoint_interval < 100)
        reader.fail_at(every["interval"], "audit.checkpoint_every.interval must be at least 100ms");
    }
  }
}

// References between sections, checked once everything is read.
void check_references(const Reader& reader, const YAML::Node& root, const Config& config) {
  std::set<std::string> profiles = {"default"};
  for (const auto& profile : config.mask_profiles) profiles.insert(profile.name);
  std::map<std::string, std::string> parents;
  for (const auto& profile : config.mask_profiles) {
    if (!profile.extends.empty() && !profiles.contains(profile.extends))
      reader.fail_at(root["masking"], fmt::format("mask profile '{}' extends unknown profile '{}'",
                                                  profile.name, profile.extends));
    if (!parents.emplace(profile.name, profile.extends).second)
      reader.fail_at(root["masking"], fmt::format("mask profile '{}' is defined twice", profile.name));
  }
  for (const auto& profile : config.mask_profiles) {
    std::string at = profile.name;
    for (std::size_t steps = 0; !at.empty(); ++steps) {
      if (steps > parents.size())
        reader.fail_at(root["masking"],
                       fmt::format("mask profile '{}' extends itself through a cycle", profile.name));
      auto parent = parents.find(at);
      at = parent == parents.end() ? std::string() : parent->second;
    }
  }
  for (std::size_t i = 0; i < config.policy.rules.size(); ++i) {
    const auto& rule = config.policy.rules[i];
    if (!rule.mask_profile.empty() && !profiles.contains(rule.mask_profile))
      reader.fail_at(root["policy"]["rules"][i]["mask"],
                     fmt::format("rule '{}': unknown mask profile '{}'", rule.id,
                                 rule.mask_profile));
  }
}

Config read_root(const Reader& reader, const YAML::Node& root, const std::string& path) {
  Config config;
  config.path = path;
  if (!root.IsDefined() || root.IsNull()) throw ConfigError{path + ": the file is empty"};
  reader.expect_keys(root, "the configuration",
                     {"listen", "server", "storage", "identity", "targets", "policy", "masking",
                      "audit", "channels"});
  if (root["listen"]) read_listen(reader, root["listen"], config);
  if (root["server"]) read_server(reader, root["server"], config);
  if (!root["storage"]) reader.fail_at(root, "storage is required (e.g. storage: {sqlite: countersign.db})");
  read_storage(reader, root["storage"], config);
  if (root["identity"]) read_identity(reader, root["identity"], config);
  if (root["targets"]) read_targets(reader, root["targets"], config);
  if (root["masking"]) read_masking(reader, root["masking"], config);
  if (root["audit"]) read_audit(reader, root["audit"], config);
  config.channels = std::make_shared<const ChannelsConfig>(
      root["channels"] ? read_channels(reader, root["channels"], config) : ChannelsConfig{});
  if (root["policy"]) read_policy(reader, root["policy"], config);
  check_references(reader, root, config);
  if (config.public_url.empty())
    config.public_url = fmt::format("{}://{}:{}", config.tls.enabled() ? "https" : "http",
                                    config.listen_address, config.listen_port);
  return config;
}

}  // namespace

Result<std::string> resolve_secret(const SecretRef& secret) {
  const std::string& reference = secret.reference;
  if (reference.starts_with("env:")) {
    std::string name = reference.substr(4);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr || *value == '\0')
      return fail(ErrorCode::failed_precondition,
                  located(secret.location, fmt::format("environment variable {} is not set", name)));
    return std::string(value);
  }
  if (reference.starts_with("file:")) {
    std::string file = reference.substr(5);
    std::ifstream in(file, std::ios::binary);
    if (!in)
      return fail(ErrorCode::failed_precondition,
                  located(secret.location, fmt::format("cannot read secret file {}", file)));
    std::stringstream content;
    content << in.rdbuf();
    std::string value = content.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    return value;
  }
  return fail(ErrorCode::invalid_argument,
              located(secret.location, "a secret must be an env: or file: reference"));
}

Result<Config> parse_config(const std::string& yaml_text, const std::string& path) {
  Reader reader(path);
  try {
    YAML::Node root = YAML::Load(yaml_text);
    return read_root(reader, root, path);
  } catch (const ConfigError& error) {
    return fail(ErrorCode::invalid_argument, error.message);
  } catch (const YAML::Exception& error) {
    SourceLocation where{path, error.mark.line + 1, error.mark.column + 1};
    return fail(ErrorCode::invalid_argument, located(where, error.msg));
  }
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::invalid_argument, fmt::format("{}: cannot open the file", path));
  std::stringstream content;
  content << in.rdbuf();
  return parse_config(content.str(), path);
}

}  // namespace countersign::config
