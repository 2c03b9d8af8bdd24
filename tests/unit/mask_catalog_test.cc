// The detector catalog (every type the masking issue lists), validators,
// strategies (redact, partial, hash), profiles with custom detectors and
// disabled types, JSON key hints and numbers, and responses (mask_body).
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "mask/detectors.h"
#include "mask/mask.h"
#include "mask/scanner.h"

namespace countersign::mask {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

struct Masked {
  std::string text;
  std::vector<Finding> findings;
};

Masked run(std::string_view text, const MaskProfile& profile = default_profile()) {
  Masked out;
  out.text = mask_text(text, profile, "", &out.findings);
  return out;
}

// One finding of `type` that covers exactly `value` inside `text`.
void expect_single(const std::string& text, const std::string& value, const std::string& type) {
  auto masked = run(text);
  ASSERT_EQ(masked.findings.size(), 1u) << text;
  const Finding& finding = masked.findings[0];
  EXPECT_EQ(finding.type, type) << text;
  EXPECT_EQ(text.substr(finding.start, finding.end - finding.start), value) << text;
  EXPECT_THAT(masked.text, Not(HasSubstr(value))) << text;
}

void expect_clean(const std::string& text) {
  auto masked = run(text);
  EXPECT_EQ(masked.text, text);
  for (const auto& finding : masked.findings)
    ADD_FAILURE() << "unexpected " << finding.type << " (" << finding.detector << ") in: " << text;
}

// ---------------------------------------------------------------------------
// Every type of the catalog, with a decoy next to it.

TEST(MaskCatalog, PersonalData) {
  expect_single("call +44 20 7946 0958 today", "+44 20 7946 0958", "phone");
  expect_single("call +14155550132 today", "+14155550132", "phone");
  expect_single("phone (415) 555-0132 x12", "(415) 555-0132 x12", "phone");
  expect_single("phone 415.555.0132.", "415.555.0132", "phone");
  expect_single("iban GB82 WEST 1234 5698 7654 32 ok", "GB82 WEST 1234 5698 7654 32", "iban");
  expect_single("iban DE89370400440532013000", "DE89370400440532013000", "iban");
  expect_single("ssn 123-45-6780", "123-45-6780", "us_ssn");
  expect_single("SSN: 123456780", "123456780", "us_ssn");
  expect_single("nino AB 12 34 56 C", "AB 12 34 56 C", "uk_nino");
  expect_single("nino AB123456C.", "AB123456C", "uk_nino");
  expect_single("from 192.168.10.1:8080", "192.168.10.1", "ipv4");
  expect_single("from 2001:db8::8a2e:370:7334 ok", "2001:db8::8a2e:370:7334", "ipv6");
  expect_single("from fe80:0:0:0:200:f8ff:fe21:67cf", "fe80:0:0:0:200:f8ff:fe21:67cf", "ipv6");
  expect_single("mac 00:1A:2b:3c:4d:5e up", "00:1A:2b:3c:4d:5e", "mac_address");
  expect_single("mac 00-1a-2b-3c-4d-5e up", "00-1a-2b-3c-4d-5e", "mac_address");
  expect_single("DOB: 1984-09-06", "1984-09-06", "date_of_birth");
  expect_single("born on March 5, 1980 in Leeds", "March 5, 1980", "date_of_birth");
  expect_single("date_of_birth = '06/09/1984'", "06/09/1984", "date_of_birth");
}

TEST(MaskCatalog, Decoys) {
  expect_clean(
      "order ORD-41111111 shipped 2026-05-01T12:30:45.123Z, id "
      "3f2a9c1b-04de-4a5b-9c1e-0b6f3a2d7e11, version 4.2.1.7 and v1.2.3, build 10.0.19041.1");
  expect_clean("invalid card 4111 1111 1111 1112, ssn 000-12-3456, 666-12-3456, 912-34-5678");
  expect_clean("iban GB83 WEST 1234 5698 7654 32 (bad check digits), nino BG 12 34 56 C");
  expect_clean("at 12:30:45 on 2026-05-01, created 1984-09-06 (no birth keyword), zip 94107-1234");
  expect_clean("commit 685cf1faba1a9e9fefd3abd5387bda92284cdfa1, price $1,234.56, 99%");
  expect_clean(
      "token: expired; password reset requested; secret_name=db-creds-prod; "
      "password=${DB_PASSWORD}; api_key=<redacted>; token_type=bearer");
  expect_clean("std::vector<int> and a::b are code; 1.3.6.1.4.1 is an OID");
  expect_clean("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----");
}

TEST(MaskCatalog, Credentials) {
  expect_single("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE9k",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLE9k", "aws_secret_access_key");
  expect_single("gl: glpat-Ab3dEf6hIj9kLm2nOp5q", "glpat-Ab3dEf6hIj9kLm2nOp5q", "gitlab_token");
  expect_single("SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
                "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack_token");
  expect_single(
      "POST https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFGHI/AbCdEfGhIjKlMnOpQrStUvWx",
      "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFGHI/AbCdEfGhIjKlMnOpQrStUvWx",
      "slack_webhook");
  expect_single("key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
                "stripe_key");
  const std::string openai = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3k";
  expect_single("OPENAI_API_KEY=" + openai, openai, "openai_key");
  const std::string anthropic =
      "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7dEf0hIj3kLm6nOp9qRs2tUv5wXy8z-AA";
  expect_single("x-api-key: " + anthropic, anthropic, "anthropic_key");
  const std::string azure =
      "GTd7FguoV8FWnFbB0JxXujr4qqaaABvvLOzAxzXMcU1"
      "vsHiQMaRiNTN9Ox98whGcTZc1UWb5fxzpF7STG7nVLe==";
  expect_single("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + azure +
                    ";EndpointSuffix=core.windows.net",
                azure, "azure_storage_key");
  expect_single("postgres://app:S3cr3t-Pw@db.internal:5432/orders", "S3cr3t-Pw", "password");
  expect_single("Server=db;Database=x;User Id=app;Password=Pa55w0rd!;", "Pa55w0rd!", "password");
  expect_single("client_secret=8f14e45fceea167a5a36dedd4bea2543 rest",
                "8f14e45fceea167a5a36dedd4bea2543", "secret");
  expect_single("Authorization: Bearer 8f14e45fceea167a5a36dedd4bea2543",
                "8f14e45fceea167a5a36dedd4bea2543", "secret");
  expect_single("password: VCIgrZrDAgq", "VCIgrZrDAgq", "secret");
}

TEST(MaskCatalog, GcpServiceAccountKeyInText) {
  const std::string pem =
      "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE "
      "KEY-----\\n";
  const std::string id = "3f2a9c1b04de4a5b9c1e0b6f3a2d7e113f2a9c1b";
  std::string text = R"(creds {"type": "service_account", "private_key_id": ")" + id +
                     R"(", "private_key": ")" + pem +
                     R"(", "client_email": "svc@p.iam.gserviceaccount.com"})";
  auto masked = run(text);
  std::vector<std::string> types;
  for (const auto& finding : masked.findings) types.push_back(finding.type);
  EXPECT_THAT(
      types, ::testing::ElementsAre("gcp_service_account_key", "gcp_service_account_key", "email"));
  EXPECT_THAT(masked.text, Not(HasSubstr(id)));
  EXPECT_THAT(masked.text, Not(HasSubstr("MIIEvQ")));
}

