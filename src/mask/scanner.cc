#include "mask/scanner.h"

#include <hs.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>

namespace countersign::mask {
namespace {

std::atomic<std::uint64_t> next_scanner_id{1};

// The most a window reaches back from a prefilter end (see Scanner::reach_).
constexpr std::size_t kReach = 512;

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

// Per-thread scratch space, grown to fit every database of every scanner
// this thread uses.
struct ThreadScratch {
  hs_scratch_t* scratch = nullptr;
  std::vector<std::uint64_t> fits;  // scanner ids
  ~ThreadScratch() {
    if (scratch) hs_free_scratch(scratch);
  }
  hs_scratch_t* for_scanner(std::uint64_t id, const std::vector<void*>& databases) {
    if (std::find(fits.begin(), fits.end(), id) == fits.end()) {
      for (void* database : databases)
        if (hs_alloc_scratch(static_cast<hs_database_t*>(database), &scratch) != HS_SUCCESS)
          throw std::bad_alloc();
      fits.push_back(id);
    }
    return scratch;
  }
};

ThreadScratch& thread_scratch() {
  thread_local ThreadScratch scratch;
  return scratch;
}

// A match ending at `to` that runs on into a longer token: not a candidate,
// whatever its start (so pass 1 can drop its end before any rescan).
bool glued_on_the_right(std::string_view text, std::size_t to, const Detector& detector) {
  if (detector.right == Boundary::none || to >= text.size()) return false;
  if (in_class(text[to], detector.right)) return true;
  // Continues as a longer dotted or dashed token.
  return (text[to] == '.' || (detector.right == Boundary::number && text[to] == '-')) &&
         to + 1 < text.size() && is_alnum(text[to + 1]);
}

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
  // Where matches ended (in text), before any boundary check; null when
  // the caller does not ask.
  std::vector<std::size_t>* ends = nullptr;
  // The window starts a line and holds a single-line detector: a match
  // starting at its first byte starts there, not before.
  bool line_start = false;
};

int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int,
             void* context) {
  auto* ctx = static_cast<ScanContext*>(context);
  if (from == 0 && ctx->offset > 0 && !ctx->line_start) {
    ctx->cut = true;  // it may start before the window: the caller widens it
    return 0;
  }
  from += ctx->offset;
  to += ctx->offset;
  if (ctx->ends) ctx->ends->push_back(static_cast<std::size_t>(to));
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
  if (glued_on_the_right(text, static_cast<std::size_t>(to), detector)) return 0;
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
  // Every detector goes into the start-of-match database; the prefilter
  // holds those whose first pass is their own pattern (Gate::pattern).
  struct PatternSet {
    std::vector<const char*> patterns;
    std::vector<unsigned int> flags;
    std::vector<unsigned int> ids;
  };
  PatternSet som;
  PatternSet fast;
  PatternSet fast_caseless;
  PatternSet digit[kDigitRunKinds];
  PatternSet hex;
  for (std::size_t i = 0; i < scanner->detectors_.size(); ++i) {
    const Detector& detector = scanner->detectors_[i];
    unsigned int caseless = detector.caseless ? HS_FLAG_CASELESS : 0u;
    som.patterns.push_back(detector.pattern.c_str());
    som.flags.push_back(HS_FLAG_SOM_LEFTMOST | caseless);
    som.ids.push_back(static_cast<unsigned int>(i));
    // How far before its end a match may start: its longest match and one
    // byte (so that a window never starts on a match's first byte), at
    // most kReach; unbounded patterns get kReach.
    scanner->reach_.push_back(kReach);
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* info_error = nullptr;
    if (hs_expression_info(detector.pattern.c_str(), caseless, &info, &info_error) == HS_SUCCESS) {
      if (info->max_width < kReach) scanner->reach_.back() = info->max_width + 1;
      std::free(info);
    } else if (info_error) {
      hs_free_compile_error(info_error);
    }
    if (detector.gate != Gate::pattern) {
      PatternSet& group = is_digit_run(detector.gate) ? digit[digit_run_kind(detector.gate)] : hex;
      group.patterns.push_back(detector.pattern.c_str());
      group.flags.push_back(HS_FLAG_SOM_LEFTMOST | caseless);
      group.ids.push_back(static_cast<unsigned int>(i));
      continue;
    }
    // Keyword detectors that start caseless ("(?i:password|secret|...)")
    // get a prefilter database of their own: with the case-sensitive
    // prefixes in one literal set, Vectorscan ran both groups at about
    // 1.6 GB/s on clean text; apart they take 2.6 GB/s together.
    PatternSet& prefilter =
        detector.caseless || detector.pattern.starts_with("(?i:") ? fast_caseless : fast;
    prefilter.patterns.push_back(detector.pattern.c_str());
    prefilter.flags.push_back(caseless);
    prefilter.ids.push_back(static_cast<unsigned int>(i));
  }
  // The rescan of a window around a prefilter end needs only the detector
  // that ended there: its own start-of-match database, which costs a
  // fraction of the one over every pattern (Vectorscan tracks match starts
  // per pattern, so its matches are the same in either).
  std::vector<PatternSet> own(scanner->detectors_.size());
  for (const PatternSet* prefilter : {&fast, &fast_caseless}) {
    for (unsigned int id : prefilter->ids) {
      const Detector& detector = scanner->detectors_[id];
      PatternSet& set = own[id];
      set.patterns.push_back(detector.pattern.c_str());
      set.flags.push_back(HS_FLAG_SOM_LEFTMOST | (detector.caseless ? HS_FLAG_CASELESS : 0u));
      set.ids.push_back(id);
    }
  }
  scanner->rescan_.assign(scanner->detectors_.size(), nullptr);
  auto compile = [&](const PatternSet& set, void*& into) -> Result<void> {
    if (set.patterns.empty()) return {};
    hs_database_t* database = nullptr;
    hs_compile_error_t* error = nullptr;
    if (hs_compile_multi(set.patterns.data(), set.flags.data(), set.ids.data(),
                         static_cast<unsigned int>(set.patterns.size()), HS_MODE_BLOCK, nullptr,
                         &database, &error) != HS_SUCCESS) {
      std::string where;
      if (error && error->expression >= 0 &&
          static_cast<std::size_t>(error->expression) < set.ids.size())
        where = "detector '" + scanner->detectors_[set.ids[error->expression]].name + "': ";
      return fail(ErrorCode::invalid_argument,
                  "cannot compile masking patterns: " + where + compile_error_message(error));
    }
    into = database;
    scanner->every_database_.push_back(database);
    return {};
  };
  if (auto compiled = compile(som, scanner->database_); !compiled)
    return std::unexpected(compiled.error());
  for (const PatternSet* prefilter : {&fast, &fast_caseless}) {
    void* database = nullptr;
    if (auto compiled = compile(*prefilter, database); !compiled)
      return std::unexpected(compiled.error());
    if (database) scanner->prefilters_.push_back(database);
  }
  for (int kind = 0; kind < kDigitRunKinds; ++kind)
    if (auto compiled = compile(digit[kind], scanner->digit_databases_[kind]); !compiled)
      return std::unexpected(compiled.error());
  if (auto compiled = compile(hex, scanner->hex_database_); !compiled)
    return std::unexpected(compiled.error());
  for (std::size_t i = 0; i < own.size(); ++i)
    if (auto compiled = compile(own[i], scanner->rescan_[i]); !compiled)
      return std::unexpected(compiled.error());
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
  for (void* database : every_database_) hs_free_database(static_cast<hs_database_t*>(database));
}

