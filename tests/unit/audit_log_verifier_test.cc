// LogVerifier on logs built in memory: an intact log passes, and each kind
// of damage is reported with the right first index.
#include "audit/log_verifier.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "audit/event.h"

namespace countersign::audit {
namespace {

struct Row {
  std::int64_t index;
  std::string body;
  std::string leaf;
  std::string previous_hash;
  std::string hash;
};

std::vector<Row> make_log(int count) {
  std::vector<AuditEvent> events;
  for (int i = 0; i < count; ++i) {
    AuditEvent event;
    event.time = 1'700'000'000'000 + i;
    event.type = "action.decided";
    event.actor = "agent:a";
    // A nested "index" must not be mistaken for the event's own.
    event.details = boost::json::object{{"index", 99}, {"n", i}, {"text", ",\"index\":7,"}};
    events.push_back(event);
  }
  auto sealed = seal_events(events, 0, kGenesisHash);
  EXPECT_TRUE(sealed);
  std::vector<Row> rows;
  for (auto& item : *sealed)
    rows.push_back({item.event.index, item.body, std::string(hash_bytes(item.leaf)),
                    item.event.previous_hash, item.event.hash});
  return rows;
}

MemoryTree tree_of(const std::vector<Row>& rows, std::size_t size) {
  std::vector<Hash> leaves;
  for (std::size_t i = 0; i < size; ++i) leaves.push_back(hash_leaf(rows[i].body));
  return MemoryTree(leaves);
}

std::string signed_checkpoint(const NoteSigner& signer, std::uint64_t size, const Hash& root) {
  Note note{checkpoint_text({signer.name(), size, root, {}}), {}};
  EXPECT_TRUE(add_signature(note, signer));
  return format_note(note);
}

VerifyReport run(const std::vector<Row>& rows, std::vector<StoredCheckpointRow> checkpoints,
                 VerifyOptions options, bool with_tree = true) {
  LogVerifier verifier(std::move(options));
  for (const Row& row : rows)
    if (!verifier.add_event(row.index, row.body, row.leaf, row.previous_hash, row.hash)) break;
  if (!verifier.event_problem()) {
    verifier.finish_events();
    if (with_tree) {
      MemoryTree tree = tree_of(rows, rows.size());
      std::int64_t count = 0;
      for (std::size_t level = 1; level < tree.levels().size(); ++level)
        for (std::size_t position = 0; position < tree.levels()[level].size(); ++position, ++count)
          verifier.check_tree_node(static_cast<unsigned>(level), position,
                                   hash_bytes(tree.levels()[level][position]));
      verifier.check_tree_node_count(count);
    }
    verifier.check_checkpoints(std::move(checkpoints));
    verifier.check_external();
  }
  return verifier.report();
}

class LogVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signer_ = *NoteSigner::generate("log.example");
    rows_ = make_log(20);
    for (std::uint64_t size : {5u, 12u, 20u})
      checkpoints_.push_back({static_cast<std::int64_t>(size),
                              signed_checkpoint(signer_, size, tree_of(rows_, size).root())});
  }
  VerifyOptions keyed() {
    VerifyOptions options;
    options.key = signer_.verifier();
    return options;
  }

  NoteSigner signer_;
  std::vector<Row> rows_;
  std::vector<StoredCheckpointRow> checkpoints_;
};

TEST_F(LogVerifierTest, AnIntactLogPasses) {
  auto report = run(rows_, checkpoints_, keyed());
  ASSERT_TRUE(report.intact) << report.problems.front().message;
  EXPECT_EQ(report.events, 20);
  EXPECT_EQ(report.checkpoints, 3);
  EXPECT_EQ(report.signed_checkpoints, 3);
  EXPECT_EQ(report.root, tree_of(rows_, 20).root());
  EXPECT_EQ(report.head, rows_.back().hash);
}

TEST_F(LogVerifierTest, ChangedEventIsNamed) {
  rows_[7].body.replace(rows_[7].body.find("agent:a"), 7, "agent:b");
  auto report = run(rows_, checkpoints_, keyed());
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, 7);
  EXPECT_NE(report.problems.front().message.find("changed"), std::string::npos);
}

TEST_F(LogVerifierTest, MissingLeafHashIsNamed) {
  rows_[3].leaf.clear();
  auto report = run(rows_, checkpoints_, keyed());
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, 3);
}

TEST_F(LogVerifierTest, BrokenChainIsNamed) {
  rows_[9].hash[0] = rows_[9].hash[0] == '0' ? '1' : '0';
  auto report = run(rows_, checkpoints_, keyed());
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, 9);
}

TEST_F(LogVerifierTest, GapAndReorderingAreNamed) {
  auto gap = rows_;
  gap.erase(gap.begin() + 4);
  auto report = run(gap, checkpoints_, keyed());
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, 4);
  EXPECT_NE(report.problems.front().message.find("missing"), std::string::npos);

  auto swapped = rows_;
  std::swap(swapped[2].body, swapped[6].body);
  report = run(swapped, checkpoints_, keyed());
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, 2);
  EXPECT_NE(report.problems.front().message.find("reordered"), std::string::npos);
}

