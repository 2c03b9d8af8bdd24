// Full verification of a stored audit log, independent of the store: the
// caller streams the stored rows in, then the stored tree nodes and the
// stored checkpoints, and gets a report naming the first problem.
//
// What is checked:
//   events       indexes 0, 1, 2, ... without gaps; the index inside each
//                body equals its position; each leaf hash is SHA-256(0x00 ||
//                body) and equals the stored one; the hash chain.
//   tree         every stored interior node equals the one recomputed from
//                the leaves (so served proofs are right).
//   checkpoints  each stored checkpoint is well-formed, signed by the audit
//                key (when one is known), its root equals the recomputed
//                root at its size, and consecutive checkpoints are consistent
//                (an RFC 9162 consistency proof between them verifies).
//   external     a checkpoint saved elsewhere: signed by the key, and the
//                current log extends it (same root at its size, and a
//                consistency proof from it to the current tree verifies).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/indexed_fields.h"
#include "audit/merkle.h"
#include "audit/note.h"

namespace countersign::audit {

struct VerifyProblem {
  std::int64_t index = -1;            // first event index involved; -1 when none is
  std::int64_t checkpoint_size = -1;  // the checkpoint involved, when one is
  std::string message;
};

struct VerifyOptions {
  std::optional<NoteVerifier> key;                 // checkpoints must be signed by it
  std::optional<std::string> external_checkpoint;  // a note saved elsewhere
  std::string external_name = "the given checkpoint";
};

struct VerifyReport {
  bool intact = false;
  std::int64_t events = 0;
  Hash root{};
  std::string head;                     // last chain hash (hex), 64 zeros for an empty log
  std::int64_t checkpoints = 0;         // stored checkpoints checked
  std::int64_t signed_checkpoints = 0;  // of which signed by the key
  std::int64_t latest_checkpoint = -1;  // size of the latest stored checkpoint
  std::optional<std::int64_t> external_size;
  std::vector<VerifyProblem> problems;  // the first is the one to report
};

struct StoredCheckpointRow {
  std::int64_t size = 0;
  std::string note;
};

class LogVerifier {
 public:
  explicit LogVerifier(VerifyOptions options);

  // The next stored event in index order. Returns false at the first event
  // problem (the rest of the log cannot be checked against a broken one).
  // With `columns`, the row's search columns are checked against the body;
  // a disagreement is a problem reported after any other (it does not stop
  // the checks of the tree and checkpoints).
  bool add_event(std::int64_t index, std::string_view body, std::string_view stored_leaf,
                 std::string_view previous_hash, std::string_view hash,
                 const IndexedColumns* columns = nullptr);
  // Once all events are in: builds the tree.
  void finish_events();
  // Stored interior nodes (level >= 1), any order; then the node count.
  void check_tree_node(unsigned level, std::uint64_t position, std::string_view hash);
  void check_tree_node_count(std::int64_t stored_count);
  void check_checkpoints(std::vector<StoredCheckpointRow> rows);
  void check_external();

  bool event_problem() const { return event_problem_; }
  VerifyReport report() const;

 private:
  void problem(std::int64_t index, std::int64_t checkpoint_size, std::string message);
  // The largest checkpoint size known good at or below `size` (0 if none).
  std::int64_t good_floor(std::int64_t size) const;

  VerifyOptions options_;
  std::int64_t next_index_ = 0;
  Hash previous_{};
  std::vector<Hash> leaves_;
  MemoryTree tree_;
  bool event_problem_ = false;
  bool tree_problem_ = false;
  std::vector<std::int64_t> good_sizes_;
  // Search columns that disagree with their event (reported after the rest).
  static constexpr std::size_t kMaxColumnProblems = 100;
  std::vector<VerifyProblem> column_problems_;
  VerifyReport report_;
};

}  // namespace countersign::audit