namespace {

struct End {
  std::size_t at;
  std::uint32_t detector;
};

struct EndContext {
  std::string_view text;
  const std::vector<Detector>* detectors;
  std::vector<End>* ends;
  std::size_t offset = 0;  // where the scanned block starts in text
};

// Pass 2 would drop a match glued to a longer token on its right whatever
// its start, so such an end needs no window (most ends of a token pattern
// with an open-ended tail, "[A-Za-z0-9]{36,}", are inside the token).
int on_end(unsigned int id, unsigned long long, unsigned long long to, unsigned int,
           void* context) {
  auto* ctx = static_cast<EndContext*>(context);
  const std::size_t at = static_cast<std::size_t>(to) + ctx->offset;
  if (!glued_on_the_right(ctx->text, at, (*ctx->detectors)[id])) ctx->ends->push_back({at, id});
  return 0;
}

// Block mode takes up to 4 GiB at once; larger inputs go in overlapping windows.
template <typename Callback>
void scan_blocks(std::string_view text, Callback&& on_block) {
  constexpr std::size_t kWindow = std::size_t{UINT_MAX} - 1;
  constexpr std::size_t kOverlap = 1 << 20;
  for (std::size_t offset = 0;; offset += kWindow - kOverlap) {
    std::size_t length = std::min(kWindow, text.size() - offset);
    on_block(offset, length);
    if (offset + length >= text.size()) break;
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_gap(char c) { return c == ' ' || c == '-' || c == '.'; }

// The first digit at or after `at` (or size), 16 bytes at a time.
std::size_t next_digit(const char* p, std::size_t at, std::size_t size) {
#if defined(__SSE2__)
  const __m128i below = _mm_set1_epi8('0' - 1);
  const __m128i above = _mm_set1_epi8('9' + 1);
  for (; at + 16 <= size; at += 16) {
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    __m128i digits = _mm_and_si128(_mm_cmpgt_epi8(bytes, below), _mm_cmplt_epi8(bytes, above));
    if (int mask = _mm_movemask_epi8(digits))
      return at + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#endif
  while (at < size && !is_digit(p[at])) ++at;
  return at;
}

// The first separator (':', '-' or '.') at or after `at` (or size), 16 bytes
// at a time.
std::size_t next_separator(const char* p, std::size_t at, std::size_t size) {
#if defined(__SSE2__)
  const __m128i colon = _mm_set1_epi8(':');
  const __m128i dash = _mm_set1_epi8('-');
  const __m128i dot = _mm_set1_epi8('.');
  for (; at + 16 <= size; at += 16) {
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + at));
    __m128i hits =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(bytes, colon), _mm_cmpeq_epi8(bytes, dash)),
                     _mm_cmpeq_epi8(bytes, dot));
    if (int mask = _mm_movemask_epi8(hits))
      return at + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#endif
  while (at < size && p[at] != ':' && p[at] != '-' && p[at] != '.') ++at;
  return at;
}

// A stretch of text to rescan, with the database of `group`: a detector
// index, kDigitGroup + a digit-run kind (digit_run_kind) for the digit-run
// detectors of that kind, or kHexGroup for the hex-run detectors.
struct Window {
  std::size_t start;
  std::size_t end;
  std::uint32_t group;
  bool line_start = false;  // start is the start of a line and group a single-line detector
};

constexpr std::uint32_t kDigitGroup = UINT32_MAX - 1 - kDigitRunKinds;
constexpr std::uint32_t kHexGroup = UINT32_MAX - 1;

// ---------------------------------------------------------------------------
// The digit-run check, for the Gate::digit_run detectors (cards, SSNs,
// North American phones, IPv4, NINOs, IBANs). A run is digits where
// neighbours are adjacent or one ' ', '-' or '.' apart. Every match of those
// detectors lies in a run (its digits are separated by single ' ', '-' or
// '.' in every one of their patterns) that
//   - has 12 or more digits (a card), or
//   - has groups of at least 3, then exactly 2 or 3, then at least 4
//     digits, one after the other (SSN "123-45-6789", phone
//     "1-415-555-0132"), or
//   - right after ')', or ')' and one byte, has a group of 3 digits and
//     then one of at least 4 ("(415) 555-0132"), or
//   - has 4 or more digits and 3 dots (IPv4), or
//   - has 2 or more digits and starts after two capital letters, directly
//     or after a space (IBAN "GB82...", NINO "AB 12 34 56 C"),
// and within 16 bytes before the run to 16 bytes after the later of its end
// and 64 bytes after its start (phone prefixes and extensions, an IBAN's
// letters). Those windows go to the start-of-match pass (less those of runs
// where no such match can end, below). Timestamps, UUIDs ("...-4633-9887-38f5...":
// groups of 4, 4, 2), versions and counts make no such run, so text without findings costs this
// check and the Vectorscan prefilter over the other detectors.

// Reads the run starting at `start` (a digit that continues no run) and
// flags it when it qualifies; returns where it ends.
// `wanted`: bit k for the digit-run kinds k to flag (those with detectors).
std::size_t digit_run_at(const char* p, std::size_t size, std::size_t start, unsigned wanted,
                         std::vector<Window>& windows) {
  std::size_t at = start;
  std::size_t digits = 0;
  std::size_t dots = 0;
  // Lengths of the group being read and of the two closed before it.
  std::size_t group = 0, before = 0, before_that = 0;
  std::size_t closed = 0;     // groups closed so far
  bool ssn_groups = false;    // groups of >= 3, 2, >= 4 digits in a row
  bool phone_groups = false;  // groups of >= 3, 3, >= 4 digits in a row
  bool after_area = false;    // the first two groups have 3 and >= 4 digits
  bool spaced = false;        // a ' ' between two digits
  for (;;) {
    ++digits;
    ++group;
    ++at;
    if (at < size && is_digit(p[at])) continue;
    const bool three_then_four = closed >= 2 && before_that >= 3 && group >= 4;
    ssn_groups = ssn_groups || (three_then_four && before == 2);
    phone_groups = phone_groups || (three_then_four && before == 3);
    after_area = after_area || (closed == 1 && before == 3 && group >= 4);
    before_that = before;
    before = group;
    group = 0;
    ++closed;
    if (at + 1 < size && is_gap(p[at]) && is_digit(p[at + 1])) {
      dots += p[at] == '.';
      spaced = spaced || p[at] == ' ';
      ++at;
      continue;
    }
    break;
  }
  const std::size_t end = at;
  auto capitals_at = [&](std::size_t before) {  // two capital letters end `before` bytes back
    return start >= before + 1 && is_upper(p[start - before]) && is_upper(p[start - before - 1]);
  };
  const bool capitals = capitals_at(1) || (start >= 1 && p[start - 1] == ' ' && capitals_at(2));
  const bool paren = (start >= 1 && p[start - 1] == ')') || (start >= 2 && p[start - 2] == ')');
  // Every one of these detectors has number boundaries, so a match of
  // digits and separators only (all but IBANs, NINOs and phone extensions
  // "x12", "ext. 12") ends before a space in the run or at its end, and not
  // at its end when a letter, a digit, or '.' or '-' and one of them follows
  // ("...-4871-9045-70903ace": a UUID).
  const bool glued_end =
      end < size && ((is_alnum(p[end]) && p[end] != 'x' && p[end] != 'e') ||
                     ((p[end] == '.' || p[end] == '-') && end + 1 < size && is_alnum(p[end + 1])));
  const bool may_end = spaced || !glued_end;
  const bool kinds[kDigitRunKinds] = {
      may_end && digits >= 12,                             // Gate::digit_run_long
      may_end && ssn_groups,                               // Gate::digit_groups_ssn
      may_end && (phone_groups || (after_area && paren)),  // Gate::digit_groups_phone
      may_end && digits >= 4 && dots >= 3,                 // Gate::digit_run_dotted
      digits >= 2 && capitals,                             // Gate::digits_after_capitals
  };
  for (int kind = 0; kind < kDigitRunKinds; ++kind)
    if (kinds[kind] && (wanted & (1u << kind)))
      windows.push_back({start > 16 ? start - 16 : 0,
                         std::min(size, std::max(end, start + 64) + 16),
                         kDigitGroup + static_cast<std::uint32_t>(kind)});
  return end;
}

// Every run, one at a time: the reference the block check must agree with.
void digit_run_windows_bytewise(std::string_view text, unsigned wanted,
                                std::vector<Window>& windows) {
  const char* p = text.data();
  const std::size_t size = text.size();
  for (std::size_t at = next_digit(p, 0, size); at < size;)
    at = next_digit(p, digit_run_at(p, size, at, wanted, windows), size);
}

// The bytes of a 64-byte block (zero past the end of the text) as bit masks,
// bit i for byte i, for the character classes the two checks look at.
struct BlockMasks {
  std::uint64_t digit = 0, gap = 0, upper = 0, space = 0;  // digit-run check
  std::uint64_t colon = 0, dash = 0, dot = 0;              // hex-group check
};

BlockMasks block_masks(const char* block) {
  BlockMasks m;
#if defined(__SSE2__)
  const __m128i below_digit = _mm_set1_epi8('0' - 1), above_digit = _mm_set1_epi8('9' + 1);
  const __m128i below_upper = _mm_set1_epi8('A' - 1), above_upper = _mm_set1_epi8('Z' + 1);
  const __m128i space = _mm_set1_epi8(' '), dash = _mm_set1_epi8('-'), dot = _mm_set1_epi8('.'),
                colon = _mm_set1_epi8(':');
  for (int part = 0; part < 4; ++part) {
    __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16 * part));
    __m128i digit =
        _mm_and_si128(_mm_cmpgt_epi8(bytes, below_digit), _mm_cmplt_epi8(bytes, above_digit));
    __m128i upper =
        _mm_and_si128(_mm_cmpgt_epi8(bytes, below_upper), _mm_cmplt_epi8(bytes, above_upper));
    const int shift = 16 * part;
    auto bits = [shift](__m128i mask) {
      return std::uint64_t{static_cast<std::uint16_t>(_mm_movemask_epi8(mask))} << shift;
    };
    m.digit |= bits(digit);
    m.upper |= bits(upper);
    m.space |= bits(_mm_cmpeq_epi8(bytes, space));
    m.dash |= bits(_mm_cmpeq_epi8(bytes, dash));
    m.dot |= bits(_mm_cmpeq_epi8(bytes, dot));
    m.colon |= bits(_mm_cmpeq_epi8(bytes, colon));
  }
