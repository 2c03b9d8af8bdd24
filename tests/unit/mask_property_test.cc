// Randomized properties of the scanner and the JSON redactor (a seeded,
// deterministic version of the libFuzzer targets in fuzz/, which need clang
// and run by hand: see docs/masking.md). For arbitrary bytes around a
// planted secret: no crash, findings inside the input, sorted and disjoint,
// and the secret never in the output.
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "mask/mask.h"

namespace countersign::mask {
namespace {

namespace json = boost::json;

const std::vector<std::string> kPlanted = {
    "ghp_Zq3xR8vL1mN5bT7yW2cK9dF4hJ6pS0aE1uGi",
    "ann.lee@example.com",
    "4111 1111 1111 1111",
    "AKIAQWERTYUIOP234567",
    "GB82 WEST 1234 5698 7654 32",
    "sk-ant-api03-Zq3xR8vL1mN5bT7yW2cK9dF4hJ6pS0aE1uGiZq3xR8vL1mN5bT7yW2cK9dF4",
    "123-45-6780",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJlLXZhbHVlLWhlcmU",
};

std::string random_text(std::mt19937& rng, std::size_t max_length) {
  static const std::string alphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
      "     ..--__::@@//==++\"'\n\t;,()[]{}<>#?&%$!~*\\";
  std::uniform_int_distribution<std::size_t> length(0, max_length);
  std::uniform_int_distribution<int> kind(0, 19);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string out(length(rng), ' ');
  for (char& c : out) c = kind(rng) == 0 ? static_cast<char>(byte(rng)) : alphabet[pick(rng)];
  // Sometimes add pieces that start detectors.
  static const std::vector<std::string> fragments = {"password=",
                                                     "-----BEGIN PRIVATE KEY-----",
                                                     "-----END ",
                                                     "postgres://u:",
                                                     "token: ",
                                                     "DOB: ",
                                                     "+44 ",
                                                     "sk-",
                                                     "xoxb-",
                                                     "::",
                                                     "4111",
                                                     "AccountKey=",
                                                     "\"private_key\": \"",
                                                     "eyJ"};
  std::uniform_int_distribution<std::size_t> fragment(0, fragments.size() - 1);
  for (int i = kind(rng) % 4; i > 0 && !out.empty(); --i) {
    std::uniform_int_distribution<std::size_t> at(0, out.size());
    out.insert(at(rng), fragments[fragment(rng)]);
  }
  return out;
}

TEST(MaskProperty, ArbitraryTextAroundAPlantedSecret) {
  std::mt19937 rng(20261122);
  const MaskProfile profile = default_profile();
  for (int iteration = 0; iteration < 3000; ++iteration) {
    std::string prefix = random_text(rng, 300);
    std::string suffix = random_text(rng, 300);
    const std::string& secret = kPlanted[iteration % kPlanted.size()];
    std::string text = prefix + " " + secret + " " + suffix;
    std::vector<Finding> findings;
    std::string out = mask_text(text, profile, "/p", &findings);
    ASSERT_EQ(out.find(secret), std::string::npos) << "iteration " << iteration << ": " << text;
    std::size_t previous_end = 0;
    for (const auto& finding : findings) {
      ASSERT_LE(previous_end, finding.start) << text;
      ASSERT_LT(finding.start, finding.end) << text;
      ASSERT_LE(finding.end, text.size()) << text;
      EXPECT_EQ(finding.path, "/p");
      previous_end = finding.end;
    }
    // Text without the secret: still no crash and offsets in range.
    std::string noise = random_text(rng, 2000);
    findings.clear();
    mask_text(noise, profile, "", &findings);
    for (const auto& finding : findings) ASSERT_LE(finding.end, noise.size());
  }
}

json::value random_json(std::mt19937& rng, int depth, const std::string& secret, bool& planted) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 4 : 7);
  switch (kind(rng)) {
    case 0:
      return nullptr;
    case 1:
      return static_cast<std::int64_t>(rng());
    case 2:
      return std::uniform_real_distribution<double>(-1e6, 1e6)(rng);
    case 3:
    case 4: {
      if (!planted && rng() % 3 == 0) {
        planted = true;
        return json::value(random_text(rng, 40) + " " + secret + " " + random_text(rng, 40));
      }
      return json::value(random_text(rng, 60));
    }
    case 5:
    case 6: {
      json::object object;
      for (int i = static_cast<int>(rng() % 5); i > 0; --i)
        object[random_text(rng, 12)] = random_json(rng, depth + 1, secret, planted);
      return object;
    }
    default: {
      json::array array;
      for (int i = static_cast<int>(rng() % 5); i > 0; --i)
        array.push_back(random_json(rng, depth + 1, secret, planted));
      return array;
    }
  }
}

std::size_t count_nodes(const json::value& value) {
  std::size_t n = 1;
  if (value.is_object())
    for (const auto& [key, child] : value.get_object()) n += count_nodes(child);
  if (value.is_array())
    for (const auto& child : value.get_array()) n += count_nodes(child);
  return n;
}

TEST(MaskProperty, ArbitraryJsonKeepsStructureAndHidesThePlantedSecret) {
  std::mt19937 rng(7);
  const MaskProfile profile = default_profile();
  for (int iteration = 0; iteration < 2000; ++iteration) {
    const std::string& secret = kPlanted[iteration % kPlanted.size()];
    bool planted = false;
    json::value input = random_json(rng, 0, secret, planted);
    auto masked = mask_json(input, profile);
    std::string out = json::serialize(masked.value);
    ASSERT_EQ(out.find(secret), std::string::npos) << json::serialize(input);
    // Objects keep their keys and arrays their lengths, except under secret keys (one value).
    if (masked.findings.empty()) {
      EXPECT_EQ(masked.value, input);
    }
    EXPECT_LE(count_nodes(masked.value), count_nodes(input));
    for (const auto& finding : masked.findings) {
      boost::system::error_code error;
      EXPECT_NE(input.find_pointer(finding.path, error), nullptr) << finding.path;
    }
  }
}

}  // namespace
}  // namespace countersign::mask
