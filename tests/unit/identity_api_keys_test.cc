// API keys: authentication against SHA-256 hashes only, and parsing of the
// Authorization header.
#include "identity/api_keys.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/hash.h"

namespace countersign::identity {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

ApiKey key(std::string name, std::string_view secret, std::string subject, IdentityKind kind,
           std::vector<std::string> groups = {}) {
  ApiKey out;
  out.name = std::move(name);
  out.key_sha256 = sha256_hex(secret);
  out.identity.subject = std::move(subject);
  out.identity.issuer = "api-key";
  out.identity.kind = kind;
  out.identity.groups = std::move(groups);
  return out;
}

ApiKeyDirectory directory() {
  return ApiKeyDirectory(
      {key("agent", "agent-secret-key", "agent:bot", IdentityKind::agent, {"agents"}),
       key("alice", "alice-secret-key", "alice@example.com", IdentityKind::human, {"sre"}),
       key("bob", "bob-secret-key", "bob@example.com", IdentityKind::human)});
}

TEST(ApiKeys, RightKeyGivesItsIdentity) {
  auto keys = directory();
  EXPECT_EQ(keys.size(), 3u);
  auto agent = keys.authenticate("agent-secret-key");
  ASSERT_TRUE(agent.has_value()) << agent.error().message;
  EXPECT_EQ(agent->subject, "agent:bot");
  EXPECT_EQ(agent->kind, IdentityKind::agent);
  EXPECT_EQ(agent->groups, std::vector<std::string>{"agents"});
  EXPECT_EQ(agent->issuer, "api-key");

  // Not just the first entry: each key maps to its own identity.
  auto alice = keys.authenticate("alice-secret-key");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->subject, "alice@example.com");
  auto bob = keys.authenticate("bob-secret-key");
  ASSERT_TRUE(bob.has_value());
  EXPECT_EQ(bob->subject, "bob@example.com");
}

TEST(ApiKeys, WrongKeyIsUnauthenticatedAndNotEchoed) {
  auto keys = directory();
  for (const char* wrong : {"agent-secret-kex", "agent-secret-key ", "AGENT-SECRET-KEY",
                            "alice-secret", "wrong-presented-key"}) {
    auto identity = keys.authenticate(wrong);
    ASSERT_FALSE(identity.has_value()) << wrong;
    EXPECT_EQ(identity.error().code, ErrorCode::unauthenticated);
    EXPECT_THAT(identity.error().message, Not(HasSubstr(wrong)));
  }
}

TEST(ApiKeys, EmptyKeyIsUnauthenticated) {
  auto identity = directory().authenticate("");
  ASSERT_FALSE(identity.has_value());
  EXPECT_EQ(identity.error().code, ErrorCode::unauthenticated);
}

TEST(ApiKeys, EmptyDirectoryAcceptsNothing) {
  ApiKeyDirectory empty;
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_FALSE(empty.authenticate("anything").has_value());
  EXPECT_FALSE(empty.authenticate("").has_value());
}

TEST(ApiKeys, OnlyHashesAreCompared) {
  // A directory holding a key's plaintext where the hash belongs must not
  // accept the plaintext, nor the hash presented as a key.
  ApiKey plaintext = key("p", "ignored", "agent:p", IdentityKind::agent);
  plaintext.key_sha256 = "plaintext-key";
  ApiKeyDirectory keys({plaintext, key("h", "hashed-key", "agent:h", IdentityKind::agent)});
  EXPECT_FALSE(keys.authenticate("plaintext-key").has_value());
  EXPECT_FALSE(keys.authenticate(sha256_hex("hashed-key")).has_value());
  auto hashed = keys.authenticate("hashed-key");
  ASSERT_TRUE(hashed.has_value());
  EXPECT_EQ(hashed->subject, "agent:h");
}

TEST(ApiKeys, KeysAreBinaryExact) {
  std::string with_nul("key\0tail", 8);
  ApiKeyDirectory keys({key("n", with_nul, "agent:n", IdentityKind::agent)});
  EXPECT_TRUE(keys.authenticate(with_nul).has_value());
  EXPECT_FALSE(keys.authenticate("key").has_value());
}

TEST(ApiKeys, FindSubject) {
  auto keys = directory();
  auto alice = keys.find_subject("alice@example.com");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->kind, IdentityKind::human);
  EXPECT_EQ(alice->groups, std::vector<std::string>{"sre"});
  EXPECT_FALSE(keys.find_subject("carol@example.com").has_value());
  EXPECT_FALSE(keys.find_subject("").has_value());
}

// ---------------------------------------------------------------------------
// Authorization header

TEST(BearerToken, Plain) {
  auto token = bearer_token("Bearer abc123");
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(*token, "abc123");
}

TEST(BearerToken, SchemeIsCaseInsensitive) {
  for (const char* header : {"bearer abc123", "BEARER abc123", "bEaReR abc123"}) {
    auto token = bearer_token(header);
    ASSERT_TRUE(token.has_value()) << header;
    EXPECT_EQ(*token, "abc123") << header;
  }
}

TEST(BearerToken, ExtraSpacesAreIgnored) {
  auto token = bearer_token("Bearer    abc123   ");
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(*token, "abc123");
}

TEST(BearerToken, TokenCaseIsKept) {
  auto token = bearer_token("bearer AbC.dEf-_~+/=");
  ASSERT_TRUE(token.has_value());
  EXPECT_EQ(*token, "AbC.dEf-_~+/=");
}

TEST(BearerToken, OtherSchemesAreRejected) {
  EXPECT_FALSE(bearer_token("Basic x").has_value());
  EXPECT_FALSE(bearer_token("Basic dXNlcjpwYXNz").has_value());
  EXPECT_FALSE(bearer_token("Token abc123").has_value());
  EXPECT_FALSE(bearer_token("Bearerabc123").has_value());
  EXPECT_FALSE(bearer_token("abc123").has_value());
}

TEST(BearerToken, EmptyOrMissingToken) {
  EXPECT_FALSE(bearer_token("").has_value());
  EXPECT_FALSE(bearer_token("Bearer").has_value());
  EXPECT_FALSE(bearer_token("Bearer ").has_value());
  EXPECT_FALSE(bearer_token("Bearer     ").has_value());
}

TEST(BearerToken, WorksWithAuthenticate) {
  auto keys = directory();
  auto token = bearer_token("bearer   alice-secret-key ");
  ASSERT_TRUE(token.has_value());
  auto identity = keys.authenticate(*token);
  ASSERT_TRUE(identity.has_value());
  EXPECT_EQ(identity->subject, "alice@example.com");
}

}  // namespace
}  // namespace countersign::identity
