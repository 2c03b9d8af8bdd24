// Masking: secret-named keys, detectors for personal data and credentials,
// findings that locate but never carry a value, and structure preserved.
#include "mask/mask.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace countersign::mask {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

namespace json = boost::json;

const std::string kAwsKey = "AKIAIOSFODNN7EXAMPLE";
const std::string kGithubToken = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
const std::string kJwt =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
const std::string kPrivateKey =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n"
    "-----END RSA PRIVATE KEY-----";

struct Masked {
  std::string text;
  std::vector<Finding> findings;
};

Masked mask(std::string_view text, const std::string& path = "/v") {
  Masked out;
  out.text = mask_text(text, path, &out.findings);
  return out;
}

// The text that a finding covers in the original string.
std::string covered(std::string_view original, const Finding& finding) {
  EXPECT_LE(finding.start, finding.end);
  EXPECT_LE(finding.end, original.size());
  return std::string(original.substr(finding.start, finding.end - finding.start));
}

// ---------------------------------------------------------------------------
// Secret-named keys

TEST(MaskKeys, SecretNamedKeysAreMaskedWhateverTheValue) {
  json::value input = json::parse(R"({
    "password": "hunter2",
    "X-Api-Key": 123456789,
    "client_secret": {"nested": "value", "n": 1},
    "Authorization": "Bearer abc.def",
    "DB_PASSWORD": ["one", "two"],
    "sessionId": true,
    "private.key": "k",
    "access_token": "t",
    "Set-Cookie": "sid=1",
    "username": "dana",
    "host": "db.internal"
  })");
  auto masked = mask_json(input, default_profile());
  const auto& out = masked.value.as_object();
  for (const char* key : {"password", "X-Api-Key", "client_secret", "Authorization", "DB_PASSWORD",
                          "sessionId", "private.key", "access_token", "Set-Cookie"}) {
    ASSERT_TRUE(out.contains(key)) << key;
    EXPECT_TRUE(out.at(key).is_string()) << key;
    EXPECT_NE(out.at(key), input.as_object().at(key)) << key;
    EXPECT_EQ(out.at(key), json::value("[REDACTED]")) << key;
  }
  EXPECT_EQ(out.at("username"), json::value("dana"));
  EXPECT_EQ(out.at("host"), json::value("db.internal"));

  std::vector<std::string> paths;
  for (const auto& finding : masked.findings) {
    EXPECT_EQ(finding.type, "secret_key");
    paths.push_back(finding.path);
  }
  EXPECT_THAT(paths,
              ::testing::UnorderedElementsAre("/password", "/X-Api-Key", "/client_secret",
                                              "/Authorization", "/DB_PASSWORD", "/sessionId",
                                              "/private.key", "/access_token", "/Set-Cookie"));
  std::string serialized = json::serialize(masked.value);
  for (const char* raw : {"hunter2", "123456789", "nested", "abc.def", "sid=1"})
    EXPECT_THAT(serialized, Not(HasSubstr(raw))) << raw;
}

TEST(MaskKeys, NestedObjectsAndArrays) {
  json::value input = json::parse(R"({
    "request": {
      "headers": {"X-API-KEY": "k1", "Accept": "json"},
      "items": [{"token": "t0", "name": "a"}, {"name": "b"}, [{"Password": "p2"}]]
    }
  })");
  auto masked = mask_json(input, default_profile());
  const auto& request = masked.value.at("request");
  EXPECT_EQ(request.at("headers").at("X-API-KEY"), json::value("[REDACTED]"));
  EXPECT_EQ(request.at("headers").at("Accept"), json::value("json"));
  EXPECT_EQ(request.at("items").at(0).at("token"), json::value("[REDACTED]"));
  EXPECT_EQ(request.at("items").at(0).at("name"), json::value("a"));
  EXPECT_EQ(request.at("items").at(1).at("name"), json::value("b"));
  EXPECT_EQ(request.at("items").at(2).at(0).at("Password"), json::value("[REDACTED]"));

  std::vector<std::string> paths;
  for (const auto& finding : masked.findings) paths.push_back(finding.path);
  EXPECT_THAT(
      paths, ::testing::UnorderedElementsAre("/request/headers/X-API-KEY", "/request/items/0/token",
                                             "/request/items/2/0/Password"));
}

