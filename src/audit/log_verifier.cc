#include "audit/log_verifier.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "audit/event.h"

namespace countersign::audit {
namespace {

// The top-level "index" of a canonical (RFC 8785) event body. Keys are
// sorted, so the top-level index follows the details object and only
// strings (whose quotes are escaped) and numbers come after it: the last
// `,"index":` is the top-level one.
std::optional<std::int64_t> body_index(std::string_view body) {
  constexpr std::string_view key = ",\"index\":";
  std::size_t at = body.rfind(key);
  if (at == std::string_view::npos) return std::nullopt;
  const char* begin = body.data() + at + key.size();
  const char* end = body.data() + body.size();
  std::int64_t value = 0;
  auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop == begin || stop == end || (*stop != ',' && *stop != '}'))
    return std::nullopt;
  return value;
}

}  // namespace

LogVerifier::LogVerifier(VerifyOptions options) : options_(std::move(options)) {
  previous_.fill(0);
}

void LogVerifier::problem(std::int64_t index, std::int64_t checkpoint_size, std::string message) {
  report_.problems.push_back({index, checkpoint_size, std::move(message)});
}

bool LogVerifier::add_event(std::int64_t index, std::string_view body, std::string_view stored_leaf,
                            std::string_view previous_hash, std::string_view hash,
                            const IndexedColumns* columns) {
  if (event_problem_) return false;
  const std::int64_t expected = next_index_;
  auto stop = [&](std::string message) {
    problem(expected, -1, std::move(message));
    event_problem_ = true;
    return false;
  };
  if (index != expected) {
    if (index > expected)
      return stop(
          index == expected + 1
              ? fmt::format("event {} is missing (the next stored event is {})", expected, index)
              : fmt::format("events {}..{} are missing (the next stored event is {})", expected,
                            index - 1, index));
    return stop(fmt::format("expected event {}, found event {} again", expected, index));
  }
  auto inner = body_index(body);
  if (!inner) return stop("the stored event is not a canonical audit event (no index)");
  if (*inner != expected)
    return stop(fmt::format(
        "the event stored at position {} is event {}: events were reordered or renumbered",
        expected, *inner));
  Hash leaf = hash_leaf(body);
  if (stored_leaf.empty()) return stop("the event has no stored leaf hash");
  if (stored_leaf != hash_bytes(leaf))
    return stop("the event's content does not match its leaf hash (the event was changed)");
  if (previous_hash != to_hex(previous_))
    return stop("previous_hash does not match the hash of the event before");
  Hash chained = chain_hash_bytes(previous_, leaf);
  if (hash != to_hex(chained)) return stop("hash does not match the event's content and chain");
  if (columns != nullptr && column_problems_.size() < kMaxColumnProblems) {
    // Not a break in the log: the hashed events are intact, so the tree and
    // checkpoints are still checked, and what they say is reported first.
    auto fields = body_fields(body);
    if (!fields)
      column_problems_.push_back({expected, -1, "the stored event is not a readable audit event"});
    else if (auto mismatch = column_mismatch(*fields, *columns))
      column_problems_.push_back(
          {expected, -1, *mismatch + " (the search columns were edited outside the log)"});
  }
  previous_ = chained;
  leaves_.push_back(leaf);
  ++next_index_;
  return true;
}

void LogVerifier::finish_events() {
  report_.events = next_index_;
  report_.head = to_hex(previous_);
  tree_ = MemoryTree(std::move(leaves_));
  leaves_.clear();
  report_.root = tree_.root();
}