TEST(MaskCatalog, EveryTypeHasADetectorAndALabel) {
  std::set<std::string> types;
  for (const auto& detector : builtin_detectors()) {
    types.insert(detector.type);
    EXPECT_TRUE(pattern_error(detector.pattern, detector.caseless).empty()) << detector.name;
    EXPECT_FALSE(default_label(detector.type).empty());
  }
  for (const char* type : {"email",
                           "phone",
                           "credit_card",
                           "iban",
                           "us_ssn",
                           "uk_nino",
                           "ipv4",
                           "ipv6",
                           "mac_address",
                           "date_of_birth",
                           "aws_access_key_id",
                           "aws_secret_access_key",
                           "gcp_service_account_key",
                           "azure_storage_key",
                           "github_token",
                           "gitlab_token",
                           "slack_token",
                           "slack_webhook",
                           "stripe_key",
                           "openai_key",
                           "anthropic_key",
                           "jwt",
                           "private_key",
                           "password",
                           "secret"})
    EXPECT_TRUE(types.contains(type)) << type;
}

// ---------------------------------------------------------------------------
// Validators

TEST(MaskValidators, Checks) {
  EXPECT_TRUE(check::luhn("4111111111111111"));
  EXPECT_FALSE(check::luhn("4111111111111112"));
  EXPECT_TRUE(check::card_number("3782-822463-10005"));    // Amex 4-6-5
  EXPECT_FALSE(check::card_number("4111 1111 1111"));      // 12 digits
  EXPECT_FALSE(check::card_number("9111111111111111"));    // no such issuer
  EXPECT_FALSE(check::card_number("4111 11111111 1111"));  // odd grouping
  EXPECT_TRUE(check::iban("GB82WEST12345698765432"));
  EXPECT_FALSE(check::iban("GB82WEST1234569876543"));      // wrong length for GB
  EXPECT_FALSE(check::iban("GB82 WEST 12 345698765432"));  // bad grouping
  EXPECT_TRUE(check::us_ssn("123-45-6780"));
  for (const char* bad :
       {"000-45-6789", "666-45-6789", "900-45-6789", "123-00-6789", "123-45-0000", "123-45 6789"})
    EXPECT_FALSE(check::us_ssn(bad)) << bad;
  EXPECT_TRUE(check::uk_nino("AB123456C"));
  for (const char* bad : {"GB123456C", "DA123456C", "AO123456C", "AB123456E", "AB 123456 C"})
    EXPECT_FALSE(check::uk_nino(bad)) << bad;
  EXPECT_TRUE(check::ipv4("10.0.0.255"));
  EXPECT_FALSE(check::ipv4("10.0.0.256"));
  EXPECT_FALSE(check::ipv4("10.00.0.1"));
  EXPECT_TRUE(check::ipv6("::ffff:10.0.0.1"));
  EXPECT_FALSE(check::ipv6("12:30:45"));
  EXPECT_FALSE(check::ipv6("::"));
  EXPECT_TRUE(check::date("1984-09-06"));
  EXPECT_TRUE(check::date("6 September 1984"));
  EXPECT_FALSE(check::date("1984-13-06"));
  EXPECT_FALSE(check::date("1800-01-01"));
  EXPECT_LT(check::shannon_entropy("aaaaaaaa"), 0.01);
  EXPECT_GT(check::shannon_entropy("8f14e45fceea167a5a36dedd4bea2543"), 3.5);
}