TEST(MaskKeys, KeyNormalisation) {
  for (const char* key : {"apiKey", "api-key", "API_KEY", "x.api.key", "X-Api-Key", "clientSecret",
                          "client_secret", "client-secret", "PASSWD", "proxy-authorization",
                          "aws_access_key_id", "credentials", "private_key"}) {
    json::object input{{key, "value-under-secret-key"}};
    auto masked = mask_json(input, default_profile());
    EXPECT_EQ(masked.value.at(key), json::value("[REDACTED]")) << key;
    ASSERT_EQ(masked.findings.size(), 1u) << key;
  }
  for (const char* key : {"author", "keyboard", "name", "description", "api", "key"}) {
    json::object input{{key, "plain"}};
    auto masked = mask_json(input, default_profile());
    EXPECT_EQ(masked.value.at(key), json::value("plain")) << key;
    EXPECT_TRUE(masked.findings.empty()) << key;
  }
}

TEST(MaskKeys, ProfileWordsDecideWhatIsSecret) {
  MaskProfile profile{"custom", {"ssn"}};
  json::value input = json::parse(R"({"customer_ssn": "123-45-6789", "password": "pw"})");
  auto masked = mask_json(input, profile);
  EXPECT_EQ(masked.value.at("customer_ssn"), json::value("[REDACTED]"));
  EXPECT_EQ(masked.value.at("password"), json::value("pw"));
}

TEST(MaskKeys, JsonPointerEscaping) {
  json::value input = json::parse(R"({"a/b~c": {"token": "x"}})");
  auto masked = mask_json(input, default_profile());
  ASSERT_EQ(masked.findings.size(), 1u);
  EXPECT_EQ(masked.findings[0].path, "/a~1b~0c/token");
}

// ---------------------------------------------------------------------------
// Detectors in text

TEST(MaskText, Email) {
  std::string text = "contact alice@example.com now";
  auto masked = mask(text);
  EXPECT_EQ(masked.text, "contact [EMAIL] now");
  ASSERT_EQ(masked.findings.size(), 1u);
  EXPECT_EQ(masked.findings[0].type, "email");
  EXPECT_EQ(masked.findings[0].path, "/v");
  EXPECT_EQ(masked.findings[0].start, 8u);
  EXPECT_EQ(masked.findings[0].end, 25u);
  EXPECT_EQ(covered(text, masked.findings[0]), "alice@example.com");
}

TEST(MaskText, EmailVariants) {
  EXPECT_EQ(mask("first.last+tag@mail.example.co.uk").text, "[EMAIL]");
  EXPECT_EQ(mask("<bob@example.org>.").text, "<[EMAIL]>.");
  EXPECT_EQ(mask("a@b.io, c@d.io").text, "[EMAIL], [EMAIL]");
  // Not addresses.
  EXPECT_EQ(mask("@channel please").text, "@channel please");
  EXPECT_EQ(mask("user@ host").text, "user@ host");
}

TEST(MaskText, LuhnValidCardNumbers) {
  for (const char* card : {"4111111111111111", "4111 1111 1111 1111", "4111-1111-1111-1111",
                           "5500 0000 0000 0004", "378282246310005", "4222222222222"}) {
    std::string text = std::string("card: ") + card + " ok";
    auto masked = mask(text);
    std::string digits;
    for (const char* c = card; *c; ++c)
      if (*c >= '0' && *c <= '9') digits.push_back(*c);
    EXPECT_EQ(masked.text, "card: ****" + digits.substr(digits.size() - 4) + " ok") << card;
    ASSERT_EQ(masked.findings.size(), 1u) << card;
    EXPECT_EQ(masked.findings[0].type, "credit_card");
    EXPECT_EQ(covered(text, masked.findings[0]), card);
  }
}

TEST(MaskText, LuhnInvalidNumberIsNotMasked) {
  auto masked = mask("card: 4111111111111112 ok");
  EXPECT_EQ(masked.text, "card: 4111111111111112 ok");
  EXPECT_TRUE(masked.findings.empty());
  // Too short, or part of a longer token.
  EXPECT_EQ(mask("order 411111111111").text, "order 411111111111");
  EXPECT_EQ(mask("id x4111111111111111").text, "id x4111111111111111");
  EXPECT_EQ(mask("41111111111111111111111").text, "41111111111111111111111");
}