#else
  for (int i = 0; i < 64; ++i) {
    const char c = block[i];
    const std::uint64_t bit = std::uint64_t{1} << i;
    if (is_digit(c)) m.digit |= bit;
    if (is_upper(c)) m.upper |= bit;
    if (c == ' ') m.space |= bit;
    if (c == '-') m.dash |= bit;
    if (c == '.') m.dot |= bit;
    if (c == ':') m.colon |= bit;
  }
#endif
  m.gap = m.space | m.dash | m.dot;
  return m;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define COUNTERSIGN_MASK_AVX2 1
// The same with AVX2, 32 bytes at a time (chosen at run time: the build
// targets baseline x86-64).
[[gnu::target("avx2")]] inline BlockMasks block_masks_avx2(const char* block) {
  BlockMasks m;
  const __m256i zero = _mm256_set1_epi8('0'), nine = _mm256_set1_epi8(9);
  const __m256i letter_a = _mm256_set1_epi8('A'), twenty_five = _mm256_set1_epi8(25);
  const __m256i space = _mm256_set1_epi8(' '), dash = _mm256_set1_epi8('-'),
                dot = _mm256_set1_epi8('.'), colon = _mm256_set1_epi8(':');
  for (int part = 0; part < 2; ++part) {
    __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block + 32 * part));
    // Unsigned range checks: c - '0' <= 9, c - 'A' <= 25.
    __m256i from_zero = _mm256_sub_epi8(bytes, zero);
    __m256i digit = _mm256_cmpeq_epi8(_mm256_min_epu8(from_zero, nine), from_zero);
    __m256i from_a = _mm256_sub_epi8(bytes, letter_a);
    __m256i upper = _mm256_cmpeq_epi8(_mm256_min_epu8(from_a, twenty_five), from_a);
    const int shift = 32 * part;
    m.digit |= std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(digit))} << shift;
    m.upper |= std::uint64_t{static_cast<std::uint32_t>(_mm256_movemask_epi8(upper))} << shift;
    m.space |= std::uint64_t{static_cast<std::uint32_t>(
                   _mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, space)))}
               << shift;
    m.dash |= std::uint64_t{static_cast<std::uint32_t>(
                  _mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, dash)))}
              << shift;
    m.dot |= std::uint64_t{static_cast<std::uint32_t>(
                 _mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, dot)))}
             << shift;
    m.colon |= std::uint64_t{static_cast<std::uint32_t>(
                   _mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, colon)))}
               << shift;
  }
  m.gap = m.space | m.dash | m.dot;
  return m;
}
#endif

