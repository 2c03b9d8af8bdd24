// Masking: removes secrets and personal data from JSON values and text
// before anything is shown to reviewers, stored in the audit log, sent to a
// channel or (when policy asks) returned to an agent.
//
// - Values under secret-named keys are masked whatever they hold.
// - Strings (and integers) are scanned by the detector catalog
//   (mask/detectors.h) compiled into one Vectorscan/Hyperscan database:
//   one pass, validators on candidates only, no backtracking engine.
// - Each finding is replaced per its type's strategy: redact ("[EMAIL]"),
//   partial ("****4242") or hash (keyed HMAC-SHA256, "[EMAIL:3f2a9c1b04de]").
// - Findings report type, JSON pointer, byte range and detector, never the value.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/error.h"

namespace countersign::mask {

class Scanner;

enum class Strategy { redact, partial, hash };
std::optional<Strategy> parse_strategy(std::string_view name);
std::string_view strategy_name(Strategy strategy);

// A detector defined in configuration (masking.profiles.NAME.detectors).
struct CustomDetector {
  std::string name;       // unique id, reported as the finding's detector
  std::string type;       // finding type; defaults to name
  std::string pattern;    // Hyperscan/Vectorscan syntax
  std::string validator;  // optional: one of validator_names()
  double confidence = 0.9;
  bool caseless = false;
  std::string label;  // replacement for redact; default "[TYPE]"
};

struct MaskProfile {
  MaskProfile() = default;
  MaskProfile(std::string profile_name, std::vector<std::string> key_words)
      : name(std::move(profile_name)), secret_key_words(std::move(key_words)) {}

  std::string name = "default";
  // Lowercase words; a key is secret when its normalized form (lowercase,
  // without '-', '_', '.' and ' ') contains one of them.
  std::vector<std::string> secret_key_words;
  std::map<std::string, Strategy> strategies;   // by type; "*" applies to every other type
  std::map<std::string, std::string> labels;    // redact replacement by type
  std::vector<CustomDetector> detectors;        // added to the built-in catalog
  std::vector<std::string> disabled;            // built-in types or detector names turned off
  std::shared_ptr<const std::string> hash_key;  // HMAC key for `hash`; null: per-process key
  std::shared_ptr<const Scanner> scanner;       // set by prepare(); null: built-in catalog
};

// The built-in profile: default secret key words, the whole catalog.
MaskProfile default_profile();

// Compiles the profile's scanner when it adds or disables detectors. Errors
// (bad pattern, unknown validator, duplicate detector name) name the detector.
Result<void> prepare(MaskProfile& profile);

struct Finding {
  std::string type;       // "email", "credit_card", "secret_key", "github_token", ...
  std::string path;       // JSON pointer of the value ("/headers/authorization")
  std::size_t start = 0;  // byte range inside the string value (0,0: the whole value)
  std::size_t end = 0;
  std::string detector;  // which detector found it
};

struct MaskedJson {
  boost::json::value value;
  std::vector<Finding> findings;
};

MaskedJson mask_json(const boost::json::value& value, const MaskProfile& profile);

// Masks one string with the profile; appends findings with the given JSON pointer path.
std::string mask_text(std::string_view text, const MaskProfile& profile, const std::string& path,
                      std::vector<Finding>* findings);
// The same with the built-in default profile.
std::string mask_text(std::string_view text, const std::string& path,
                      std::vector<Finding>* findings);

// A body going back to an agent (tool result, HTTP body): masked as JSON
// when it parses as a JSON object or array, as text otherwise.
struct MaskedBody {
  std::string body;
  bool json = false;
  std::vector<Finding> findings;
};
MaskedBody mask_body(std::string_view body, const MaskProfile& profile);

boost::json::object to_json(const Finding& finding);

// Reads the hash key from PATH, or creates PATH (mode 0600) with 32 random
// bytes when it does not exist, so hashes stay stable across restarts.
Result<std::string> load_or_create_hash_key(const std::string& path);

}  // namespace countersign::mask