// An attacker who recomputes every hash after a change is caught by the
// checkpoints, at or after the largest one that still matches.
TEST_F(LogVerifierTest, RehashedRewriteIsCaughtByCheckpoints) {
  std::vector<AuditEvent> events;
  for (const Row& row : rows_) {
    auto event = event_from_json(boost::json::parse(row.body));
    ASSERT_TRUE(event);
    events.push_back(*event);
  }
  events[8].actor = "agent:other";
  auto resealed = seal_events(events, 0, kGenesisHash);
  ASSERT_TRUE(resealed);
  std::vector<Row> rewritten;
  for (auto& item : *resealed)
    rewritten.push_back({item.event.index, item.body, std::string(hash_bytes(item.leaf)),
                         item.event.previous_hash, item.event.hash});
  auto report = run(rewritten, checkpoints_, keyed());
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, 5);  // the checkpoint at 5 still matches
  EXPECT_EQ(report.problems.front().checkpoint_size, 12);
}

TEST_F(LogVerifierTest, TruncationIsCaughtByStoredAndExternalCheckpoints) {
  auto cut = rows_;
  cut.resize(16);
  auto report = run(cut, checkpoints_, keyed());
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, 12);
  EXPECT_EQ(report.problems.front().checkpoint_size, 20);
  EXPECT_NE(report.problems.front().message.find("events 16..19 are missing"), std::string::npos);

  // With the checkpoints beyond the cut deleted too, only an external one helps.
  auto kept = checkpoints_;
  kept.pop_back();
  EXPECT_TRUE(run(cut, kept, keyed()).intact);
  auto options = keyed();
  options.external_checkpoint = checkpoints_.back().note;
  report = run(cut, kept, options);
  ASSERT_FALSE(report.intact);
  EXPECT_NE(report.problems.front().message.find("cut"), std::string::npos);
}

TEST_F(LogVerifierTest, ExternalCheckpointMustBeSignedAndExtended) {
  auto options = keyed();
  options.external_checkpoint = checkpoints_[1].note;
  auto report = run(rows_, checkpoints_, options);
  ASSERT_TRUE(report.intact);
  EXPECT_EQ(report.external_size, 12);

  auto forger = *NoteSigner::generate("log.example");
  options.external_checkpoint = signed_checkpoint(forger, 12, tree_of(rows_, 12).root());
  report = run(rows_, checkpoints_, options);
  ASSERT_FALSE(report.intact);
  EXPECT_NE(report.problems.front().message.find("not signed by"), std::string::npos);

  // Signed by the right key, but for a different history of 12 events.
  options.external_checkpoint = signed_checkpoint(signer_, 12, hash_leaf("another history"));
  report = run(rows_, checkpoints_, options);
  ASSERT_FALSE(report.intact);
  EXPECT_NE(report.problems.front().message.find("does not extend"), std::string::npos);
}

TEST_F(LogVerifierTest, ForgedOrAlteredStoredCheckpoints) {
  auto forger = *NoteSigner::generate("log.example");
  auto forged = checkpoints_;
  forged[1].note = signed_checkpoint(forger, 12, tree_of(rows_, 12).root());
  auto report = run(rows_, forged, keyed());
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, -1);
  EXPECT_EQ(report.problems.front().checkpoint_size, 12);
  EXPECT_NE(report.problems.front().message.find("forged"), std::string::npos);

  // Without a key, the same forgery is not visible (its root is right).
  EXPECT_TRUE(run(rows_, forged, VerifyOptions{}).intact);

  auto altered = checkpoints_;
  altered[2].note.replace(altered[2].note.find("\n20\n"), 4, "\n19\n");
  report = run(rows_, altered, keyed());
  ASSERT_FALSE(report.intact);

  auto misfiled = checkpoints_;
  misfiled[0].size = 6;  // a checkpoint stored under another size
  report = run(rows_, misfiled, keyed());
  ASSERT_FALSE(report.intact);

  auto garbage = checkpoints_;
  garbage[0].note = "not a checkpoint";
  EXPECT_FALSE(run(rows_, garbage, keyed()).intact);
}

TEST_F(LogVerifierTest, UnsignedCheckpointsAreCountedNotTrusted) {
  auto rows = checkpoints_;
  Note unsigned_note{checkpoint_text({"countersign/audit", 8, tree_of(rows_, 8).root(), {}}), {}};
  rows.push_back({8, format_note(unsigned_note)});
  auto report = run(rows_, rows, keyed());
  ASSERT_TRUE(report.intact);
  EXPECT_EQ(report.checkpoints, 4);
  EXPECT_EQ(report.signed_checkpoints, 3);
  // An unsigned checkpoint with a wrong root is still a problem.
  Note wrong{checkpoint_text({"countersign/audit", 8, hash_leaf("x"), {}}), {}};
  rows.back().note = format_note(wrong);
  EXPECT_FALSE(run(rows_, rows, keyed()).intact);
}

TEST_F(LogVerifierTest, StoredTreeMustMatch) {
  LogVerifier verifier(keyed());
  for (const Row& row : rows_)
    ASSERT_TRUE(verifier.add_event(row.index, row.body, row.leaf, row.previous_hash, row.hash));
  verifier.finish_events();
  verifier.check_tree_node(2, 1, hash_bytes(hash_leaf("wrong")));
  auto report = verifier.report();
  ASSERT_FALSE(report.intact);
  EXPECT_EQ(report.problems.front().index, 4);  // level 2, position 1 covers events 4..7

  LogVerifier counting(keyed());
  for (const Row& row : rows_)
    counting.add_event(row.index, row.body, row.leaf, row.previous_hash, row.hash);
  counting.finish_events();
  counting.check_tree_node_count(3);
  EXPECT_FALSE(counting.report().intact);
}

}  // namespace
}  // namespace countersign::audit