// Bit i set when bit i - k of the 128-bit (previous, current) pair is: the
// mask of "byte k back", across the block boundary. 1 <= k <= 63.
std::uint64_t back(std::uint64_t current, std::uint64_t previous, unsigned k) {
  return (current << k) | (previous >> (64 - k));
}

// The digit-run check a 64-byte block at a time, giving the same windows as
// digit_run_windows_bytewise: bit masks find the runs that may qualify (all
// but those after two capitals take at least 7 bytes), and only those are read one byte at a time.
// Text with digits but no such run (timestamps, UUIDs, counts) costs a few dozen instructions per
// 64 bytes; a date ("2026-05-01", 10 bytes) is read.
struct DigitRunCheck {
  std::string_view text;
  unsigned wanted;  // as for digit_run_at
  std::vector<Window>& windows;
  std::uint64_t previous_run = 0, previous_digit = 0, previous_upper = 0, previous_capitals = 0,
                previous_space = 0;
  std::size_t last_run_start = 0;  // the latest run start before the block
  std::size_t read_up_to = 0;      // one past the latest run start read (0: none)

  void read(std::size_t start) {
    if (start < read_up_to) return;
    digit_run_at(text.data(), text.size(), start, wanted, windows);
    read_up_to = start + 1;
  }

  [[gnu::always_inline]] void block(std::size_t offset, const BlockMasks& m) {
    const std::size_t size = text.size();
    const std::uint64_t next_is_digit = offset + 64 < size && is_digit(text[offset + 64]) ? 1 : 0;
    // Bytes of a run: digits and single gaps between two digits.
    const std::uint64_t run = m.digit | (m.gap & back(m.digit, previous_digit, 1) &
                                         ((m.digit >> 1) | (next_is_digit << 63)));
    const std::uint64_t starts = m.digit & ~back(run, previous_run, 1);
    std::uint64_t seventh = run;  // the 7th or a later byte of a run
    for (unsigned k = 1; k <= 6; ++k) seventh &= back(run, previous_run, k);
    const std::uint64_t capitals =
        m.upper & back(m.upper, previous_upper, 1);  // and the one before
    const std::uint64_t after_capitals =
        back(capitals, previous_capitals, 1) |
        (back(m.space, previous_space, 1) & back(capitals, previous_capitals, 2));
    std::uint64_t to_read = starts & after_capitals;  // run starts in this block to read
    while (seventh) {
      const unsigned at = static_cast<unsigned>(__builtin_ctzll(seventh));
      const std::uint64_t up_to_here = at == 63 ? ~std::uint64_t{0} : (std::uint64_t{2} << at) - 1;
      const std::uint64_t own_start = starts & up_to_here;
      if (own_start)
        to_read |= std::uint64_t{1} << (63 - __builtin_clzll(own_start));
      else
        read(last_run_start);  // started in an earlier block, before any start in this one
      // The rest of this run's seventh bytes: up to the next run start.
      const std::uint64_t later_starts = starts & ~up_to_here;
      seventh &= later_starts ? ~((later_starts & -later_starts) - 1) : 0;
    }
    for (; to_read; to_read &= to_read - 1)
      read(offset + static_cast<std::size_t>(__builtin_ctzll(to_read)));
    if (starts) last_run_start = offset + 63 - static_cast<std::size_t>(__builtin_clzll(starts));
    previous_run = run;
    previous_digit = m.digit;
    previous_upper = m.upper;
    previous_capitals = capitals;
    previous_space = m.space;
  }
};

