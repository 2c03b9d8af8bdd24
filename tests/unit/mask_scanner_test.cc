// The scanner's fast path (pass 1: Vectorscan prefilter plus the digit-run
// check, pass 2: start-of-match rescans of windows) must find exactly what
// one start-of-match pass over the whole text finds: on the labeled corpus,
// on the numeric shapes the digit-run check stands in for, and on random
// text around them. Also: numbers right after other numbers.
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "mask/scanner.h"

namespace countersign::mask {
namespace {

std::string describe(const std::vector<Hit>& hits, const Scanner& scanner) {
  std::string out;
  for (const Hit& hit : hits)
    out += scanner.detectors()[hit.detector].name + "[" + std::to_string(hit.start) + "," +
           std::to_string(hit.end) + ") ";
  return out;
}

void expect_same_as_exhaustive(const Scanner& scanner, const std::string& text) {
  std::vector<Hit> fast = scanner.scan(text);
  std::vector<Hit> reference = scanner.scan_exhaustive(text);
  ASSERT_EQ(describe(fast, scanner), describe(reference, scanner)) << text;
}

TEST(MaskScanner, GateMissesNothingOnTheCorpus) {
  auto scanner = Scanner::builtin();
  std::ifstream in(std::string(COUNTERSIGN_SOURCE_DIR) + "/tests/corpus/mask_corpus.jsonl");
  std::string line;
  std::size_t documents = 0;
  std::size_t hits = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::string text(boost::json::parse(line).at("text").as_string());
    expect_same_as_exhaustive(*scanner, text);
    hits += scanner->scan(text).size();
    ++documents;
  }
  EXPECT_GT(documents, 1000u);
  EXPECT_GT(hits, 5000u);
}

// Each shape a Gate::digit_run detector matches, found by the fast path.
TEST(MaskScanner, GateFlagsEveryNumericShape) {
  auto scanner = Scanner::builtin();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"4111 1111 1111 1111", "credit_card_luhn"},
      {"4111-1111-1111-1111", "credit_card_luhn"},
      {"378282246310005", "credit_card_luhn"},
      {"123-45-6780", "us_ssn"},
      {"123 45 6780", "us_ssn"},
      {"(415) 555-0132", "phone_nanp"},
      {"(415)555-0132", "phone_nanp"},
      {"1 (415) 555-0132 ext. 12", "phone_nanp"},
      {"415.555.0132", "phone_nanp"},
      {"10.0.0.1", "ipv4"},
      {"192.168.100.200", "ipv4"},
      {"AB 12 34 56 C", "uk_nino"},
      {"AB123456C", "uk_nino"},
      {"GB82 WEST 1234 5698 7654 32", "iban"},
      {"GB82WEST12345698765432", "iban"},
      {"DE89370400440532013000", "iban"},
  };
  for (const auto& [value, detector] : cases) {
    for (const std::string& text : {value, "x " + value + " y", "see: " + value + ".\n"}) {
      std::vector<Hit> hits = scanner->scan(text);
      ASSERT_EQ(hits.size(), 1u) << text;
      EXPECT_EQ(scanner->detectors()[hits[0].detector].name, detector) << text;
      expect_same_as_exhaustive(*scanner, text);
    }
  }
}

// Each shape a Gate::hex_run detector matches, found by the fast path; and
// the hex shapes that are not addresses.
TEST(MaskScanner, GateFlagsEveryHexShape) {
  auto scanner = Scanner::builtin();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"00:1a:2b:3c:4d:5e", "mac_address"},     {"00-1A-2B-3C-4D-5E", "mac_address_dashed"},
      {"001a.2b3c.4d5e", "mac_address_dotted"}, {"2001:0db8:85a3:0000:0000:8a2e:0370:7334", "ipv6"},
      {"2001:db8:0:0:0:ff00:42:8329", "ipv6"},
  };
  for (const auto& [value, detector] : cases) {
    for (const std::string& text : {value, "x " + value + " y", "at=" + value + ".\n"}) {
      std::vector<Hit> hits = scanner->scan(text);
      ASSERT_EQ(hits.size(), 1u) << text;
      EXPECT_EQ(scanner->detectors()[hits[0].detector].name, detector) << text;
      expect_same_as_exhaustive(*scanner, text);
    }
  }
  for (const char* text : {"3f2a9c1b-04de-4a5b-9c1e-0b6f3a2d7e11", "12:30:45.123", "v1.22.333.4444",
                           "a::b", "fe80::1ff:fe23:4567:890a", "::ffff:192.0.2.128"})
    expect_same_as_exhaustive(*scanner, text);
}