// ---------------------------------------------------------------------------
// Strategies

TEST(MaskStrategies, RedactPartialHash) {
  MaskProfile profile = default_profile();
  profile.hash_key = std::make_shared<const std::string>("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(run("mail ann@example.com", profile).text, "mail [EMAIL]");
  EXPECT_EQ(run("card 4111 1111 1111 1111", profile).text, "card ****1111");  // partial by default

  profile.strategies["email"] = Strategy::partial;
  profile.strategies["credit_card"] = Strategy::redact;
  EXPECT_EQ(run("mail ann@example.com", profile).text, "mail a***@example.com");
  EXPECT_EQ(run("card 4111 1111 1111 1111", profile).text, "card [CARD]");

  profile.strategies["*"] = Strategy::hash;
  profile.strategies.erase("email");
  profile.strategies.erase("credit_card");
  std::string a = run("mail ann@example.com", profile).text;
  std::string b = run("mail ANN@example.com", profile).text;
  std::string c = run("mail bob@example.com", profile).text;
  EXPECT_THAT(a, ::testing::MatchesRegex(R"(mail \[EMAIL:[0-9a-f]{12}\])"));
  EXPECT_EQ(a, b);  // equal values hash equal (case-folded for e-mail)
  EXPECT_NE(a, c);
  // Cards compare by digits, not by how they are written.
  EXPECT_EQ(run("4111 1111 1111 1111", profile).text, run("4111-1111-1111-1111", profile).text);
  // Another key gives other hashes.
  MaskProfile other = profile;
  other.hash_key = std::make_shared<const std::string>("another key, another deployment!");
  EXPECT_NE(run("mail ann@example.com", other).text, a);
  EXPECT_THAT(a, Not(HasSubstr("ann")));
}

TEST(MaskStrategies, SecretKeysAndLabels) {
  MaskProfile profile = default_profile();
  profile.labels["email"] = "<email hidden>";
  profile.strategies["secret_key"] = Strategy::partial;
  auto masked = mask_json(json::parse(R"({"token": "abcdefghijklmnop1234", "short_password": "pw",
                                          "password": {"a": 1}, "to": "ann@example.com"})"),
                          profile);
  EXPECT_EQ(masked.value.at("token"), json::value("****1234"));
  EXPECT_EQ(masked.value.at("short_password"), json::value("****"));
  EXPECT_EQ(masked.value.at("password"), json::value("[REDACTED]"));
  EXPECT_EQ(masked.value.at("to"), json::value("<email hidden>"));
}