// ---------------------------------------------------------------------------
// The hex-group check, for the Gate::hex_run detectors (MAC addresses and
// full IPv6 addresses). Every match of them has, from its first separator on:
//   - ':' or '-' five times, three bytes apart, with two hex digits before
//     each and after the last (MAC "00:1a:2b:3c:4d:5e", "00-1A-2B-3C-4D-5E"), or
//   - '.' twice, five bytes apart, with four hex digits before, between and
//     after them ("001a.2b3c.4d5e"), or
//   - ':' seven times, each 2 to 5 bytes after the one before with only hex
//     digits between (IPv6 "2001:db8:0:0:0:ff00:42:8329"),
// and starts at most 4 bytes before that separator, ending at most 5 bytes
// after the last. Those windows go to the start-of-match pass. UUIDs
// ("3f2a9c1b-04de-4a5b-...": dashes 5 apart), clock times and dotted
// versions make no such shape.

// Flags the shapes whose first separator is at `at`.
void hex_group_at(const char* p, std::size_t size, std::size_t at, std::vector<Window>& windows) {
  auto hex_between = [&](std::size_t from, std::size_t to) {  // [from, to) all hex, inside text
    if (to > size) return false;
    for (std::size_t k = from; k < to; ++k)
      if (!is_hex(p[k])) return false;
    return true;
  };
  auto flag = [&](std::size_t first, std::size_t last) {
    windows.push_back({first > 5 ? first - 5 : 0, std::min(size, last + 6), kHexGroup});
  };
  const char separator = p[at];
  if (at < 1 || !is_hex(p[at - 1])) return;
  if (separator == '.') {
    if (at >= 4 && at + 10 <= size && p[at + 5] == '.' && hex_between(at - 4, at) &&
        hex_between(at + 1, at + 5) && hex_between(at + 6, at + 10))
      flag(at, at + 5);
    return;
  }
  if (at >= 2 && at + 15 <= size && is_hex(p[at - 2])) {
    bool mac = true;
    for (std::size_t k = 0; mac && k < 5; ++k)
      mac = p[at + 3 * k] == separator && hex_between(at + 3 * k + 1, at + 3 * k + 3);
    if (mac) flag(at, at + 12);
  }
  if (separator == ':') {
    std::size_t last = at;
    int colons = 1;
    while (colons < 7) {
      std::size_t next = last + 1;
      while (next < size && next <= last + 5 && is_hex(p[next])) ++next;
      if (next == last + 1 || next >= size || next > last + 5 || p[next] != ':') break;
      last = next;
      ++colons;
    }
    if (colons == 7) flag(at, last);
  }
}

