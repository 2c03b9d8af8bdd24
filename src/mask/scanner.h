// One Vectorscan/Hyperscan pattern set over a set of detectors. A scan is a
// single pass over the text (a Vectorscan prefilter plus hand-written
// digit-run and hex-group checks for the numeric and hex-address
// detectors), then a rescan of the windows where something may match, each
// with only the detectors that may match there; validators run only on candidate matches;
// overlapping candidates are resolved by confidence, then length.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
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

  // The same from one start-of-match pass over the whole text, without
  // pass 1 and windows: slower, and the reference `scan` must agree with.
  std::vector<Hit> scan_exhaustive(std::string_view text) const;

  const std::vector<Detector>& detectors() const { return detectors_; }

 private:
  Scanner() = default;
  std::vector<Detector> detectors_;
  // Pass 1 over the whole text: `prefilters_` (no start-of-match tracking)
  // finds where matches of the Gate::pattern detectors end, and the
  // digit-run and hex-group checks (scanner.cc) flag where the digit-run
  // (is_digit_run) and Gate::hex_run detectors may match. Pass 2 rescans only windows
  // around those places, each with the leftmost start-of-match database of
  // the detectors that may match there: a window around a prefilter end
  // with that detector's own database (`rescan_`), a digit-run window with
  // the database of its kind's detectors (`digit_databases_`: a run of 12
  // digits needs only the card pattern, one with three dots only IPv4), a
  // hex-group window with `hex_database_`.
  // `database_` (every detector) serves `scan_exhaustive`. Text without
  // findings costs pass 1 only.
  // hs_database_t each: the Gate::pattern detectors that start caseless
  // (keywords) and the others, apart because Vectorscan runs the two sets
  // faster one after the other than together; empty when no detector is
  // Gate::pattern.
  std::vector<void*> prefilters_;
  void* database_ = nullptr;  // hs_database_t
  // By digit-run kind (digit_run_kind): hs_database_t, null when no
  // detector is of that kind.
  std::array<void*, kDigitRunKinds> digit_databases_{};
  void* hex_database_ = nullptr;  // hs_database_t; null when no detector is hex-run gated
  std::vector<void*> rescan_;  // by detector: hs_database_t, null for detectors not Gate::pattern
  std::vector<void*> every_database_;  // all of the above, to size scratch space and to free
  // By detector: how far before a prefilter end its match may start (its
  // longest match plus one, at most 512 bytes).
  std::vector<std::size_t> reach_;
  std::uint64_t id_ = 0;  // for per-thread scratch bookkeeping
};

// Compiles one pattern alone; returns the compiler's message when it is not
// accepted (for configuration checks).
std::string pattern_error(const std::string& pattern, bool caseless = false);

// The windows [start, end) that pass 1's digit-run check (`hex` false) or
// hex-group check (`hex` true) flags in `text`, sorted: from the
// 64-byte-block check the scanner uses, or (`bytewise`) from the
// byte-at-a-time reference it must agree with. For tests.
std::vector<std::pair<std::size_t, std::size_t>> gate_windows(std::string_view text, bool hex,
                                                              bool bytewise);

}  // namespace countersign::mask