TEST(MaskText, CardFollowedByOtherNumbersIsStillMasked) {
  // A card number next to its expiry date or CVV must not escape masking
  // because the digits that follow make the whole run fail Luhn.
  EXPECT_EQ(mask("4111 1111 1111 1111 05/27").text, "****1111 05/27");
  EXPECT_EQ(mask("4111111111111111 123").text, "****1111 123");
  EXPECT_EQ(mask("pay 5500-0000-0000-0004 12 28 cvv").text, "pay ****0004 12 28 cvv");
}

TEST(MaskText, AwsAccessKeyId) {
  std::string text = "aws_access_key_id=" + kAwsKey + " region=eu-west-1";
  auto masked = mask(text);
  EXPECT_EQ(masked.text, "aws_access_key_id=[SECRET] region=eu-west-1");
  ASSERT_EQ(masked.findings.size(), 1u);
  EXPECT_EQ(masked.findings[0].type, "aws_access_key_id");
  EXPECT_EQ(covered(text, masked.findings[0]), kAwsKey);
  EXPECT_EQ(mask("AKIA1234").text, "AKIA1234");  // too short to be a key id
}

TEST(MaskText, GithubToken) {
  std::string text = "export GH=" + kGithubToken;
  auto masked = mask(text);
  EXPECT_EQ(masked.text, "export GH=[SECRET]");
  ASSERT_EQ(masked.findings.size(), 1u);
  EXPECT_EQ(masked.findings[0].type, "github_token");
  EXPECT_EQ(covered(text, masked.findings[0]), kGithubToken);
}

TEST(MaskText, Jwt) {
  std::string text = "Authorization: Bearer " + kJwt;
  auto masked = mask(text);
  EXPECT_EQ(masked.text, "Authorization: Bearer [SECRET]");
  ASSERT_EQ(masked.findings.size(), 1u);
  EXPECT_EQ(masked.findings[0].type, "jwt");
  EXPECT_EQ(covered(text, masked.findings[0]), kJwt);
}

TEST(MaskText, PemPrivateKeyBlock) {
  std::string text = "key:\n" + kPrivateKey + "\nend";
  auto masked = mask(text);
  EXPECT_EQ(masked.text, "key:\n[PRIVATE KEY]\nend");
  ASSERT_EQ(masked.findings.size(), 1u);
  EXPECT_EQ(masked.findings[0].type, "private_key");
  EXPECT_EQ(covered(text, masked.findings[0]), kPrivateKey);

  // Other key types and an unterminated block (masked to the end).
  EXPECT_EQ(mask("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH "
                 "PRIVATE KEY-----")
                .text,
            "[PRIVATE KEY]");
  EXPECT_EQ(mask("x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC").text,
            "x [PRIVATE KEY]");
}

TEST(MaskText, PublicPemBlocksAreNotSecret) {
  std::string text = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----";
  EXPECT_EQ(mask(text).text, text);
}

TEST(MaskText, NonSecretTextIsUnchanged) {
  for (const char* text :
       {"", "deploy build 1234 to prod-eu at 2026-01-02 10:30; see ticket OPS-4521",
        "https://example.com/path?a=1&b=two#frag", "terraform apply -auto-approve -var env=prod",
        "phone +1 555 0100", "version 1.2.3-beta", "----- divider -----", "sk-short",
        "akia lowercase is not a key id"}) {
    auto masked = mask(text);
    EXPECT_EQ(masked.text, text);
    EXPECT_TRUE(masked.findings.empty()) << text;
  }
}

TEST(MaskText, SeveralFindingsInOneStringHaveOriginalOffsets) {
  std::string text = "mail bob@example.org key " + kAwsKey + " card 4111111111111111.";
  auto masked = mask(text, "/note");
  EXPECT_EQ(masked.text, "mail [EMAIL] key [SECRET] card ****1111.");
  ASSERT_EQ(masked.findings.size(), 3u);
  EXPECT_EQ(covered(text, masked.findings[0]), "bob@example.org");
  EXPECT_EQ(covered(text, masked.findings[1]), kAwsKey);
  EXPECT_EQ(covered(text, masked.findings[2]), "4111111111111111");
  for (const auto& finding : masked.findings) {
    EXPECT_EQ(finding.path, "/note");
    EXPECT_FALSE(finding.detector.empty());
  }
}