// Hex-heavy text around the hex-group shapes agrees with the reference.
TEST(MaskScanner, RandomHexTextAgreesWithTheReference) {
  auto scanner = Scanner::builtin();
  std::mt19937 rng(11);
  const std::string alphabet = "0123456789abcdefABCDEF0123456789abcdef:::---...  xg\n";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, 300);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string text(length(rng), ' ');
    for (char& c : text) c = alphabet[pick(rng)];
    expect_same_as_exhaustive(*scanner, text);
  }
}

// Digit-heavy text that is not a finding passes the check without windows
// that find anything, and agrees with the reference.
TEST(MaskScanner, RandomDigitTextAgreesWithTheReference) {
  auto scanner = Scanner::builtin();
  std::mt19937 rng(5);
  const std::string alphabet = "0123456789012345678901234567890123456789 .-()+:/ABCGHWxe\n";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> length(0, 400);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string text(length(rng), ' ');
    for (char& c : text) c = alphabet[pick(rng)];
    expect_same_as_exhaustive(*scanner, text);
  }
}

// The leftmost match of a number detector may take in a number before the
// value; the later starts after a space are tried too.
TEST(MaskScanner, NumberAfterAnotherNumberIsFound) {
  auto scanner = Scanner::builtin();
  const std::string text = "ref 12 4111 1111 1111 1111 ok";
  std::vector<Hit> hits = scanner->scan(text);
  ASSERT_EQ(hits.size(), 1u) << describe(hits, *scanner);
  EXPECT_EQ(scanner->detectors()[hits[0].detector].name, "credit_card_luhn");
  EXPECT_EQ(text.substr(hits[0].start, hits[0].end - hits[0].start), "4111 1111 1111 1111");
  // Glued to a dotted word it stays another token.
  EXPECT_TRUE(scanner->scan("example.4111 1111 1111 1111").empty());
}

TEST(MaskScanner, CleanLogTextMakesNoDigitRunWindows) {
  // Timestamps, UUIDs, versions and counts: no finding either way.
  auto scanner = Scanner::builtin();
  std::string text =
      "2026-05-01T12:30:45.123Z INFO [deploy] rollout of web 1.4.2 to eu-west finished in 842ms; "
      "request 3f2a9c1b-04de-4a5b-9c1e-0b6f3a2d7e11 ok, 128 targets, 99% cached\n";
  EXPECT_TRUE(scanner->scan(text).empty());
  expect_same_as_exhaustive(*scanner, text);
}

// The 64-byte-block digit-run and hex-group checks flag exactly the windows
// of the byte-at-a-time reference: on random text long enough to cross
// many block boundaries, with shapes planted at every offset of a block.
TEST(MaskScanner, BlockGatesAgreeWithTheBytewiseReference) {
  std::mt19937 rng(23);
  const std::vector<std::string> alphabets = {
      "0123456789012345678901234567890123456789 .-()+:/ABCGHWxe\n",
      "0123456789abcdefABCDEF0123456789abcdef:::---...  xg\n", "0123456789 .-:)ABabcdef",
      "00000000000000000000.......----:::: AB)x"};
  const std::vector<std::string> shapes = {"4111 1111 1111 1111", "123-45-6780",
                                           "(415) 555-0132",      "10.0.0.1",
                                           "AB 12 34 56 C",       "GB82WEST1234569876",
                                           "00:1a:2b:3c:4d:5e",   "00-1A-2B-3C-4D-5E",
                                           "001a.2b3c.4d5e",      "2001:db8:0:0:0:ff00:42:8329",
                                           "2026-05-01",          "1.2.3"};
  std::uniform_int_distribution<std::size_t> length(0, 1500);
  std::size_t flagged = 0;
  for (int iteration = 0; iteration < 4000; ++iteration) {
    const std::string& alphabet = alphabets[iteration % alphabets.size()];
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::string text(length(rng), ' ');
    for (char& c : text) c = alphabet[pick(rng)];
    if (iteration % 2 == 0 && !text.empty()) {
      const std::string& shape = shapes[(iteration / 2) % shapes.size()];
      std::size_t at = std::uniform_int_distribution<std::size_t>(0, text.size() - 1)(rng);
      text.replace(at, std::min(shape.size(), text.size() - at), shape);
    }
    for (bool hex : {false, true}) {
      auto blockwise = gate_windows(text, hex, false);
      ASSERT_EQ(blockwise, gate_windows(text, hex, true)) << (hex ? "hex: " : "digit: ") << text;
      flagged += blockwise.size();
    }
  }
  // Every shape at every offset of a block, around a block boundary.
  for (const std::string& shape : shapes)
    for (std::size_t at = 0; at < 140; ++at) {
      std::string text(200, 'x');
      text.replace(at, shape.size(), shape);
      for (bool hex : {false, true})
        ASSERT_EQ(gate_windows(text, hex, false), gate_windows(text, hex, true)) << text;
    }
  EXPECT_GT(flagged, 1000u);
}