// ---------------------------------------------------------------------------
// Profiles

TEST(MaskProfiles, CustomDetectorsAndDisabledTypes) {
  MaskProfile profile = default_profile();
  profile.detectors.push_back({"employee_id", "employee_id", "EMP-[0-9]{6}", "", 0.9, false, ""});
  profile.detectors.push_back(
      {"ticket_card", "internal_card", "TC[0-9]{16}", "luhn", 0.9, false, "[TC]"});
  profile.disabled = {"ipv4"};
  ASSERT_TRUE(prepare(profile).has_value());
  auto masked =
      run("emp EMP-123456 from 10.0.0.1 tc TC4111111111111111 TC4111111111111112", profile);
  EXPECT_EQ(masked.text, "emp [EMPLOYEE_ID] from 10.0.0.1 tc [TC] TC4111111111111112");
  ASSERT_EQ(masked.findings.size(), 2u);
  EXPECT_EQ(masked.findings[0].detector, "employee_id");
  // The default profile is untouched.
  EXPECT_EQ(run("emp EMP-123456 from 10.0.0.1").text, "emp EMP-123456 from [IP]");
}

TEST(MaskProfiles, BadCustomDetectorsAreRefused) {
  MaskProfile bad_pattern = default_profile();
  bad_pattern.detectors.push_back({"broken", "", "(unclosed", "", 0.9, false, ""});
  auto result = prepare(bad_pattern);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("broken"));
  EXPECT_FALSE(pattern_error("a(?=b)").empty());  // lookahead: not supported, refused
  EXPECT_FALSE(pattern_error("(a)\\1").empty());  // backreference: refused

  MaskProfile bad_validator = default_profile();
  bad_validator.detectors.push_back({"x", "", "x[0-9]+", "no-such", 0.9, false, ""});
  EXPECT_FALSE(prepare(bad_validator).has_value());
}

TEST(MaskProfiles, HashKeyFileIsCreatedOnceAndPrivate) {
  auto path =
      std::filesystem::temp_directory_path() / ("mask-key-" + std::to_string(::getpid()) + ".key");
  std::filesystem::remove(path);
  auto first = load_or_create_hash_key(path.string());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->size(), 32u);
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  auto second = load_or_create_hash_key(path.string());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(*first, *second);
  std::filesystem::remove(path);
}

