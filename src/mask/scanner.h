// One Vectorscan/Hyperscan pattern set over a set of detectors. A scan is a
// single pass over the text (plus a rescan of the windows where something
// matched); validators run only on candidate matches;
// overlapping candidates are resolved by confidence, then length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "mask/detectors.h"

namespace countersign::mask {

struct Hit {
  std::size_t start = 0;
  std::size_t end = 0;
  std::uint32_t detector = 0;  // index into Scanner::detectors()
};

class Scanner {
 public:
  // Compiles every detector into one block-mode database. Errors name the
  // detector and the compiler's message.
  static Result<std::shared_ptr<const Scanner>> build(std::vector<Detector> detectors);

  // The built-in catalog, compiled once per process.
  static std::shared_ptr<const Scanner> builtin();

  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Validated, non-overlapping hits in text order.
  std::vector<Hit> scan(std::string_view text) const;

  const std::vector<Detector>& detectors() const { return detectors_; }

 private:
  Scanner() = default;
  std::vector<Detector> detectors_;
  // Two databases over the same patterns: `prefilter_` without start-of-match
  // tracking scans the whole text fast and finds where matches end;
  // `database_` with leftmost start-of-match rescans only windows around
  // those ends. Text without findings costs one fast pass.
  void* prefilter_ = nullptr;  // hs_database_t
  void* database_ = nullptr;   // hs_database_t
  std::uint64_t id_ = 0;       // for per-thread scratch bookkeeping
};

// Compiles one pattern alone; returns the compiler's message when it is not
// accepted (for configuration checks).
std::string pattern_error(const std::string& pattern, bool caseless = false);

}  // namespace countersign::mask