// Every separator, one at a time: the reference the block check must agree with.
void hex_run_windows_bytewise(std::string_view text, std::vector<Window>& windows) {
  const char* p = text.data();
  const std::size_t size = text.size();
  for (std::size_t at = next_separator(p, 0, size); at < size; at = next_separator(p, at + 1, size))
    hex_group_at(p, size, at, windows);
}

// The hex-group check a 64-byte block at a time, giving the same windows as
// hex_run_windows_bytewise: bit masks find where the last separator of a
// shape can be (five ':' or '-' three apart; two '.' five apart; a seventh
// ':' with six more in the 30 bytes before it), and only the separators up to 32 bytes before it
// (the longest shape spans 30) are checked one at a time.
struct HexGroupCheck {
  std::string_view text;
  std::vector<Window>& windows;
  std::uint64_t previous_colon = 0, previous_dash = 0, previous_dot = 0;
  std::size_t checked_up_to = 0;  // separators before this were checked

  static std::uint64_t every_third(std::uint64_t separator, std::uint64_t previous) {
    return separator & back(separator, previous, 3) & back(separator, previous, 6) &
           back(separator, previous, 9) & back(separator, previous, 12);
  }

  [[gnu::always_inline]] void block(std::size_t offset, const BlockMasks& m) {
    // Separators in the block and the one before: five make a MAC address,
    // seven an IPv6 address, both within 64 bytes of their last one.
    const int colons = __builtin_popcountll(m.colon) + __builtin_popcountll(previous_colon);
    const int dashes = __builtin_popcountll(m.dash) + __builtin_popcountll(previous_dash);
    std::uint64_t last = 0;
    if (colons >= 5) last |= every_third(m.colon, previous_colon);
    if (colons >= 7) last |= m.colon;
    if (dashes >= 5) last |= every_third(m.dash, previous_dash);
    last |= m.dot & back(m.dot, previous_dot, 5);
    if (last) {
      const char* p = text.data();
      const std::size_t size = text.size();
      const std::size_t until = std::min(size, offset + 64);
      std::size_t at = std::max(checked_up_to, offset > 32 ? offset - 32 : 0);
      for (at = next_separator(p, at, until); at < until; at = next_separator(p, at + 1, until))
        hex_group_at(p, size, at, windows);
      checked_up_to = until;
    }
    previous_colon = m.colon;
    previous_dash = m.dash;
    previous_dot = m.dot;
  }
};

// Pass 1's hand-written checks over the whole text: one pass over its
// 64-byte blocks for both (the last one read from a zero-padded copy).
template <BlockMasks (*kMasks)(const char*)>
[[gnu::always_inline]] inline void gate_check_blocks(std::string_view text, DigitRunCheck* digit,
                                                     HexGroupCheck* hex) {
  const std::size_t size = text.size();
  std::size_t offset = 0;
  for (; offset + 64 <= size; offset += 64) {
    const BlockMasks masks = kMasks(text.data() + offset);
    if (digit) digit->block(offset, masks);
    if (hex) hex->block(offset, masks);
  }
  if (offset < size) {
    char tail[64] = {};
    std::copy(text.data() + offset, text.data() + size, tail);
    const BlockMasks masks = kMasks(tail);
    if (digit) digit->block(offset, masks);
    if (hex) hex->block(offset, masks);
  }
}