void LogVerifier::check_tree_node(unsigned level, std::uint64_t position, std::string_view hash) {
  if (event_problem_ || tree_problem_) return;
  const auto& levels = tree_.levels();
  std::int64_t first = static_cast<std::int64_t>(position << level);
  if (level == 0 || level >= levels.size() || position >= levels[level].size()) {
    problem(std::max(first, report_.events), -1,
            fmt::format("the stored tree has a node (level {}, position {}) over events up to {} "
                        "but the log has {}: events were removed (or the tree was altered)",
                        level, position, first + (std::int64_t{1} << level) - 1, report_.events));
    tree_problem_ = true;
    return;
  }
  if (hash != hash_bytes(levels[level][position])) {
    problem(first, -1,
            fmt::format("the stored tree node (level {}, position {}) over events {}..{} does not "
                        "match the events (proofs served from it would fail)",
                        level, position, first, first + (std::int64_t{1} << level) - 1));
    tree_problem_ = true;
  }
}

void LogVerifier::check_tree_node_count(std::int64_t stored_count) {
  if (event_problem_ || tree_problem_) return;
  std::int64_t expected = 0;
  const auto& levels = tree_.levels();
  for (std::size_t level = 1; level < levels.size(); ++level)
    expected += static_cast<std::int64_t>(levels[level].size());
  if (stored_count != expected) {
    problem(-1, -1,
            fmt::format("the stored tree has {} interior nodes, the log needs {}", stored_count,
                        expected));
    tree_problem_ = true;
  }
}

std::int64_t LogVerifier::good_floor(std::int64_t size) const {
  std::int64_t best = 0;
  for (std::int64_t good : good_sizes_)
    if (good <= size) best = std::max(best, good);
  return best;
}

void LogVerifier::check_checkpoints(std::vector<StoredCheckpointRow> rows) {
  if (event_problem_) return;
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.size < b.size; });
  const std::int64_t events = report_.events;
  const NodeReader nodes = tree_.reader();
  std::optional<std::pair<std::int64_t, Hash>> previous_good;
  for (const StoredCheckpointRow& row : rows) {
    ++report_.checkpoints;
    report_.latest_checkpoint = std::max(report_.latest_checkpoint, row.size);
    auto parsed = parse_signed_checkpoint(row.note, true);
    if (!parsed) {
      problem(-1, row.size,
              fmt::format("the stored checkpoint at size {} is malformed: {}", row.size,
                          parsed.error().message));
      continue;
    }
    const Checkpoint& checkpoint = parsed->checkpoint;
    if (static_cast<std::int64_t>(checkpoint.size) != row.size) {
      problem(-1, row.size,
              fmt::format("the stored checkpoint filed at size {} says size {}", row.size,
                          checkpoint.size));
      continue;
    }
    if (options_.key) {
      SignatureCheck check = check_signature(parsed->note, *options_.key);
      const std::string key = options_.key->name() + "+" + key_hash_hex(options_.key->key_hash());
      if (check == SignatureCheck::valid && checkpoint.origin != options_.key->name()) {
        problem(-1, row.size,
                fmt::format("the checkpoint at size {} names origin '{}', not the key's '{}'",
                            row.size, checkpoint.origin, options_.key->name()));
        continue;
      }
      if (check == SignatureCheck::valid) {
        ++report_.signed_checkpoints;
      } else if (check == SignatureCheck::invalid) {
        problem(-1, row.size,
                fmt::format("the checkpoint at size {}: the signature by {} does not verify "
                            "(forged or altered)",
                            row.size, key));
        continue;
      } else if (!parsed->note.signatures.empty()) {
        problem(-1, row.size,
                fmt::format("the checkpoint at size {} is not signed by the audit key {} (signed "
                            "by {}): forged",
                            row.size, key, signer_list(parsed->note)));
        continue;
      }
      // Unsigned checkpoints (issued while no key was configured) carry no
      // authority; their roots are still compared below.
    }
    if (row.size > events) {
      // The log matches its checkpoints only up to the floor, so that is as
      // far as it is known to be intact; a cut end is the likeliest story.
      std::int64_t floor = good_floor(events);
      problem(floor, row.size,
              fmt::format("the log has {} events but the checkpoint at size {} covers {}: events "
                          "were removed at or after event {} (the last checkpoint the log "
                          "matches); if only the end was cut, events {}..{} are missing",
                          events, row.size, row.size, floor, events, row.size - 1));
      continue;
    }
    auto root = tree_root(static_cast<std::uint64_t>(row.size), nodes);
    if (!root || *root != checkpoint.root) {
      std::int64_t floor = good_floor(row.size);
      problem(floor, row.size,
              fmt::format("the log does not match the checkpoint at size {}: an event in "
                          "{}..{} was changed, removed, inserted or reordered and the hashes "
                          "recomputed",
                          row.size, floor, row.size - 1));
      continue;
    }
    if (previous_good) {
      auto proof = consistency_proof(static_cast<std::uint64_t>(previous_good->first),
                                     static_cast<std::uint64_t>(row.size), nodes);
      auto consistent = proof ? verify_consistency(static_cast<std::uint64_t>(previous_good->first),
                                                   static_cast<std::uint64_t>(row.size),
                                                   previous_good->second, checkpoint.root, *proof)
                              : Result<void>(std::unexpected(proof.error()));
      if (!consistent) {
        problem(previous_good->first, row.size,
                fmt::format("the checkpoint at size {} is not consistent with the one at size {}: "
                            "{}",
                            row.size, previous_good->first, consistent.error().message));
        continue;
      }
    }
    good_sizes_.push_back(row.size);
    previous_good = std::make_pair(row.size, checkpoint.root);
  }
}

