// Globs for match lists and the linear-time regex behind `matches`.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "policy/glob.h"
#include "policy/regex.h"

namespace countersign::policy {
namespace {

bool glob(std::string_view pattern, std::string_view value) {
  auto parsed = Glob::parse(pattern);
  EXPECT_TRUE(parsed.has_value()) << pattern;
  return parsed && parsed->matches(value);
}

TEST(Glob, Shapes) {
  EXPECT_EQ(Glob::parse("mcp")->shape(), Glob::Shape::exact);
  EXPECT_EQ(Glob::parse("sql:*")->shape(), Glob::Shape::prefix);
  EXPECT_EQ(Glob::parse("*_delete")->shape(), Glob::Shape::suffix);
  EXPECT_EQ(Glob::parse("**")->shape(), Glob::Shape::any);
  EXPECT_EQ(Glob::parse("a*b*c")->shape(), Glob::Shape::general);
  EXPECT_EQ(Glob::parse("a?")->shape(), Glob::Shape::general);
  EXPECT_EQ(Glob::parse("tools/call:read_*")->literal_prefix(), "tools/call:read_");
  EXPECT_EQ(Glob::parse("a\\*b")->shape(), Glob::Shape::exact);
  EXPECT_EQ(Glob::parse("a\\*b")->literal_prefix(), "a*b");
}

TEST(Glob, Matching) {
  EXPECT_TRUE(glob("mcp", "mcp"));
  EXPECT_FALSE(glob("mcp", "mcp2"));
  EXPECT_TRUE(glob("sql:*", "sql:"));
  EXPECT_TRUE(glob("sql:*", "sql:DROP"));
  EXPECT_FALSE(glob("sql:*", "sq"));
  EXPECT_TRUE(glob("*_delete", "bucket_delete"));
  EXPECT_FALSE(glob("*_delete", "delete"));
  EXPECT_TRUE(glob("*", ""));
  EXPECT_TRUE(glob("a*b*c", "abc"));
  EXPECT_TRUE(glob("a*b*c", "axxbyyc"));
  EXPECT_FALSE(glob("a*b*c", "axxbyy"));
  EXPECT_TRUE(glob("a*b*c", "abcbc"));
  EXPECT_TRUE(glob("?", "x"));
  EXPECT_FALSE(glob("?", ""));
  EXPECT_FALSE(glob("?", "xy"));
  EXPECT_TRUE(glob("prod-??", "prod-eu"));
  EXPECT_FALSE(glob("prod-??", "prod-e"));
  EXPECT_TRUE(glob("http:DELETE /buckets/*", "http:DELETE /buckets/{name}"));
  EXPECT_TRUE(glob("a\\*b", "a*b"));
  EXPECT_FALSE(glob("a\\*b", "axb"));
  EXPECT_TRUE(glob("a\\?*", "a?zz"));
  EXPECT_FALSE(glob("a\\?*", "ab"));
  EXPECT_TRUE(glob("*a*", "bab"));
  EXPECT_FALSE(glob("*a*", "bbb"));
}

TEST(Glob, Malformed) {
  EXPECT_FALSE(Glob::parse("").has_value());
  EXPECT_FALSE(Glob::parse("sql:[A-Z]*").has_value());
  EXPECT_FALSE(Glob::parse("abc\\").has_value());
  EXPECT_FALSE(Glob::parse("a\tb").has_value());
  EXPECT_NE(Glob::parse("x]").error().message.find("character classes"), std::string::npos);
}

TEST(Glob, AdversarialValueStaysFast) {
  std::string value(20000, 'a');
  auto pattern = Glob::parse("*a*a*a*a*a*a*b");
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(pattern->matches(value));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

bool search(std::string_view pattern, std::string_view text) {
  auto regex = Regex::compile(pattern);
  EXPECT_TRUE(regex.has_value()) << pattern << ": " << (regex ? "" : regex.error().message);
  return regex && regex->search(text);
}

TEST(Regex, Basics) {
  EXPECT_TRUE(search("abc", "xxabcxx"));  // unanchored, as in RE2
  EXPECT_FALSE(search("^abc", "xxabc"));
  EXPECT_TRUE(search("abc$", "xxabc"));
  EXPECT_FALSE(search("abc$", "abcx"));
  EXPECT_TRUE(search("^$", ""));
  EXPECT_TRUE(search("", "anything"));
  EXPECT_TRUE(search("a.c", "abc"));
  EXPECT_FALSE(search("a.c", "a\nc"));
  EXPECT_TRUE(search("^a*$", ""));
  EXPECT_TRUE(search("^a+$", "aaa"));
  EXPECT_FALSE(search("^a+$", ""));
  EXPECT_TRUE(search("^colou?r$", "color"));
  EXPECT_TRUE(search("^colou?r$", "colour"));
  EXPECT_TRUE(search("^(ab|cd)+$", "abcdab"));
  EXPECT_FALSE(search("^(ab|cd)+$", "abc"));
  EXPECT_TRUE(search("^(?:x|y)z$", "yz"));
  EXPECT_TRUE(search("^a|b$", "ax"));
  EXPECT_TRUE(search("^a{3}$", "aaa"));
  EXPECT_FALSE(search("^a{3}$", "aa"));
  EXPECT_TRUE(search("^a{2,}$", "aaaa"));
  EXPECT_TRUE(search("^a{1,2}b$", "aab"));
  EXPECT_FALSE(search("^a{1,2}b$", "aaab"));
  EXPECT_TRUE(search("^x{,}$", "x{,}"));   // not a repetition: literal braces
  EXPECT_TRUE(search("^a*?b+?$", "aab"));  // lazy forms accepted
}

TEST(Regex, Classes) {
  EXPECT_TRUE(search("^[a-c]+$", "abcabc"));
  EXPECT_FALSE(search("^[a-c]+$", "abd"));
  EXPECT_TRUE(search("^[^0-9]+$", "abc"));
  EXPECT_FALSE(search("^[^0-9]+$", "ab1"));
  EXPECT_TRUE(search("^[]a]+$", "]a]"));
  EXPECT_TRUE(search("^[a-]+$", "a-a"));
  EXPECT_TRUE(search("^\\d{3}-\\d{4}$", "555-1234"));
  EXPECT_TRUE(search("^\\w+@\\w+\\.com$", "alice@example.com"));
  EXPECT_TRUE(search("\\s", "a b"));
  EXPECT_FALSE(search("\\S", "  "));
  EXPECT_TRUE(search("^[\\d.]+$", "10.0.0.1"));
  EXPECT_TRUE(search("^\\x41$", "A"));
  EXPECT_TRUE(search("^\\.\\*\\+$", ".*+"));
}

TEST(Regex, Malformed) {
  for (const char* bad : {"(", ")", "a)", "[abc", "*a", "a**", "\\", "a{200}", "[z-a]", "\\b",
                          "(?=x)", "[[:alpha:]]", "^*", "a{3,1}"}) {
    EXPECT_FALSE(Regex::compile(bad).has_value()) << bad;
  }
  EXPECT_NE(Regex::compile("ab(").error().message.find("offset"), std::string::npos);
  // Nested counted repetitions expand; the size limit stops the blow-up.
  EXPECT_FALSE(Regex::compile("((a{100}){100}){100}").has_value());
}

TEST(Regex, PathologicalPatternIsLinear) {
  // (a*)*b against a^n makes a backtracking matcher exponential.
  std::string text(50000, 'a');
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(search("(a*)*b", text));
  EXPECT_FALSE(search("^(a|a)*$", text + "!"));
  EXPECT_FALSE(search("(x+x+)+y", std::string(5000, 'x')));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

}  // namespace
}  // namespace countersign::policy