TEST(MaskText, NullFindingsPointerIsAllowed) {
  EXPECT_EQ(mask_text("to alice@example.com", "/x", nullptr), "to [EMAIL]");
}

// ---------------------------------------------------------------------------
// JSON values

TEST(MaskJson, StringsInsideStructuresAreScanned) {
  json::value input = json::parse(R"({
    "user": {"contact": ["call me", "mail bob@example.org"]},
    "note": "key )" + kAwsKey + R"("
  })");
  auto masked = mask_json(input, default_profile());
  EXPECT_EQ(masked.value.at("user").at("contact").at(0), json::value("call me"));
  EXPECT_EQ(masked.value.at("user").at("contact").at(1), json::value("mail [EMAIL]"));
  EXPECT_EQ(masked.value.at("note"), json::value("key [SECRET]"));
  ASSERT_EQ(masked.findings.size(), 2u);
  std::vector<std::string> paths{masked.findings[0].path, masked.findings[1].path};
  EXPECT_THAT(paths, ::testing::UnorderedElementsAre("/user/contact/1", "/note"));
  for (const auto& finding : masked.findings) {
    if (finding.path == "/user/contact/1") {
      EXPECT_EQ(finding.type, "email");
      EXPECT_EQ(finding.start, 5u);
      EXPECT_EQ(finding.end, 20u);
    }
  }
}

TEST(MaskJson, StructureAndNumbersArePreserved) {
  json::value input = json::parse(R"({
    "count": 42, "ratio": 0.25, "negative": -7, "huge": 18446744073709551615,
    "flag": true, "off": false, "nothing": null,
    "list": [1, 2.5, "three", [4, {"five": 5}], {}],
    "empty": {}, "name": "deploy", "zeta": "last", "alpha": "first"
  })");
  auto masked = mask_json(input, default_profile());
  EXPECT_TRUE(masked.findings.empty());
  EXPECT_EQ(masked.value, input);
  // Key order is kept too.
  EXPECT_EQ(json::serialize(masked.value), json::serialize(input));
  EXPECT_TRUE(masked.value.at("count").is_int64());
  EXPECT_TRUE(masked.value.at("huge").is_uint64());
  EXPECT_TRUE(masked.value.at("ratio").is_double());
}

TEST(MaskJson, ScalarRoots) {
  EXPECT_EQ(mask_json(json::value(12), default_profile()).value, json::value(12));
  EXPECT_EQ(mask_json(json::value("x alice@example.com"), default_profile()).value,
            json::value("x [EMAIL]"));
  auto masked = mask_json(json::value("alice@example.com"), default_profile());
  ASSERT_EQ(masked.findings.size(), 1u);
  EXPECT_EQ(masked.findings[0].path, "");
}

TEST(MaskJson, FindingsNeverCarryTheValue) {
  json::value input = json::parse(R"({
    "password": "pw-hunter2-value",
    "note": "mail carol@example.net token )" +
                                  kGithubToken + R"( card 4111111111111111"
  })");
  auto masked = mask_json(input, default_profile());
  ASSERT_EQ(masked.findings.size(), 4u);
  for (const auto& finding : masked.findings) {
    auto object = to_json(finding);
    EXPECT_EQ(object.size(), 5u);
    for (const char* key : {"type", "path", "start", "end", "detector"})
      EXPECT_TRUE(object.contains(key)) << key;
    std::string serialized = json::serialize(object);
    for (const char* raw : {"pw-hunter2-value", "carol", "example.net", "ghp_abcdef", "41111111"})
      EXPECT_THAT(serialized, Not(HasSubstr(raw)));
  }
  std::string serialized = json::serialize(masked.value);
  for (const char* raw : {"pw-hunter2-value", "carol@", "ghp_abcdef", "4111111111111111"})
    EXPECT_THAT(serialized, Not(HasSubstr(raw)));
}

TEST(MaskJson, FindingToJson) {
  Finding finding{"email", "/a/b", 3, 9, "email"};
  auto object = to_json(finding);
  EXPECT_EQ(object.at("type"), json::value("email"));
  EXPECT_EQ(object.at("path"), json::value("/a/b"));
  EXPECT_EQ(object.at("start").to_number<std::int64_t>(), 3);
  EXPECT_EQ(object.at("end").to_number<std::int64_t>(), 9);
  EXPECT_EQ(object.at("detector"), json::value("email"));
}

}  // namespace
}  // namespace countersign::mask
