#include "mask/scanner.h"

#include <hs.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <map>
#include <stdexcept>

namespace countersign::mask {
namespace {

std::atomic<std::uint64_t> next_scanner_id{1};

bool in_class(char c, Boundary boundary) {
  bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  switch (boundary) {
    case Boundary::none:
      return false;
    case Boundary::alnum:
    case Boundary::number:
      return alnum;
    case Boundary::token:
      return alnum || c == '_' || c == '-';
    case Boundary::hex:
      return alnum || c == ':';
  }
  return false;
}

bool is_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Per-thread scratch space, grown to fit every database this thread scans.
struct ThreadScratch {
  hs_scratch_t* scratch = nullptr;
  std::vector<std::uint64_t> fits;
  ~ThreadScratch() {
    if (scratch) hs_free_scratch(scratch);
  }
  hs_scratch_t* for_database(const hs_database_t* database, std::uint64_t id) {
    if (std::find(fits.begin(), fits.end(), id) == fits.end()) {
      if (hs_alloc_scratch(database, &scratch) != HS_SUCCESS) throw std::bad_alloc();
      fits.push_back(id);
    }
    return scratch;
  }
};

struct Candidate {
  std::uint32_t detector;
  std::size_t from;
  std::size_t to;
};

struct ScanContext {
  std::string_view text;  // the whole text: boundaries look past the window
  const std::vector<Detector>* detectors;
  std::vector<Candidate>* candidates;
  std::size_t offset = 0;  // where the scanned window starts in text
  bool cut = false;        // a match started at the window's first byte
};

int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int,
             void* context) {
  auto* ctx = static_cast<ScanContext*>(context);
  if (from == 0 && ctx->offset > 0) {
    ctx->cut = true;  // it may start before the window: the caller widens it
    return 0;
  }
  from += ctx->offset;
  to += ctx->offset;
  const Detector& detector = (*ctx->detectors)[id];
  const std::string_view text = ctx->text;
  auto glued = [&](unsigned long long at) {
    if (at > 0 && in_class(text[at - 1], detector.left)) return true;
    // A number inside an identifier or a dotted number ("ORD-4111", "1.3.6.1.4.1").
    return detector.left == Boundary::number && at >= 2 &&
           (text[at - 1] == '-' || text[at - 1] == '_' || text[at - 1] == '/' ||
            text[at - 1] == '.') &&
           is_alnum(text[at - 2]);
  };
  if (glued(from)) {
    if (detector.left != Boundary::number) return 0;
    // The leftmost start took in a neighbour ("j88 4111 1111 ..."): start
    // after it instead; the validator re-checks the shorter span.
    while (from < to && glued(from)) ++from;
    if (from == to) return 0;
  }
  if (detector.right != Boundary::none && to < text.size()) {
    if (in_class(text[to], detector.right)) return 0;
    if ((text[to] == '.' || (detector.right == Boundary::number && text[to] == '-')) &&
        to + 1 < text.size() && is_alnum(text[to + 1]))
      return 0;  // continues as a longer dotted or dashed token
  }
  ctx->candidates->push_back({id, static_cast<std::size_t>(from), static_cast<std::size_t>(to)});
  return 0;
}

std::string compile_error_message(hs_compile_error_t* error) {
  std::string message = error && error->message ? error->message : "unknown error";
  if (error) hs_free_compile_error(error);
  return message;
}

}  // namespace

Result<std::shared_ptr<const Scanner>> Scanner::build(std::vector<Detector> detectors) {
  std::shared_ptr<Scanner> scanner(new Scanner());
  scanner->detectors_ = std::move(detectors);
  scanner->id_ = next_scanner_id.fetch_add(1);
  if (scanner->detectors_.empty()) return std::shared_ptr<const Scanner>(scanner);
  std::vector<const char*> patterns;
  std::vector<unsigned int> ids;
  std::vector<unsigned int> som_flags;
  std::vector<unsigned int> fast_flags;
  for (std::size_t i = 0; i < scanner->detectors_.size(); ++i) {
    const Detector& detector = scanner->detectors_[i];
    patterns.push_back(detector.pattern.c_str());
    unsigned int caseless = detector.caseless ? HS_FLAG_CASELESS : 0u;
    som_flags.push_back(HS_FLAG_SOM_LEFTMOST | caseless);
    fast_flags.push_back(caseless);
    ids.push_back(static_cast<unsigned int>(i));
  }
  for (auto* flags : {&som_flags, &fast_flags}) {
    hs_database_t* database = nullptr;
    hs_compile_error_t* error = nullptr;
    if (hs_compile_multi(patterns.data(), flags->data(), ids.data(),
                         static_cast<unsigned int>(patterns.size()), HS_MODE_BLOCK, nullptr,
                         &database, &error) != HS_SUCCESS) {
      std::string where;
      if (error && error->expression >= 0 &&
          static_cast<std::size_t>(error->expression) < scanner->detectors_.size())
        where = "detector '" + scanner->detectors_[error->expression].name + "': ";
      return fail(ErrorCode::invalid_argument,
                  "cannot compile masking patterns: " + where + compile_error_message(error));
    }
    (flags == &som_flags ? scanner->database_ : scanner->prefilter_) = database;
  }
  return std::shared_ptr<const Scanner>(scanner);
}

std::shared_ptr<const Scanner> Scanner::builtin() {
  static const std::shared_ptr<const Scanner> scanner = [] {
    auto built = build(builtin_detectors());
    if (!built) throw std::runtime_error(built.error().message);
    return *built;
  }();
  return scanner;
}