// Runs of digit groups of every length with every separator, between the
// characters that decide a number's boundaries (letters, 'x' and 'e' of a
// phone extension, dots, dashes, a closing parenthesis), agree with the
// reference: the digit-run check skips runs by their groups and by what
// follows them.
TEST(MaskScanner, RandomDigitGroupsAgreeWithTheReference) {
  auto scanner = Scanner::builtin();
  std::mt19937 rng(41);
  const std::string separators = "  --..";
  const std::string around = " .-)(xeafXZ1AB:/_\n";
  const std::vector<std::string> valid = {"4111 1111 1111 1111", "4111-1111-1111-1111",
                                          "378282246310005",     "123-45-6780",
                                          "123 45 6780",         "415-555-0132",
                                          "1-415-555-0132",      "(415) 555-0132",
                                          "415.555.0132",        "10.0.0.1"};
  std::uniform_int_distribution<int> groups(1, 6), digits(1, 6), coin(0, 3);
  std::uniform_int_distribution<std::size_t> separator(0, separators.size() - 1),
      neighbour(0, around.size() - 1);
  std::uniform_int_distribution<int> digit('0', '9');
  std::size_t hits = 0;
  for (int iteration = 0; iteration < 12000; ++iteration) {
    std::string text;
    for (int n = coin(rng); n > 0; --n) text += around[neighbour(rng)];
    if (iteration % 3 == 0) {  // a value that validates
      text += valid[static_cast<std::size_t>(iteration / 3) % valid.size()];
    } else {
      const int count = groups(rng);
      for (int g = 0; g < count; ++g) {
        if (g > 0) text += separators[separator(rng)];
        for (int d = digits(rng); d > 0; --d) text += static_cast<char>(digit(rng));
      }
    }
    for (int n = coin(rng); n > 0; --n) text += around[neighbour(rng)];
    if (coin(rng) == 0) text += "x12";
    expect_same_as_exhaustive(*scanner, text);
    hits += scanner->scan(text).size();
  }
  EXPECT_GT(hits, 1000u);
}

// Lines of keyword, token and e-mail fragments, some of them long: the
// rescan windows of single-line detectors start at the line of their end,
// and must give the reference's findings, across lines and past 512 bytes.
TEST(MaskScanner, RandomKeywordLinesAgreeWithTheReference) {
  auto scanner = Scanner::builtin();
  std::mt19937 rng(59);
  const std::vector<std::string> pieces = {"password=",
                                           "token: ",
                                           "api_key=\"",
                                           "secret ",
                                           "Authorization: Bearer ",
                                           "sk-",
                                           "sk-ant-",
                                           "eyJhbGciOiJIUzI1NiJ9",
                                           ".",
                                           "ghp_",
                                           "xoxb-",
                                           "@",
                                           "ann.lee",
                                           "example.com",
                                           "\n",
                                           "\n",
                                           " ",
                                           "=",
                                           ":",
                                           "AbC123xYz789QwE456",
                                           "q8Zr2Lm9Tx4Vb7",
                                           "-",
                                           "_",
                                           "user:pa55@host",
                                           "https://"};
  std::uniform_int_distribution<std::size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> count(1, 60), longer(0, 9);
  std::size_t hits = 0;
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string text;
    for (int n = count(rng) * (longer(rng) == 0 ? 8 : 1); n > 0; --n) text += pieces[pick(rng)];
    expect_same_as_exhaustive(*scanner, text);
    hits += scanner->scan(text).size();
  }
  EXPECT_GT(hits, 1000u);
}

}  // namespace
}  // namespace countersign::mask
