// The SOC 2 table: events are tagged from it, and docs/audit.md carries it verbatim.
#include "audit/soc2.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "audit/event.h"

namespace countersign::audit {
namespace {

std::string read_doc() {
  std::ifstream in(std::string(COUNTERSIGN_SOURCE_DIR) + "/docs/audit.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Soc2Test, DocumentedTableIsTheCodeTable) {
  const std::string doc = read_doc();
  const std::string begin = "<!-- soc2-map: generated from src/audit/soc2.cc -->\n";
  const std::string end = "<!-- /soc2-map -->";
  auto start = doc.find(begin);
  ASSERT_NE(start, std::string::npos) << "docs/audit.md has no SOC 2 table markers";
  start += begin.size();
  auto stop = doc.find(end, start);
  ASSERT_NE(stop, std::string::npos);
  EXPECT_EQ(doc.substr(start, stop - start), soc2_markdown_table())
      << "docs/audit.md and src/audit/soc2.cc disagree: paste soc2_markdown_table() between the "
         "markers";
}

TEST(Soc2Test, EveryMappedControlIsADefinedCriterionAndTypesAreUnique) {
  std::set<std::string_view> criteria;
  for (const auto& criterion : trust_criteria()) criteria.insert(criterion.id);
  std::set<std::string_view> types;
  for (const auto& row : soc2_map()) {
    EXPECT_TRUE(types.insert(row.type).second) << row.type << " is listed twice";
    EXPECT_FALSE(row.controls.empty()) << row.type;
    for (std::string_view control : row.controls)
      EXPECT_TRUE(criteria.count(control)) << row.type << " maps to unknown " << control;
  }
}

TEST(Soc2Test, SealedEventsAreTaggedFromTheTable) {
  EXPECT_EQ(controls_for("action.decided"), std::vector<std::string>{"CC6.1"});
  EXPECT_EQ(controls_for("auth.failed"), (std::vector<std::string>{"CC6.1", "CC7.2"}));
  EXPECT_EQ(controls_for("review.approved"), (std::vector<std::string>{"CC6.2", "CC6.3", "CC8.1"}));
  EXPECT_EQ(controls_for("grant.issued"), (std::vector<std::string>{"CC6.3", "CC8.1"}));
  EXPECT_EQ(controls_for("review.something_new"),
            (std::vector<std::string>{"CC6.2", "CC6.3", "CC8.1"}));
  EXPECT_EQ(controls_for("grant.something_new"), (std::vector<std::string>{"CC6.3", "CC8.1"}));
  EXPECT_EQ(controls_for("unheard.of"), std::vector<std::string>{"CC7.2"});
  for (const auto& row : soc2_map()) {
    AuditEvent event;
    event.type = std::string(row.type);
    event.actor = "system";
    std::vector<AuditEvent> events{event};
    ASSERT_TRUE(seal(events, 0, kGenesisHash));
    EXPECT_EQ(events[0].controls,
              std::vector<std::string>(row.controls.begin(), row.controls.end()));
  }
}

}  // namespace
}  // namespace countersign::audit