void gate_check_blocks_baseline(std::string_view text, DigitRunCheck* digit, HexGroupCheck* hex) {
  gate_check_blocks<block_masks>(text, digit, hex);
}

#if COUNTERSIGN_MASK_AVX2
[[gnu::target("avx2,popcnt")]] void gate_check_blocks_avx2(std::string_view text,
                                                           DigitRunCheck* digit,
                                                           HexGroupCheck* hex) {
  gate_check_blocks<block_masks_avx2>(text, digit, hex);
}
#endif

// `digit_kinds`: bit k for the digit-run kinds k to flag.
void gate_check_windows(std::string_view text, unsigned digit_kinds, bool hex_groups,
                        std::vector<Window>& windows) {
  const bool digit_runs = digit_kinds != 0;
  if (!digit_runs && !hex_groups) return;
  DigitRunCheck digit{text, digit_kinds, windows};
  HexGroupCheck hex{text, windows};
#if COUNTERSIGN_MASK_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
  if (avx2) {
    gate_check_blocks_avx2(text, digit_runs ? &digit : nullptr, hex_groups ? &hex : nullptr);
    return;
  }
#endif
  gate_check_blocks_baseline(text, digit_runs ? &digit : nullptr, hex_groups ? &hex : nullptr);
}

// The windows ordered by group, then start. Each source gives a group's
// windows in order of start already (the prefilter reports ends in order,
// and a window starts a fixed reach, or at the line, before its end; the
// checks go through the text once), so a counting sort by group does it;
// a group that is not in order (no source known to do that) is sorted.
std::vector<Window> by_group(std::vector<Window> windows, std::size_t detectors) {
  auto bucket = [&](std::uint32_t group) {
    return group >= kDigitGroup ? detectors + (group - kDigitGroup) : group;
  };
  std::vector<std::size_t> first(detectors + kDigitRunKinds + 2, 0);
  for (const Window& window : windows) ++first[bucket(window.group) + 1];
  for (std::size_t k = 1; k < first.size(); ++k) first[k] += first[k - 1];
  std::vector<Window> sorted(windows.size());
  std::vector<std::size_t> next(first.begin(), first.end() - 1);
  for (const Window& window : windows) sorted[next[bucket(window.group)]++] = window;
  auto by_start = [](const Window& a, const Window& b) { return a.start < b.start; };
  for (std::size_t k = 0; k + 1 < first.size(); ++k) {
    auto from = sorted.begin() + static_cast<std::ptrdiff_t>(first[k]);
    auto to = sorted.begin() + static_cast<std::ptrdiff_t>(first[k + 1]);
    if (!std::is_sorted(from, to, by_start)) std::sort(from, to, by_start);
  }
  return sorted;
}

