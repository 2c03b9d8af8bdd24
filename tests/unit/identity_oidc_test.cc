// OIDC: discovery and JWK Set handling through a stub fetcher, claim checks
// (iss, aud, exp, nbf, iat with skew), claims mapping, unknown-kid refresh
// with rate limiting, key rotation.
#include "identity/oidc.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "identity_test_keys.h"

namespace countersign::identity {
namespace {

using ::testing::HasSubstr;
using testing::make_key;
using testing::TestKey;

constexpr Millis kNow = 1'800'000'000'000;
const std::string kIssuer = "https://idp.example.com";

// A fake IdP: serves discovery and a JWK Set that tests can change.
struct FakeIdp {
  std::mutex mutex;
  std::string jwks;
  std::string discovery_issuer = kIssuer;
  int discovery_status = 200;
  std::atomic<int> jwks_fetches{0};
  std::atomic<bool> down{false};

  HttpFetcher fetcher() {
    return [this](const HttpRequest& request) -> Result<HttpResponse> {
      if (down) return fail(ErrorCode::unavailable, "connection refused");
      std::lock_guard lock(mutex);
      if (request.url == kIssuer + "/.well-known/openid-configuration") {
        boost::json::object doc{{"issuer", discovery_issuer},
                                {"jwks_uri", kIssuer + "/jwks"},
                                {"authorization_endpoint", kIssuer + "/auth"},
                                {"token_endpoint", kIssuer + "/token"},
                                {"device_authorization_endpoint", kIssuer + "/device"}};
        return HttpResponse{discovery_status, {}, boost::json::serialize(doc)};
      }
      if (request.url == kIssuer + "/jwks") {
        ++jwks_fetches;
        return HttpResponse{200, {}, jwks};
      }
      return HttpResponse{404, {}, "{}"};
    };
  }
  void set_keys(std::initializer_list<const TestKey*> keys) {
    std::lock_guard lock(mutex);
    jwks = testing::jwks_of(keys);
  }
};

OidcIssuer issuer_config() {
  OidcIssuer issuer;
  issuer.name = "corp";
  issuer.issuer = kIssuer;
  issuer.audiences = {"countersign"};
  issuer.clock_skew = 30'000;
  issuer.min_refresh_interval = 5'000;
  issuer.claims.groups_claim = "realm.groups";
  issuer.claims.kind_claim = "kind";
  issuer.claims.kind_by_client = {{"ci-pipeline", IdentityKind::service}};
  issuer.claims.on_behalf_of_claim = "launched_by";
  return issuer;
}

boost::json::object good_claims() {
  return {{"iss", kIssuer},
          {"sub", "alice"},
          {"aud", "countersign"},
          {"exp", kNow / 1000 + 300},
          {"iat", kNow / 1000 - 10},
          {"nbf", kNow / 1000 - 10},
          {"email", "alice@example.com"},
          {"email_verified", true},
          {"kind", "human"},
          {"realm", {{"groups", {"sre", "oncall"}}}}};
}

std::string token(const TestKey& key, boost::json::object claims, std::string alg = "ES256") {
  boost::json::object header{{"alg", alg}, {"kid", key.jwk.at("kid")}, {"typ", "JWT"}};
  return sign_jwt(header, claims, key.private_pem).value();
}

class OidcTest : public ::testing::Test {
 protected:
  void SetUp() override { idp.set_keys({&ec, &rsa, &ed}); }
  std::unique_ptr<OidcAuthenticator> make(OidcIssuer issuer = issuer_config()) {
    auto auth =
        std::make_unique<OidcAuthenticator>(std::vector<OidcIssuer>{issuer}, idp.fetcher(), clock);
    auto loaded = auth->load();
    EXPECT_TRUE(loaded.has_value()) << loaded.error().message;
    return auth;
  }
  Result<Identity> with(boost::json::object claims, std::string alg = "ES256") {
    auto auth = make();
    const TestKey& key = alg == "ES256" ? ec : alg == "EdDSA" ? ed : rsa;
    return auth->authenticate(token(key, std::move(claims), alg));
  }
  void expect_refused(boost::json::object claims, const std::string& why) {
    auto result = with(std::move(claims));
    ASSERT_FALSE(result.has_value()) << "accepted; expected: " << why;
    EXPECT_EQ(result.error().code, ErrorCode::unauthenticated);
    EXPECT_THAT(result.error().message, HasSubstr(why));
  }

