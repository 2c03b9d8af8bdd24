// Configuration: reads the YAML file once at start-up and turns it into
// plain structs (and the specs policy compiles). Every problem - unknown
// key, wrong type, bad duration, missing reference - is reported as
// "file:line: message". Secrets are never inline: they are `env:NAME` or
// `file:PATH` references resolved only when needed, and never printed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/error.h"
#include "identity/api_keys.h"
#include "policy/policy.h"

namespace countersign::config {

// A reference to a secret held outside the config file.
struct SecretRef {
  std::string reference;  // "env:NAME" or "file:PATH"
  SourceLocation location;
};

// Reads the secret now. Errors name the reference, never the value.
Result<std::string> resolve_secret(const SecretRef& secret);

struct Target {
  std::string name;
  std::string door = "actions";  // the door that serves this target
  std::string description;
  Millis hold_timeout = 30'000;  // longest a caller is held while a review is pending
  std::map<std::string, SecretRef> secrets;  // released to an approved exec run, by env name
  SourceLocation location;
};

struct MaskProfileSpec {
  std::string name;
  std::string extends;                   // parent profile, empty = none
  std::vector<std::string> secret_keys;  // extra secret key words
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
  std::map<std::string, Target> targets;
  policy::PolicySpec policy;
  std::vector<MaskProfileSpec> mask_profiles;
};

// Loads and validates. Does not compile the policy (see load_and_compile).
Result<Config> load_config(const std::string& path);

// Parses YAML text as if it came from `path` (for tests).
Result<Config> parse_config(const std::string& yaml_text, const std::string& path);

}  // namespace countersign::config
