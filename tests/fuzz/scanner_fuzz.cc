// Fuzz target for the scanner and text masking: arbitrary bytes must not
// crash the scan; hits are in range, sorted and disjoint; and a secret
// planted among the bytes never survives masking.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/planted.h"
#include "mask/mask.h"
#include "mask/scanner.h"

namespace {

// A broken property: say which, then abort (libFuzzer keeps the input).
void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "property broken: %s\n", property);
  std::abort();
}

void check_hits(const std::vector<countersign::mask::Hit>& hits, std::size_t size) {
  std::size_t previous_end = 0;
  for (const auto& hit : hits) {
    require(previous_end <= hit.start, "hits sorted and disjoint");
    require(hit.start < hit.end, "hits not empty");
    require(hit.end <= size, "hits inside the text");
    previous_end = hit.end;
  }
}

void check_findings(const std::vector<countersign::mask::Finding>& findings, std::size_t size) {
  std::size_t previous_end = 0;
  for (const auto& finding : findings) {
    require(previous_end <= finding.start, "findings sorted and disjoint");
    require(finding.start < finding.end, "findings not empty");
    require(finding.end <= size, "findings inside the text");
    previous_end = finding.end;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto scanner = countersign::mask::Scanner::builtin();
  static const countersign::mask::MaskProfile profile = countersign::mask::default_profile();

  std::string_view raw(reinterpret_cast<const char*>(data), size);
  check_hits(scanner->scan(raw), raw.size());
  std::vector<countersign::mask::Finding> findings;
  std::string out = countersign::mask::mask_text(raw, profile, "", &findings);
  check_findings(findings, raw.size());
  if (findings.empty()) require(out == raw, "text without findings comes back as it is");

  auto plant = countersign::fuzz::split_input(data, size);
  std::string text = countersign::fuzz::planted_text(plant);
  findings.clear();
  out = countersign::mask::mask_text(text, profile, "", &findings);
  check_findings(findings, text.size());
  require(countersign::fuzz::planted_copy_masked(plant, out), "planted secret masked");
  return 0;
}