  ManualClock clock{kNow};
  FakeIdp idp;
  TestKey ec = make_key("EC", "ec-1");
  TestKey rsa = make_key("RSA", "rsa-1");
  TestKey ed = make_key("Ed25519", "ed-1");
};

TEST_F(OidcTest, GoodTokenMapsClaims) {
  for (std::string alg : {"ES256", "RS256", "PS256", "EdDSA"}) {
    auto identity = with(good_claims(), alg);
    ASSERT_TRUE(identity.has_value()) << alg << ": " << identity.error().message;
    EXPECT_EQ(identity->subject, "alice");
    EXPECT_EQ(identity->issuer, kIssuer);
    EXPECT_EQ(identity->kind, IdentityKind::human);
    EXPECT_EQ(identity->email, "alice@example.com");
    EXPECT_EQ(identity->groups, (std::vector<std::string>{"sre", "oncall"}));
    EXPECT_FALSE(identity->on_behalf_of.has_value());
  }
}

TEST_F(OidcTest, TimeClaimsHonourTheSkew) {
  auto claims = good_claims();
  claims["exp"] = kNow / 1000 - 20;  // expired 20 s ago, inside the 30 s skew
  EXPECT_TRUE(with(claims).has_value());
  claims["exp"] = kNow / 1000 - 31;
  expect_refused(claims, "expired");
  claims = good_claims();
  claims.erase("exp");
  expect_refused(claims, "no exp");
  claims = good_claims();
  claims["exp"] = "tomorrow";
  expect_refused(claims, "not a number");
  claims = good_claims();
  claims["nbf"] = kNow / 1000 + 20;
  EXPECT_TRUE(with(claims).has_value());
  claims["nbf"] = kNow / 1000 + 60;
  expect_refused(claims, "not valid yet");
  claims = good_claims();
  claims["iat"] = kNow / 1000 + 60;
  expect_refused(claims, "issued in the future");
}

TEST_F(OidcTest, IssuerAndAudienceMustMatch) {
  auto claims = good_claims();
  claims["aud"] = "someone-else";
  expect_refused(claims, "audience");
  claims["aud"] = boost::json::array{"a", "countersign"};
  EXPECT_TRUE(with(claims).has_value());
  claims["aud"] = boost::json::array{"a", "b"};
  expect_refused(claims, "audience");
  claims.erase("aud");
  expect_refused(claims, "no aud");
  claims = good_claims();
  claims["iss"] = "https://evil.example.com";
  expect_refused(claims, "issuer 'https://evil.example.com' is not configured");
  claims["iss"] = kIssuer + "/";
  expect_refused(claims, "not configured");
  claims.erase("iss");
  expect_refused(claims, "no iss");
}

TEST_F(OidcTest, TokenFromAnUnconfiguredIssuerSignedWithAKnownKeyIsRefused) {
  auto auth = make();
  auto claims = good_claims();
  claims["iss"] = "https://other.example.com";
  auto result = auth->authenticate(token(ec, claims));
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("not configured"));
}

TEST_F(OidcTest, KindComesFromClientThenClaimThenDefault) {
  auto claims = good_claims();
  claims.erase("kind");
  EXPECT_EQ(with(claims)->kind, IdentityKind::agent);  // default
  claims["kind"] = "service";
  EXPECT_EQ(with(claims)->kind, IdentityKind::service);
  claims["kind"] = "admin";
  expect_refused(claims, "agent, human or service");
  claims["kind"] = "human";
  claims["client_id"] = "ci-pipeline";
  EXPECT_EQ(with(claims)->kind, IdentityKind::service);
  claims.erase("client_id");
  claims["azp"] = "ci-pipeline";
  EXPECT_EQ(with(claims)->kind, IdentityKind::service);
}

TEST_F(OidcTest, ActClaimMakesTheActorTheSubject) {
  auto claims = good_claims();
  claims["act"] = {{"sub", "agent:deploy-bot"}};
  auto identity = with(claims);
  ASSERT_TRUE(identity.has_value()) << identity.error().message;
  EXPECT_EQ(identity->subject, "agent:deploy-bot");
  EXPECT_EQ(identity->on_behalf_of, "alice");
  EXPECT_EQ(identity->kind, IdentityKind::agent);  // an actor is never human
  EXPECT_FALSE(identity->email.has_value());       // alice's email is not the agent's
  claims["act"] = "agent";
  expect_refused(claims, "act claim has no sub");
  claims["act"] = {{"sub", "alice"}};
  expect_refused(claims, "on behalf of itself");
}

TEST_F(OidcTest, OnBehalfOfFromAConfiguredClaim) {
  auto claims = good_claims();
  claims["sub"] = "agent:bot";
  claims["kind"] = "agent";
  claims["launched_by"] = "dana@example.com";
  auto identity = with(claims);
  ASSERT_TRUE(identity.has_value());
  EXPECT_EQ(identity->on_behalf_of, "dana@example.com");
}

TEST_F(OidcTest, EmailNeedsVerification) {
  auto claims = good_claims();
  claims["email_verified"] = false;
  EXPECT_FALSE(with(claims)->email.has_value());
  claims.erase("email_verified");
  EXPECT_FALSE(with(claims)->email.has_value());
}

TEST_F(OidcTest, SubjectPrefixAndGroupsAsString) {
  auto issuer = issuer_config();
  issuer.claims.subject_prefix = "corp:";
  issuer.claims.groups_claim = "scope";
  auto auth = make(issuer);
  auto claims = good_claims();
  claims["scope"] = "read  write";
  auto identity = auth->authenticate(token(ec, claims));
  ASSERT_TRUE(identity.has_value());
  EXPECT_EQ(identity->subject, "corp:alice");
  EXPECT_EQ(identity->groups, (std::vector<std::string>{"read", "write"}));
}

TEST_F(OidcTest, AlgorithmsCanBeRestrictedPerIssuer) {
  auto issuer = issuer_config();
  issuer.algorithms = {JwsAlgorithm::es256};
  auto auth = make(issuer);
  EXPECT_TRUE(auth->authenticate(token(ec, good_claims())).has_value());
  auto refused = auth->authenticate(token(rsa, good_claims(), "RS256"));
  ASSERT_FALSE(refused.has_value());
  EXPECT_THAT(refused.error().message, HasSubstr("not accepted"));
}

TEST_F(OidcTest, KeyConfusionAcrossTheSetIsRefused) {
  auto auth = make();
  // The header names the EC key's kid but claims RS256: the EC key cannot verify it.
  boost::json::object header{{"alg", "RS256"}, {"kid", "ec-1"}};
  auto forged = sign_jwt(header, good_claims(), rsa.private_pem).value();
  auto result = auth->authenticate(forged);
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("cannot verify RS256"));
}