// Validated, non-overlapping hits from the raw candidates.
std::vector<Hit> resolve(std::string_view text, const std::vector<Detector>& detectors,
                         std::vector<Candidate>& candidates) {
  std::vector<Hit> hits;
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
      const Detector& detector = detectors[candidates[j].detector];
      // Without a right boundary, only the longest match counts: a shorter
      // one would cut a value ("password=${X}" is not the password "$").
      if (found || (j > i && detector.right == Boundary::none)) continue;
      std::size_t start = candidates[j].from;
      std::size_t end = candidates[j].to;
      if (detector.validator && !detector.validator(text, start, end)) {
        // The leftmost start may have taken in a number before the value
        // ("ref 12 4111 1111 1111 1111"): a number detector tries the later
        // starts after a space as well.
        if (detector.left != Boundary::number) continue;
        bool valid = false;
        for (std::size_t later = candidates[j].from + 1; !valid && later < candidates[j].to;
             ++later) {
          if (text[later - 1] != ' ' || !is_alnum(text[later])) continue;
          start = later;
          end = candidates[j].to;
          valid = detector.validator(text, start, end);
        }
        if (!valid) continue;
      }
      if (end <= start || end > text.size()) continue;
      hits.push_back({start, end, candidates[j].detector});
      found = true;
    }
    i = j;
  }

  // Overlaps: the more confident detector wins, then the longer span.
  std::sort(hits.begin(), hits.end(), [&](const Hit& a, const Hit& b) {
    double ca = detectors[a.detector].confidence, cb = detectors[b.detector].confidence;
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

}  // namespace

std::vector<Hit> Scanner::scan(std::string_view text) const {
  std::vector<Hit> hits;
  if (text.empty() || database_ == nullptr) return hits;
  hs_scratch_t* scratch = thread_scratch().for_scanner(id_, every_database_);

  // Pass 1: where can matches be? The prefilter reports where matches of
  // its detectors end; a match starts at most its detector's reach before
  // its end (longer ones are found by widening below). The digit-run check
  // gives windows for its detectors.
  std::vector<Window> windows;
  if (!prefilters_.empty()) {
    std::vector<End> ends;
    for (void* prefilter : prefilters_)
      scan_blocks(text, [&](std::size_t offset, std::size_t length) {
        EndContext context{text, &detectors_, &ends, offset};
        hs_scan(static_cast<hs_database_t*>(prefilter), text.data() + offset,
                static_cast<unsigned int>(length), 0, scratch, on_end, &context);
      });
    windows.reserve(ends.size());
    for (const End& end : ends) {
      std::size_t reach = reach_[end.detector];
      std::size_t start = end.at > reach ? end.at - reach : 0;
      bool line_start = false;
      if (detectors_[end.detector].single_line) {
        // The match is on the line it ends on: start the window there.
        const void* newline =
            end.at > start ? memrchr(text.data() + start, '\n', end.at - start) : nullptr;
        if (newline) {
          start = static_cast<std::size_t>(static_cast<const char*>(newline) - text.data()) + 1;
          line_start = true;
        }
      }
      windows.push_back({start, end.at, end.detector, line_start});
    }
  }
  unsigned digit_kinds = 0;
  for (int kind = 0; kind < kDigitRunKinds; ++kind)
    if (digit_databases_[kind]) digit_kinds |= 1u << kind;
  gate_check_windows(text, digit_kinds, hex_database_ != nullptr, windows);
  if (windows.empty()) return hits;
  windows = by_group(std::move(windows), detectors_.size());

  // Pass 2: leftmost starts, in the merged windows of each detector (or of
  // each digit-run kind, or the hex group), with that detector's database. A match that
  // starts at a window's first byte may have been cut: widen and rescan.
  // Every prefilter end must come back from the rescan too: when one does
  // not, its match starts before the window (a detector without a bound on
  // its length, reach capped at 512 bytes: a long JWT), and the window
  // widens as well.
  std::vector<Candidate> candidates;
  std::vector<Candidate> found;
  std::vector<std::size_t> expected_ends;
  std::vector<std::size_t> reported_ends;
  std::size_t i = 0;
  while (i < windows.size()) {
    const std::uint32_t group = windows[i].group;
    const bool digit_group = group >= kDigitGroup;  // or the hex group
    std::size_t window_start = windows[i].start;
    std::size_t window_end = windows[i].end;
    bool line_start = windows[i].line_start;
    expected_ends.clear();
    while (i < windows.size() && windows[i].group == group && windows[i].start <= window_end) {
      window_end = std::max(window_end, windows[i].end);
      if (!digit_group) expected_ends.push_back(windows[i].end);
      ++i;
    }
    auto* database =
        static_cast<hs_database_t*>(group == kHexGroup     ? hex_database_
                                    : group >= kDigitGroup ? digit_databases_[group - kDigitGroup]
                                                           : rescan_[group]);
    for (;;) {
      found.clear();
      reported_ends.clear();
      ScanContext context{text,         &detectors_, &found,
                          window_start, false,       digit_group ? nullptr : &reported_ends,
                          line_start};
      hs_scan(database, text.data() + window_start,
              static_cast<unsigned int>(window_end - window_start), 0, scratch, on_match, &context);
      bool complete = !context.cut;
      if (complete && !digit_group && window_start > 0) {
        std::sort(reported_ends.begin(), reported_ends.end());
        complete = std::all_of(expected_ends.begin(), expected_ends.end(), [&](std::size_t end) {
          return std::binary_search(reported_ends.begin(), reported_ends.end(), end);
        });
      }
      if (complete) {
        candidates.insert(candidates.end(), found.begin(), found.end());
        break;
      }
      std::size_t width = window_end - window_start;
      window_start = window_start > 2 * width ? window_start - 2 * width : 0;
      line_start = false;
    }
  }
  return resolve(text, detectors_, candidates);
}

std::vector<Hit> Scanner::scan_exhaustive(std::string_view text) const {
  if (text.empty() || database_ == nullptr) return {};
  auto* database = static_cast<hs_database_t*>(database_);
  hs_scratch_t* scratch = thread_scratch().for_scanner(id_, every_database_);
  std::vector<Candidate> candidates;
  scan_blocks(text, [&](std::size_t offset, std::size_t length) {
    ScanContext context{text, &detectors_, &candidates, offset};
    hs_scan(database, text.data() + offset, static_cast<unsigned int>(length), 0, scratch, on_match,
            &context);
  });
  return resolve(text, detectors_, candidates);
}

std::vector<std::pair<std::size_t, std::size_t>> gate_windows(std::string_view text, bool hex,
                                                              bool bytewise) {
  std::vector<Window> windows;
  if (!bytewise)
    gate_check_windows(text, hex ? 0u : (1u << kDigitRunKinds) - 1, hex, windows);
  else if (hex)
    hex_run_windows_bytewise(text, windows);
  else
    digit_run_windows_bytewise(text, (1u << kDigitRunKinds) - 1, windows);
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (const Window& window : windows) out.emplace_back(window.start, window.end);
  std::sort(out.begin(), out.end());
  return out;
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