// ---------------------------------------------------------------------------
// JSON

TEST(MaskJsonHints, KeysNameDatesOfBirthAndSsnsAndNumbersAreScanned) {
  auto masked = mask_json(json::parse(R"({"dob": "1984-09-06", "customer_ssn": 123456780,
      "created": "1984-09-06", "card": 4111111111111111, "count": 4111, "ratio": 0.5,
      "list": [[{"birthDate": "March 5, 1980"}]]})"),
                          default_profile());
  EXPECT_EQ(masked.value.at("dob"), json::value("[DOB]"));
  EXPECT_EQ(masked.value.at("customer_ssn"), json::value("[SSN]"));
  EXPECT_EQ(masked.value.at("created"), json::value("1984-09-06"));
  EXPECT_EQ(masked.value.at("card"), json::value("****1111"));
  EXPECT_EQ(masked.value.at("count"), json::value(4111));
  EXPECT_EQ(masked.value.at("ratio"), json::value(0.5));
  EXPECT_EQ(masked.value.at("list").at(0).at(0).at("birthDate"), json::value("[DOB]"));
  std::vector<std::string> paths;
  for (const auto& finding : masked.findings) paths.push_back(finding.path + ":" + finding.type);
  EXPECT_THAT(paths, ::testing::UnorderedElementsAre("/dob:date_of_birth", "/customer_ssn:us_ssn",
                                                     "/card:credit_card",
                                                     "/list/0/0/birthDate:date_of_birth"));
}

TEST(MaskBody, JsonBodiesStayJsonTextStaysText) {
  auto body = mask_body(R"({"rows": [{"email": "ann@example.com", "n": 1}]})", default_profile());
  EXPECT_TRUE(body.json);
  EXPECT_EQ(body.body, R"({"rows":[{"email":"[EMAIL]","n":1}]})");
  ASSERT_EQ(body.findings.size(), 1u);
  EXPECT_EQ(body.findings[0].path, "/rows/0/email");
  auto text = mask_body("id,email\n1,ann@example.com\n", default_profile());
  EXPECT_FALSE(text.json);
  EXPECT_EQ(text.body, "id,email\n1,[EMAIL]\n");
  auto broken = mask_body("{not json ann@example.com", default_profile());
  EXPECT_FALSE(broken.json);
  EXPECT_EQ(broken.body, "{not json [EMAIL]");
}

TEST(MaskScanner, LargeInputsAndOverlaps) {
  // A megabyte of text with findings far apart keeps exact offsets.
  std::string text(1 << 20, 'x');
  for (std::size_t i = 0; i < text.size(); i += 80) text[i] = ' ';
  const std::string email = " ann@example.com ";
  text.replace(500000, email.size(), email);
  auto masked = run(text);
  ASSERT_EQ(masked.findings.size(), 1u);
  EXPECT_EQ(masked.findings[0].start, 500001u);
  // A long token is found whole (the start-of-match pass widens its window).
  std::string payload;
  for (int i = 0; i < 300; ++i) payload += "eyJ" + std::to_string(i % 10);
  const std::string jwt = "eyJhbGciOiJSUzI1NiJ9." + payload + ".c2lnbmF0dXJlLXZhbHVlLWhlcmU";
  auto long_token = run("id_token=" + jwt + " end");
  ASSERT_EQ(long_token.findings.size(), 1u);
  EXPECT_EQ(long_token.findings[0].type, "jwt");
  EXPECT_EQ(long_token.text, "id_token=[SECRET] end");
  // The more specific detector wins an overlap: a URL password is not an e-mail.
  auto url = run("redis://:hunter2@cache.example.com:6379");
  ASSERT_EQ(url.findings.size(), 1u);
  EXPECT_EQ(url.findings[0].type, "password");
  EXPECT_EQ(url.text, "redis://:[PASSWORD]@cache.example.com:6379");
}

}  // namespace
}  // namespace countersign::mask