TEST_F(OidcTest, UnknownKidIsRefusedAndTriggersARateLimitedRefresh) {
  auto auth = make();
  auth->start_refresher();
  const int fetches = idp.jwks_fetches;
  TestKey rotated = make_key("EC", "ec-2");
  auto result = auth->authenticate(token(rotated, good_claims()));
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("unknown key"));
  // Within min_refresh_interval (5 s) of the start-up fetch nothing is fetched.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(idp.jwks_fetches, fetches);
  // The IdP rotates; once the interval passes an unknown kid fetches once.
  idp.set_keys({&rotated, &ec});
  clock.advance(6'000);
  for (int i = 0; i < 20; ++i) (void)auth->authenticate(token(rotated, good_claims()));
  for (int i = 0; i < 200 && idp.jwks_fetches == fetches; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(idp.jwks_fetches, fetches + 1);
  EXPECT_TRUE(auth->authenticate(token(rotated, good_claims())).has_value());
  // Tokens of a key the IdP dropped stop working after the next refresh.
  EXPECT_TRUE(auth->authenticate(token(ec, good_claims())).has_value());
  EXPECT_FALSE(auth->authenticate(token(rsa, good_claims(), "RS256")).has_value());
}

TEST_F(OidcTest, VerifiedTokensAreRememberedYetEveryClaimIsCheckedAgain) {
  auto auth = make();
  const std::string good = token(ec, good_claims());
  ASSERT_TRUE(auth->authenticate(good).has_value());
  EXPECT_EQ(auth->verified_tokens(), 1u);
  ASSERT_TRUE(auth->authenticate(good).has_value());
  EXPECT_EQ(auth->verified_tokens(), 1u);

  // A remembered signature is not a remembered decision: the audience is
  // checked on every call.
  auto claims = good_claims();
  claims["aud"] = "someone-else";
  const std::string elsewhere = token(ec, claims);
  for (int i = 0; i < 2; ++i) {
    auto refused = auth->authenticate(elsewhere);
    ASSERT_FALSE(refused.has_value());
    EXPECT_THAT(refused.error().message, HasSubstr("audience"));
  }
  EXPECT_EQ(auth->verified_tokens(), 2u);

  // Another signature on the same content is another token.
  std::string tampered = good;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(auth->authenticate(tampered).has_value());

  // Expiry is checked on every call, and ends the entry.
  clock.advance(300'000 + 31'000);
  auto expired = auth->authenticate(good);
  ASSERT_FALSE(expired.has_value());
  EXPECT_THAT(expired.error().message, HasSubstr("expired"));
  clock.advance(-(300'000 + 31'000));

  // A new key set (here without the EC key) forgets what the old one verified.
  ASSERT_TRUE(auth->authenticate(good).has_value());
  idp.set_keys({&rsa, &ed});
  ASSERT_TRUE(auth->refresh(0).has_value());
  auto dropped = auth->authenticate(good);
  ASSERT_FALSE(dropped.has_value());
  EXPECT_THAT(dropped.error().message, HasSubstr("unknown key"));
}

TEST_F(OidcTest, PeriodicRefreshAndFailuresKeepOldKeys) {
  auto issuer = issuer_config();
  issuer.jwks_refresh = 60'000;
  auto auth = make(issuer);
  auth->start_refresher();
  const auto before = auth->refresh_count();
  idp.down = true;
  clock.advance(61'000);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(auth->refresh_count(), before);  // failed, no new keys
  auto claims = good_claims();
  claims["exp"] = clock.now() / 1000 + 300;
  EXPECT_TRUE(auth->authenticate(token(ec, claims)).has_value());  // old keys still work
  idp.down = false;
  clock.advance(6'000);  // past the retry interval
  for (int i = 0; i < 300 && auth->refresh_count() == before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(auth->refresh_count(), before + 1);
}

TEST_F(OidcTest, StartUpFailsClearly) {
  idp.down = true;
  OidcAuthenticator down({issuer_config()}, idp.fetcher(), clock);
  auto result = down.load();
  ASSERT_FALSE(result.has_value());
  EXPECT_THAT(result.error().message, HasSubstr("OIDC issuer 'corp'"));
  EXPECT_THAT(result.error().message, HasSubstr("discovery failed"));
  idp.down = false;
  idp.discovery_issuer = "https://impostor.example.com";
  OidcAuthenticator impostor({issuer_config()}, idp.fetcher(), clock);
  EXPECT_THAT(impostor.load().error().message, HasSubstr("names issuer 'https://impostor"));
  idp.discovery_issuer = kIssuer;
  idp.jwks = R"({"keys": []})";
  OidcAuthenticator empty({issuer_config()}, idp.fetcher(), clock);
  EXPECT_THAT(empty.load().error().message, HasSubstr("no usable signing keys"));
}

TEST_F(OidcTest, DiscoveryMetadataIsKept) {
  auto auth = make();
  auto metadata = auth->metadata(kIssuer);
  ASSERT_TRUE(metadata.has_value());
  EXPECT_EQ(metadata->token_endpoint, kIssuer + "/token");
  EXPECT_EQ(metadata->device_authorization_endpoint, kIssuer + "/device");
  EXPECT_FALSE(auth->metadata("https://nope").has_value());
}

TEST(OidcUrls, OnlyHttpsOrLoopback) {
  EXPECT_TRUE(acceptable_idp_url("https://idp.example.com"));
  EXPECT_TRUE(acceptable_idp_url("http://127.0.0.1:9000/jwks"));
  EXPECT_TRUE(acceptable_idp_url("http://localhost:9000"));
  EXPECT_TRUE(acceptable_idp_url("http://[::1]:9000/x"));
  EXPECT_FALSE(acceptable_idp_url("http://idp.example.com/jwks"));
  EXPECT_FALSE(acceptable_idp_url("http://127.0.0.1.evil.com/jwks"));
  EXPECT_FALSE(acceptable_idp_url("ftp://127.0.0.1"));
}

TEST(OidcClaims, DottedPaths) {
  boost::json::object claims{{"a", {{"b", {{"c", "deep"}}}}}, {"https://x.io/roles", "r"}};
  EXPECT_EQ(claim_at(claims, "a.b.c")->as_string(), "deep");
  EXPECT_EQ(claim_at(claims, "https://x.io/roles")->as_string(), "r");
  EXPECT_EQ(claim_at(claims, "a.x"), nullptr);
}

}  // namespace
}  // namespace countersign::identity
