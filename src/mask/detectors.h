// The detector catalog: what masking looks for. Each detector has a type
// (what a finding reports), a Hyperscan/Vectorscan pattern, an optional
// validator that runs only on candidate matches, and a confidence that
// decides between overlapping candidates. Patterns never run on a
// backtracking engine; validators are linear, hand-written checks.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace countersign::mask {

// What may not touch a match on each side (checked on the candidate's raw
// span, before validation).
enum class Boundary {
  none,    // anything
  alnum,   // no letter or digit
  number,  // no letter or digit, and not inside an identifier ("ORD-4111...", "id_5551234567")
  token,   // no letter, digit, '_' or '-'
  hex,     // no letter, digit, ':' (addresses)
};

// A validator sees the whole scanned text and the candidate span; it may
// narrow the span (to the value after a keyword) or extend it (to the end
// of a PEM block). Returns false to drop the candidate.
using Validator = bool (*)(std::string_view text, std::size_t& start, std::size_t& end);

// How the scanner's first pass finds where a detector may match.
enum class Gate {
  pattern,  // its own pattern, in the Vectorscan prefilter database
  // The hand-written digit-run check (built-in numeric detectors only:
  // their patterns have no literal for Vectorscan to anchor on and cost
  // most of a Vectorscan pass; see scanner.cc), by the run a match needs;
  // each kind's windows are rescanned with only its detectors.
  digit_run_long,         // 12 or more digits (cards)
  digit_groups_ssn,       // groups of 3+, 2, 4+ digits (SSNs)
  digit_groups_phone,     // groups of 3+, 3, 4+ digits, or 3, 4+ after ')' (phones)
  digit_run_dotted,       // 4 or more digits and 3 dots (IPv4)
  digits_after_capitals,  // 2 or more digits after two capitals (IBANs, NINOs)
  hex_run,                // the hand-written hex-group check (built-in MAC and
                          // full IPv6 detectors only, for the same reason:
                          // UUIDs and hex digests keep their patterns busy in
                          // Vectorscan; see scanner.cc)
};

// How many digit-run kinds there are (Gate::digit_run_long ... digits_after_capitals).
constexpr int kDigitRunKinds = 5;
constexpr bool is_digit_run(Gate gate) {
  return gate >= Gate::digit_run_long && gate <= Gate::digits_after_capitals;
}
// 0 for Gate::digit_run_long ... kDigitRunKinds - 1.
constexpr int digit_run_kind(Gate gate) {
  return static_cast<int>(gate) - static_cast<int>(Gate::digit_run_long);
}

struct Detector {
  std::string name;     // unique detector id, reported in findings
  std::string type;     // finding type ("email", "credit_card", ...)
  std::string pattern;  // Hyperscan syntax
  bool caseless = false;
  Validator validator = nullptr;
  double confidence = 0.5;  // the higher wins when candidates overlap
  Boundary left = Boundary::none;
  Boundary right = Boundary::none;
  Gate gate = Gate::pattern;
  // No match of the pattern contains '\n', so a match ending on a line
  // starts on it: the scanner's first rescan window around a prefilter end
  // starts no earlier than that line (see scanner.cc).
  bool single_line = false;
};

// Every built-in detector, in a fixed order.
const std::vector<Detector>& builtin_detectors();

// Validators a configured detector may name ("luhn", "iban", ...).
std::optional<Validator> named_validator(std::string_view name);
std::vector<std::string> validator_names();

// The default replacement label of a type: "email" -> "[EMAIL]".
std::string default_label(std::string_view type);

// Checks exposed for tests and for the JSON key hints.
namespace check {
bool luhn(std::string_view digits);
bool card_number(std::string_view candidate);  // digits + separators, IIN, length, Luhn
bool iban(std::string_view candidate);         // spaces allowed, ISO 13616 mod 97
bool us_ssn(std::string_view candidate);       // 123-45-6789, 123 45 6789 or 123456789
bool uk_nino(std::string_view candidate);
bool ipv4(std::string_view candidate);
bool ipv6(std::string_view candidate);
bool date(std::string_view candidate);  // a plausible calendar date (birth dates)
double shannon_entropy(std::string_view value);
}  // namespace check

}  // namespace countersign::mask