Scanner::~Scanner() {
  if (database_) hs_free_database(static_cast<hs_database_t*>(database_));
  if (prefilter_) hs_free_database(static_cast<hs_database_t*>(prefilter_));
}

namespace {

int on_end(unsigned int, unsigned long long, unsigned long long to, unsigned int, void* context) {
  auto* ends = static_cast<std::vector<std::size_t>*>(context);
  if (ends->empty() || ends->back() != to) ends->push_back(static_cast<std::size_t>(to));
  return 0;
}

// Block mode takes up to 4 GiB at once; larger inputs go in overlapping windows.
template <typename Callback>
void scan_blocks(const hs_database_t* database, hs_scratch_t* scratch, std::string_view text,
                 Callback&& on_block) {
  constexpr std::size_t kWindow = std::size_t{UINT_MAX} - 1;
  constexpr std::size_t kOverlap = 1 << 20;
  for (std::size_t offset = 0;; offset += kWindow - kOverlap) {
    std::size_t length = std::min(kWindow, text.size() - offset);
    on_block(database, scratch, offset, length);
    if (offset + length >= text.size()) break;
  }
}

}  // namespace

std::vector<Hit> Scanner::scan(std::string_view text) const {
  std::vector<Hit> hits;
  if (text.empty() || database_ == nullptr) return hits;
  thread_local ThreadScratch thread_scratch;
  auto* prefilter = static_cast<hs_database_t*>(prefilter_);
  auto* database = static_cast<hs_database_t*>(database_);
  thread_scratch.for_database(prefilter, id_);
  hs_scratch_t* scratch = thread_scratch.for_database(database, id_ + (1ull << 63));

  // Pass 1: where do matches end?
  std::vector<std::size_t> ends;
  scan_blocks(
      prefilter, scratch, text, [&](auto* db, auto* s, std::size_t offset, std::size_t length) {
        std::vector<std::size_t> block;
        hs_scan(db, text.data() + offset, static_cast<unsigned int>(length), 0, s, on_end, &block);
        for (std::size_t end : block) ends.push_back(end + offset);
      });
  if (ends.empty()) return hits;
  std::sort(ends.begin(), ends.end());

  // Pass 2: leftmost starts, in windows reaching back from those ends. A match
  // that starts at a window's first byte may have been cut: widen and rescan.
  std::vector<Candidate> candidates;
  constexpr std::size_t kReach = 512;
  std::size_t i = 0;
  while (i < ends.size()) {
    std::size_t window_start = ends[i] > kReach ? ends[i] - kReach : 0;
    std::size_t window_end = ends[i];
    while (i < ends.size() && (ends[i] > kReach ? ends[i] - kReach : 0) <= window_end) {
      window_end = std::max(window_end, ends[i]);
      ++i;
    }
    for (;;) {
      std::vector<Candidate> found;
      ScanContext context{text, &detectors_, &found, window_start};
      hs_scan(database, text.data() + window_start,
              static_cast<unsigned int>(window_end - window_start), 0, scratch, on_match, &context);
      if (!context.cut) {
        candidates.insert(candidates.end(), found.begin(), found.end());
        break;
      }
      std::size_t width = window_end - window_start;
      window_start = window_start > 2 * width ? window_start - 2 * width : 0;
    }
  }
  if (candidates.empty()) return hits;

  // For every (detector, start), the longest end that validates.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.detector != b.detector) return a.detector < b.detector;
    if (a.from != b.from) return a.from < b.from;
    return a.to > b.to;
  });
  for (std::size_t i = 0; i < candidates.size();) {
    std::size_t j = i;
    bool found = false;
    for (; j < candidates.size() && candidates[j].detector == candidates[i].detector &&
           candidates[j].from == candidates[i].from;
         ++j) {
      const Detector& detector = detectors_[candidates[j].detector];
      // Without a right boundary, only the longest match counts: a shorter
      // one would cut a value ("password=${X}" is not the password "$").
      if (found || (j > i && detector.right == Boundary::none)) continue;
      std::size_t start = candidates[j].from;
      std::size_t end = candidates[j].to;
      if (detector.validator && !detector.validator(text, start, end)) continue;
      if (end <= start || end > text.size()) continue;
      hits.push_back({start, end, candidates[j].detector});
      found = true;
    }
    i = j;
  }

  // Overlaps: the more confident detector wins, then the longer span.
  std::sort(hits.begin(), hits.end(), [&](const Hit& a, const Hit& b) {
    double ca = detectors_[a.detector].confidence, cb = detectors_[b.detector].confidence;
    if (ca != cb) return ca > cb;
    if (a.end - a.start != b.end - b.start) return a.end - a.start > b.end - b.start;
    return a.start < b.start;
  });
  std::map<std::size_t, Hit> accepted;  // by start
  for (const Hit& hit : hits) {
    auto next = accepted.lower_bound(hit.start);
    if (next != accepted.end() && next->second.start < hit.end) continue;
    if (next != accepted.begin() && std::prev(next)->second.end > hit.start) continue;
    accepted.emplace(hit.start, hit);
  }
  hits.clear();
  for (const auto& [start, hit] : accepted) hits.push_back(hit);
  return hits;
}

std::string pattern_error(const std::string& pattern, bool caseless) {
  hs_database_t* database = nullptr;
  hs_compile_error_t* error = nullptr;
  unsigned int flags = HS_FLAG_SOM_LEFTMOST | (caseless ? HS_FLAG_CASELESS : 0u);
  if (hs_compile(pattern.c_str(), flags, HS_MODE_BLOCK, nullptr, &database, &error) != HS_SUCCESS)
    return compile_error_message(error);
  hs_free_database(database);
  return {};
}

}  // namespace countersign::mask