void LogVerifier::check_external() {
  if (event_problem_ || !options_.external_checkpoint) return;
  const std::string& name = options_.external_name;
  Result<SignedCheckpoint> parsed =
      options_.key ? open_checkpoint(*options_.external_checkpoint, *options_.key)
                   : parse_signed_checkpoint(*options_.external_checkpoint, true);
  if (!parsed) {
    problem(-1, -1, fmt::format("{}: {}", name, parsed.error().message));
    return;
  }
  const Checkpoint& checkpoint = parsed->checkpoint;
  const auto size = static_cast<std::int64_t>(checkpoint.size);
  report_.external_size = size;
  const std::int64_t events = report_.events;
  if (size > events) {
    std::int64_t floor = good_floor(events);
    problem(floor, size,
            fmt::format("the log has {} events but {} covers {}: the log was cut or events were "
                        "removed at or after event {} (the last checkpoint the log matches); if "
                        "only the end was cut, events {}..{} are missing",
                        events, name, size, floor, events, size - 1));
    return;
  }
  const NodeReader nodes = tree_.reader();
  auto root = tree_root(checkpoint.size, nodes);
  if (!root || *root != checkpoint.root) {
    std::int64_t floor = good_floor(size);
    problem(floor, size,
            fmt::format("the log does not extend {} (size {}): an event in {}..{} was changed, "
                        "removed, inserted or reordered",
                        name, size, floor, size - 1));
    return;
  }
  auto proof = consistency_proof(checkpoint.size, static_cast<std::uint64_t>(events), nodes);
  auto consistent = proof ? verify_consistency(checkpoint.size, static_cast<std::uint64_t>(events),
                                               checkpoint.root, report_.root, *proof)
                          : Result<void>(std::unexpected(proof.error()));
  if (!consistent)
    problem(size, size,
            fmt::format("the current log is not consistent with {}: {}", name,
                        consistent.error().message));
}

VerifyReport LogVerifier::report() const {
  VerifyReport out = report_;
  // Problems about events first, lowest index first; then the others.
  std::stable_sort(out.problems.begin(), out.problems.end(),
                   [](const VerifyProblem& a, const VerifyProblem& b) {
                     if ((a.index < 0) != (b.index < 0)) return a.index >= 0;
                     if (a.index != b.index) return a.index < b.index;
                     // On a tie, what a checkpoint says explains more than a node.
                     return a.checkpoint_size >= 0 && b.checkpoint_size < 0;
                   });
  out.problems.insert(out.problems.end(), column_problems_.begin(), column_problems_.end());
  out.intact = out.problems.empty();
  return out;
}

}  // namespace countersign::audit
