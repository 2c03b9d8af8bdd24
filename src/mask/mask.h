// Masking v1: removes secrets and personal data from JSON values and text
// before anything is shown to reviewers, stored in the audit log or sent to
// a channel. Values under secret-named keys are masked whatever they hold;
// strings are scanned by linear-time detectors (no backtracking regex).
// Findings report type and position only, never the value itself.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

namespace countersign::mask {

struct MaskProfile {
  std::string name = "default";
  // Lowercase words; a key is secret when its normalized form (lowercase,
  // without '-', '_' and '.') contains one of them.
  std::vector<std::string> secret_key_words;
};

MaskProfile default_profile();

struct Finding {
  std::string type;      // "email", "credit_card", "secret_key", "api_token", ...
  std::string path;      // JSON pointer of the value ("/headers/authorization")
  std::size_t start = 0; // byte range inside the string value
  std::size_t end = 0;
  std::string detector;  // which detector found it
};

struct MaskedJson {
  boost::json::value value;
  std::vector<Finding> findings;
};

MaskedJson mask_json(const boost::json::value& value, const MaskProfile& profile);

// Masks one string; appends findings with the given JSON pointer path.
std::string mask_text(std::string_view text, const std::string& path,
                      std::vector<Finding>* findings);

boost::json::object to_json(const Finding& finding);

}  // namespace countersign::mask
