// Configuration: reads the YAML file once at start-up and turns it into
// plain structs (and the specs policy compiles). Every problem - unknown
// key, wrong type, bad duration, missing reference - is reported as
// "file:line: message". Secrets are never inline: they are `env:NAME` or
// `file:PATH` references resolved only when needed, and never printed.
#pragma once

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "identity/api_keys.h"
#include "identity/oidc.h"
#include "policy/policy.h"

namespace countersign::config {

// A reference to a secret held outside the config file.
struct SecretRef {
  std::string reference;  // "env:NAME" or "file:PATH"
  SourceLocation location;
};

// Reads the secret now. Errors name the reference, never the value.
Result<std::string> resolve_secret(const SecretRef& secret);

// server.tls: TLS on the listener, optionally with client certificates.
struct TlsSettings {
  std::string cert_file;  // PEM chain; empty = plain HTTP
  std::string key_file;   // PEM private key
  std::string min_version = "1.2";  // "1.2" | "1.3"
  std::string client_ca_file;       // set: ask for client certificates (mTLS)
  bool require_client_certificate = false;
  std::string client_subject_prefix = "cert:";  // subject = prefix + SAN URI/email/DNS or CN
  std::vector<std::string> client_groups;        // groups of certificate identities
  bool enabled() const { return !cert_file.empty(); }
};

struct McpTarget;   // config/mcp_target.h
struct ChannelsConfig;  // config/channels.h
struct HttpTarget;  // config/http_target.h

struct Target {
  std::string name;
  std::string door = "actions";  // the door that serves this target
  std::string description;
  Millis hold_timeout = 30'000;  // longest a caller is held while a review is pending
  std::map<std::string, SecretRef> secrets;  // released to an approved exec run, by env name
  std::shared_ptr<const McpTarget> mcp;      // door: mcp only
  std::shared_ptr<const HttpTarget> http;    // door: http only
  SourceLocation location;
};

struct MaskDetectorSpec {
  std::string name;
  std::string type;       // empty = name
  std::string pattern;    // Vectorscan/Hyperscan syntax, checked at load
  std::string validator;  // empty or one of mask::validator_names()
  double confidence = 0.9;
  bool caseless = false;
  std::string label;      // redact replacement, empty = "[TYPE]"
};

struct MaskProfileSpec {
  std::string name;
  std::string extends;                   // parent profile, empty = none
  std::vector<std::string> secret_keys;  // extra secret key words
  std::map<std::string, std::string> strategies;  // type (or "*") -> redact|partial|hash
  std::map<std::string, std::string> labels;      // type -> redact replacement
  std::vector<MaskDetectorSpec> detectors;        // added to the catalog
  std::vector<std::string> disable;               // built-in types or detector names turned off
};

// audit: the key that signs checkpoints, and how often they are issued.
struct AuditSettings {
  std::optional<SecretRef> signing_key;   // a PRIVATE+KEY+... note signer key
  std::int64_t checkpoint_events = 1000;  // a checkpoint after this many new events,
  Millis checkpoint_interval = 10'000;    // or this long after the last, whichever first
};

struct Config {
  std::string path;
  std::string listen_address = "127.0.0.1";
  int listen_port = 8080;
  std::string public_url;            // base URL shown in "approve at ..." messages
  std::size_t max_body_bytes = 1 << 20;
  Millis max_wait = 300'000;         // upper bound for ?wait=
  std::string sqlite_path;           // storage.sqlite (relative to the config file)
  std::string postgres_dsn;          // storage.postgres (not yet supported)
  std::vector<identity::ApiKey> api_keys;
  std::vector<identity::OidcIssuer> oidc_issuers;  // identity.oidc.issuers
  identity::BrowserLoginSettings browser_login;    // identity.oidc.login (web sign-in)
  TlsSettings tls;                                 // server.tls
  std::map<std::string, Target> targets;
  policy::PolicySpec policy;
  std::vector<MaskProfileSpec> mask_profiles;
  std::string mask_hash_key;  // masking.hash_key, resolved at load; empty = key file beside the store
  std::shared_ptr<const ChannelsConfig> channels;  // channels: (never null after load)
  AuditSettings audit;
};

// Loads and validates. Does not compile the policy (see load_and_compile).
Result<Config> load_config(const std::string& path);

// Parses YAML text as if it came from `path` (for tests).
Result<Config> parse_config(const std::string& yaml_text, const std::string& path);

}  // namespace countersign::config
