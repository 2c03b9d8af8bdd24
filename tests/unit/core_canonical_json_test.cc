#include "core/canonical_json.h"

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

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

// UTF-16 code units of valid UTF-8 text: the reference order for keys.
std::u16string utf16_of(std::string_view text) {
  std::u16string out;
  for (std::size_t i = 0; i < text.size();) {
    auto lead = static_cast<unsigned char>(text[i]);
    int length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    std::uint32_t code_point = length == 1   ? lead
                               : length == 2 ? lead & 0x1F
                               : length == 3 ? lead & 0x0F
                                             : lead & 0x07;
    for (int k = 1; k < length; ++k) {
      code_point = (code_point << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    }
    i += static_cast<std::size_t>(length);
    if (code_point < 0x10000) {
      out.push_back(static_cast<char16_t>(code_point));
    } else {
      code_point -= 0x10000;
      out.push_back(static_cast<char16_t>(0xD800 + (code_point >> 10)));
      out.push_back(static_cast<char16_t>(0xDC00 + (code_point & 0x3FF)));
    }
  }
  return out;
}

std::string utf8_of(std::uint32_t code_point) {
  std::string out;
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
  return out;
}

// Characters above U+FFFF are surrogate pairs in UTF-16 (0xD800..0xDBFF
// first) and sort before U+E000..U+FFFF, although both their code points
// and their UTF-8 bytes are larger; below U+E000 byte order holds.
TEST(Canonicalize, SupplementaryKeysSortBeforeHighBmpKeys) {
  boost::json::object object;
  const std::string keys[] = {"a\xef\xbf\xbf",      // a U+FFFF
                              "a\xee\x80\x80",      // a U+E000
                              "a\xf4\x8f\xbf\xbf",  // a U+10FFFF
                              "a\xf0\x90\x80\x80",  // a U+10000
                              "a\xed\x9f\xbf",      // a U+D7FF
                              "a\xc3\xa9",          // a U+00E9
                              "ab",
                              "a"};
  for (std::size_t i = 0; i < std::size(keys); ++i) object[keys[i]] = static_cast<int>(i);
  EXPECT_EQ(*canonicalize(object),
            "{\"a\":7,\"ab\":6,\"a\xc3\xa9\":5,\"a\xed\x9f\xbf\":4,\"a\xf0\x90\x80\x80\":3,"
            "\"a\xf4\x8f\xbf\xbf\":2,\"a\xee\x80\x80\":1,\"a\xef\xbf\xbf\":0}");
  // The same rule, pair by pair.
  EXPECT_TRUE(utf16_key_less("\xf0\x90\x80\x80", "\xee\x80\x80"));
  EXPECT_FALSE(utf16_key_less("\xee\x80\x80", "\xf0\x90\x80\x80"));
  EXPECT_TRUE(utf16_key_less("\xf4\x8f\xbf\xbf", "\xef\xbf\xbf"));
  EXPECT_TRUE(utf16_key_less("\xed\x9f\xbf", "\xf0\x90\x80\x80"));
  EXPECT_TRUE(utf16_key_less("\xee\x80\x80", "\xee\x80\x81"));  // differ inside a character
  EXPECT_TRUE(utf16_key_less("\xf0\x90\x80\x80", "\xf0\x90\x80\x81"));
  EXPECT_FALSE(utf16_key_less("x", "x"));
}

TEST(Canonicalize, KeyOrderMatchesUtf16ForRandomKeys) {
  // Characters from every UTF-8 length and both sides of the surrogate range.
  const std::uint32_t pool[] = {0x20,    0x41,    0x61,     0x7F,   0x80,    0x7FF,
                                0x800,   0xD7FF,  0xE000,   0xE001, 0xFB33,  0xFFFF,
                                0x10000, 0x1F600, 0x10FFFF, 0x20AC, 0x1F601, 0xFFFE};
  std::uint32_t state = 12345;
  auto next = [&] {
    state = state * 1103515245u + 12345u;
    return state >> 8;
  };
  for (int round = 0; round < 200; ++round) {
    boost::json::object object;
    const int key_count = 1 + static_cast<int>(next() % 40);  // also above the stack size
    for (int k = 0; k < key_count; ++k) {
      std::string key;
      const int length = static_cast<int>(next() % 4);
      for (int c = 0; c < length; ++c) key += utf8_of(pool[next() % std::size(pool)]);
      object[key] = k;
    }
    auto canonical = canonicalize(object);
    ASSERT_TRUE(canonical) << canonical.error().message;
    auto parsed = parse_json(*canonical);
    ASSERT_TRUE(parsed);
    // boost::json::object keeps insertion order, i.e. the canonical order.
    std::vector<std::u16string> order;
    for (const auto& member : parsed->get_object()) order.push_back(utf16_of(member.key()));
    ASSERT_EQ(order.size(), object.size());
    for (std::size_t i = 1; i < order.size(); ++i) EXPECT_LT(order[i - 1], order[i]);
    // And the comparator alone, on every pair.
    std::vector<std::string> keys;
    for (const auto& member : object) keys.emplace_back(member.key());
    for (const std::string& left : keys) {
      for (const std::string& right : keys) {
        EXPECT_EQ(utf16_key_less(left, right), utf16_of(left) < utf16_of(right));
      }
    }
  }
}

TEST(Canonicalize, IntegersAndIntegralDoublesMatchEsFormatting) {
  const double values[] = {1.0,
                           -1.0,
                           2.0,
                           10.0,
                           1e15,
                           -1e15,
                           123456789012.0,
                           9007199254740991.0,
                           -9007199254740991.0,
                           9007199254740992.0,
                           18014398509481984.0,
                           1e20,
                           1e21,
                           0.5,
                           -2.5,
                           1700000000000.0};
  for (double value : values) {
    EXPECT_EQ(*canonicalize(boost::json::value(value)), format_es_number(value)) << value;
  }
  const std::int64_t integers[] = {0,
                                   1,
                                   -1,
                                   42,
                                   1'700'000'000'000,
                                   9007199254740991,
                                   -9007199254740993,
                                   std::numeric_limits<std::int64_t>::max(),
                                   std::numeric_limits<std::int64_t>::min()};
  for (std::int64_t integer : integers) {
    EXPECT_EQ(*canonicalize(boost::json::value(integer)),
              format_es_number(static_cast<double>(integer)))
        << integer;
  }
  EXPECT_EQ(*canonicalize(boost::json::value(std::numeric_limits<std::int64_t>::max())),
            "9223372036854776000");
}

TEST(Canonicalize, EscapesAtRunBoundaries) {
  boost::json::value value = boost::json::string(std::string("\"\xc3\xa9\n", 4));
  EXPECT_EQ(*canonicalize(value), "\"\\\"\xc3\xa9\\n\"");
  value = boost::json::string(std::string("\x01plain text\x7f\\", 13));
  EXPECT_EQ(*canonicalize(value), "\"\\u0001plain text\x7f\\\\\"");
  EXPECT_EQ(*canonicalize(boost::json::value(boost::json::string(""))), "\"\"");
}

TEST(Canonicalize, RejectsInvalidUtf8AfterPlainText) {
  EXPECT_FALSE(canonicalize(boost::json::value(boost::json::string("plain \xe2\x82"))));
  EXPECT_FALSE(canonicalize(boost::json::value(boost::json::string("x\xf4\x90\x80\x80"))));
  boost::json::object object;
  object["ok"] = 1;
  object["bad \xff"] = 2;
  EXPECT_FALSE(canonicalize(object));
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
