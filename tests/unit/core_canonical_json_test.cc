#include "core/canonical_json.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/action.h"

namespace countersign {
namespace {

// RFC 8785 Appendix B: IEEE-754 bit patterns and their ES6 serialization.
struct NumberCase {
  std::uint64_t bits;
  const char* expected;
};

constexpr NumberCase kAppendixB[] = {
    {0x0000000000000000, "0"},
    {0x8000000000000000, "0"},  // minus zero
    {0x0000000000000001, "5e-324"},
    {0x8000000000000001, "-5e-324"},
    {0x7fefffffffffffff, "1.7976931348623157e+308"},
    {0xffefffffffffffff, "-1.7976931348623157e+308"},
    {0x4340000000000000, "9007199254740992"},
    {0xc340000000000000, "-9007199254740992"},
    {0x4430000000000000, "295147905179352830000"},
    {0x44b52d02c7e14af5, "9.999999999999997e+22"},
    {0x44b52d02c7e14af6, "1e+23"},
    {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
    {0x444b1ae4d6e2ef4e, "999999999999999700000"},
    {0x444b1ae4d6e2ef4f, "999999999999999900000"},
    {0x444b1ae4d6e2ef50, "1e+21"},
    {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
    {0x3eb0c6f7a0b5ed8d, "0.000001"},
    {0x41b3de4355555553, "333333333.3333332"},
    {0x41b3de4355555554, "333333333.33333325"},
    {0x41b3de4355555555, "333333333.3333333"},
    {0x41b3de4355555556, "333333333.3333334"},
    {0x41b3de4355555557, "333333333.33333343"},
    {0xbecbf647612f3696, "-0.0000033333333333333333"},
    {0x43143ff3c1cb0959, "1424953923781206.2"},
};

TEST(FormatEsNumber, MatchesRfc8785AppendixB) {
  for (const NumberCase& test : kAppendixB) {
    double value = std::bit_cast<double>(test.bits);
    EXPECT_EQ(format_es_number(value), test.expected) << std::hex << test.bits;
  }
}

TEST(FormatEsNumber, ExponentBoundaries) {
  EXPECT_EQ(format_es_number(1e21), "1e+21");
  EXPECT_EQ(format_es_number(1e20), "100000000000000000000");
  EXPECT_EQ(format_es_number(1e-7), "1e-7");
  EXPECT_EQ(format_es_number(-1e-7), "-1e-7");
  EXPECT_EQ(format_es_number(1.5e-7), "1.5e-7");
  EXPECT_EQ(format_es_number(1.25e-6), "0.00000125");
  EXPECT_EQ(format_es_number(0.1), "0.1");
  EXPECT_EQ(format_es_number(100), "100");
  EXPECT_EQ(format_es_number(4.50), "4.5");
  EXPECT_EQ(format_es_number(2e-3), "0.002");
  EXPECT_EQ(format_es_number(1e30), "1e+30");
  EXPECT_EQ(format_es_number(123e-20), "1.23e-18");
  EXPECT_EQ(format_es_number(12345678901234567890123.0), "1.2345678901234568e+22");
}

TEST(Canonicalize, ParsedNumbersRoundToNearestDouble) {
  // Decimal text must map to the correctly rounded double before formatting.
  EXPECT_EQ(*canonicalize_text("333333333.33333329"), "333333333.3333333");
  EXPECT_EQ(*canonicalize_text("1E30"), "1e+30");
  EXPECT_EQ(*canonicalize_text("-0"), "0");
  EXPECT_EQ(*canonicalize_text("-0.0"), "0");
  EXPECT_EQ(*canonicalize_text("9007199254740993"), "9007199254740992");
  EXPECT_EQ(*canonicalize_text("295147905179352830000"), "295147905179352830000");
  EXPECT_EQ(*canonicalize_text("18446744073709551615"), "18446744073709552000");
  EXPECT_EQ(*canonicalize_text("0.000000000000000000000000001"), "1e-27");
  EXPECT_EQ(*canonicalize_text("999999999999999999999"), "1e+21");
}

TEST(Canonicalize, IntegersAreTreatedAsDoubles) {
  EXPECT_EQ(*canonicalize(boost::json::value(std::int64_t{9007199254740993})), "9007199254740992");
  EXPECT_EQ(*canonicalize(boost::json::value(std::uint64_t{18446744073709551615u})),
            "18446744073709552000");
  EXPECT_EQ(*canonicalize(boost::json::value(std::int64_t{-42})), "-42");
}

TEST(Canonicalize, RejectsNanAndInfinity) {
  auto nan = canonicalize(boost::json::value(std::numeric_limits<double>::quiet_NaN()));
  ASSERT_FALSE(nan);
  EXPECT_EQ(nan.error().code, ErrorCode::invalid_argument);
  boost::json::array nested{1, std::numeric_limits<double>::infinity()};
  EXPECT_FALSE(canonicalize(nested));
  EXPECT_FALSE(canonicalize_text("1e400"));  // overflows to infinity
}

TEST(Canonicalize, Rfc8785Section322Example) {
  const char* input = R"({
    "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    "literals": [null, true, false]
  })";
  auto canonical = canonicalize_text(input);
  ASSERT_TRUE(canonical) << canonical.error().message;
  EXPECT_EQ(*canonical,
            "{\"literals\":[null,true,false],"
            "\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
            "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

TEST(Canonicalize, Rfc8785Section323SortsByUtf16CodeUnits) {
  const char* input = R"({
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis"
  })";
  auto canonical = canonicalize_text(input);
  ASSERT_TRUE(canonical) << canonical.error().message;
  // The emoji (a surrogate pair, 0xD83D...) sorts before U+FB33 although its
  // code point is larger.
  EXPECT_EQ(*canonical,
            "{\"\\r\":\"Carriage Return\","
            "\"1\":\"One\","
            "\"\xc2\x80\":\"Control\","
            "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
            "\"\xe2\x82\xac\":\"Euro Sign\","
            "\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
            "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

TEST(Canonicalize, EscapesOnlyQuoteBackslashAndControls) {
  boost::json::value value =
      boost::json::string(std::string("a\"b\\c\b\t\n\f\r\x01\x1f\x7f/\xc3\xa9"));
  EXPECT_EQ(*canonicalize(value), "\"a\\\"b\\\\c\\b\\t\\n\\f\\r\\u0001\\u001f\x7f/\xc3\xa9\"");
}

TEST(Canonicalize, NestedStructuresHaveNoWhitespace) {
  EXPECT_EQ(*canonicalize_text(R"( { "b" : [ 1 , { "d" : {}, "c" : [] } ], "a" : "x" } )"),
            R"({"a":"x","b":[1,{"c":[],"d":{}}]})");
}

TEST(Canonicalize, RejectsDuplicateKeys) {
  auto duplicate = canonicalize_text(R"({"a":1,"a":2})");
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().code, ErrorCode::invalid_argument);
  EXPECT_FALSE(canonicalize_text(R"({"x":{"a":1,"b":{},"a":2}})"));
  // The same key in sibling objects is fine.
  EXPECT_TRUE(canonicalize_text(R"([{"a":1},{"a":2}])"));
  // Escapes that spell the same key are still duplicates.
  EXPECT_FALSE(canonicalize_text(R"({"a":1,"\u0061":2})"));
}

TEST(Canonicalize, RejectsMalformedText) {
  EXPECT_FALSE(canonicalize_text(""));
  EXPECT_FALSE(canonicalize_text("{"));
  EXPECT_FALSE(canonicalize_text("[1,]"));
  EXPECT_FALSE(canonicalize_text("{} {}"));
  EXPECT_FALSE(canonicalize_text("NaN"));
  EXPECT_FALSE(canonicalize_text("\"\xff\""));     // invalid UTF-8
  EXPECT_FALSE(canonicalize_text("\"\\ud800\""));  // lone surrogate
}

TEST(Canonicalize, RejectsInvalidUtf8InBuiltValues) {
  EXPECT_FALSE(canonicalize(boost::json::value(boost::json::string("\xc0\x80"))));  // overlong
  boost::json::object object;
  object["\xed\xa0\x80"] = 1;  // encoded surrogate
  EXPECT_FALSE(canonicalize(object));
}

TEST(Canonicalize, IsIdempotent) {
  const char* input = R"({"z":[1.0,2.50,-0],"a":{"\u00e9":"\u00e9","e":null}})";
  auto once = canonicalize_text(input);
  ASSERT_TRUE(once);
  EXPECT_EQ(*canonicalize_text(*once), *once);
}

Action sample_action() {
  Action action;
  action.id = "act_1";
  action.actor.subject = "agent:ci-bot";
  action.door = "actions";
  action.target = "prod";
  action.verb = "exec:terraform-apply";
  action.params = boost::json::object{{"workspace", "prod"}, {"auto_approve", true}, {"count", 3}};
  return action;
}

TEST(ActionDigest, IsLowercaseHexSha256) {
  auto digest = action_digest(sample_action());
  ASSERT_TRUE(digest);
  EXPECT_EQ(digest->size(), 64u);
  EXPECT_EQ(digest->find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(ActionDigest, KeyOrderAndUnboundFieldsDoNotMatter) {
  Action first = sample_action();
  Action second = sample_action();
  second.params = boost::json::object{{"count", 3}, {"auto_approve", true}, {"workspace", "prod"}};
  second.id = "act_2";
  second.reason = "deploy";
  second.time = 42;
  second.client_address = "10.0.0.1";
  EXPECT_EQ(*action_digest(first), *action_digest(second));
  // 3 and 3.0 are the same JSON number.
  second.params.as_object()["count"] = 3.0;
  EXPECT_EQ(*action_digest(first), *action_digest(second));
}

TEST(ActionDigest, ChangedBoundFieldsChangeTheDigest) {
  const std::string base = *action_digest(sample_action());
  Action changed = sample_action();
  changed.params.as_object()["workspace"] = "staging";
  EXPECT_NE(*action_digest(changed), base);
  changed = sample_action();
  changed.params.as_object()["extra"] = nullptr;
  EXPECT_NE(*action_digest(changed), base);
  changed = sample_action();
  changed.actor.subject = "agent:other";
  EXPECT_NE(*action_digest(changed), base);
  changed = sample_action();
  changed.door = "http";
  EXPECT_NE(*action_digest(changed), base);
  changed = sample_action();
  changed.target = "staging";
  EXPECT_NE(*action_digest(changed), base);
  changed = sample_action();
  changed.verb = "exec:terraform-destroy";
  EXPECT_NE(*action_digest(changed), base);
}

TEST(ActionDigest, MatchesIndependentComputation) {
  // The JCS text of the bound fields, written out by hand.
  Action action = sample_action();
  auto canonical = canonicalize_text(
      R"({"actor":"agent:ci-bot","door":"actions","params":{"auto_approve":true,"count":3,)"
      R"("workspace":"prod"},"target":"prod","verb":"exec:terraform-apply"})");
  ASSERT_TRUE(canonical);
  boost::json::object bound;
  bound["actor"] = action.actor.subject;
  bound["door"] = action.door;
  bound["target"] = action.target;
  bound["verb"] = action.verb;
  bound["params"] = action.params;
  EXPECT_EQ(*canonicalize(bound), *canonical);
}

TEST(ActionDigest, FailsOnNonFiniteParams) {
  Action action = sample_action();
  action.params.as_object()["ratio"] = std::nan("");
  EXPECT_FALSE(action_digest(action));
}

}  // namespace
}  // namespace countersign
