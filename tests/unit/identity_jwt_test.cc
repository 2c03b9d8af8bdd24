// JWT/JWS verification with keys generated in the test: every accepted
// algorithm, and every refusal (alg none, HMAC, unknown alg, crit, wrong key
// types, tampering, weak keys).
#include "identity/jwt.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include "identity_test_keys.h"

namespace countersign::identity {
namespace {

using ::testing::HasSubstr;
using testing::make_key;

boost::json::object claims() { return {{"iss", "https://idp.example"}, {"sub", "alice"}}; }

std::string sign(const testing::TestKey& key, const std::string& alg,
                 boost::json::object header = {}) {
  header["alg"] = alg;
  if (!header.contains("kid")) header["kid"] = key.jwk.at("kid");
  auto token = sign_jwt(header, claims(), key.private_pem);
  EXPECT_TRUE(token.has_value());
  return token.value_or("");
}

Jwk jwk_of(const testing::TestKey& key) {
  auto jwk = parse_jwk(key.jwk);
  EXPECT_TRUE(jwk.has_value()) << jwk.error().message;
  return jwk.value_or(Jwk{});
}

Result<void> check(const std::string& token, const Jwk& key) {
  auto decoded = decode_jwt(token);
  if (!decoded) return std::unexpected(decoded.error());
  return verify_signature(*decoded, key);
}

TEST(Base64Url, RoundTripsAndIsStrict) {
  for (std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x00\x01"}) {
    auto encoded = base64url_encode(text);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    EXPECT_EQ(base64url_decode(encoded), text);
  }
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("Zm9v=").has_value());  // padding
  EXPECT_FALSE(base64url_decode("Zm+v").has_value());   // standard alphabet
  EXPECT_FALSE(base64url_decode("Zm9 v").has_value());
  EXPECT_FALSE(base64url_decode("Z").has_value());
  EXPECT_FALSE(base64url_decode("Zh").has_value());  // non-zero unused bits
}

TEST(Jwt, EveryAcceptedAlgorithmVerifies) {
  auto rsa = make_key("RSA", "r1");
  auto ec = make_key("EC", "e1");
  auto ed = make_key("Ed25519", "d1");
  EXPECT_TRUE(check(sign(rsa, "RS256"), jwk_of(rsa)).has_value());
  EXPECT_TRUE(check(sign(rsa, "PS256"), jwk_of(rsa)).has_value());
  EXPECT_TRUE(check(sign(ec, "ES256"), jwk_of(ec)).has_value());
  EXPECT_TRUE(check(sign(ed, "EdDSA"), jwk_of(ed)).has_value());
  EXPECT_TRUE(check(sign(ed, "Ed25519"), jwk_of(ed)).has_value());
  auto decoded = decode_jwt(sign(ec, "ES256"));
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->kid, "e1");
  EXPECT_EQ(decoded->algorithm, JwsAlgorithm::es256);
  EXPECT_EQ(decoded->claims.at("sub"), "alice");
}

TEST(Jwt, AnotherKeyOfTheSameTypeFails) {
  auto rsa = make_key("RSA", "r1");
  auto other = make_key("RSA", "r1");
  auto result = check(sign(rsa, "RS256"), jwk_of(other));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, ErrorCode::unauthenticated);
  EXPECT_THAT(result.error().message, HasSubstr("invalid token signature"));
  auto ec = make_key("EC", "e"), ec2 = make_key("EC", "e");
  EXPECT_FALSE(check(sign(ec, "ES256"), jwk_of(ec2)).has_value());
  auto ed = make_key("Ed25519", "d"), ed2 = make_key("Ed25519", "d");
  EXPECT_FALSE(check(sign(ed, "EdDSA"), jwk_of(ed2)).has_value());
}

TEST(Jwt, TamperedTokensFail) {
  auto ec = make_key("EC", "e1");
  std::string token = sign(ec, "ES256");
  auto dot = token.find('.');
  auto second = token.find('.', dot + 1);
  // Swap the payload for another one.
  std::string forged = token.substr(0, dot + 1) +
                       base64url_encode(R"({"iss":"https://idp.example","sub":"root"})") +
                       token.substr(second);
  EXPECT_FALSE(check(forged, jwk_of(ec)).has_value());
  // Flip a signature bit.
  std::string flipped = token;
  flipped[flipped.size() - 5] = flipped[flipped.size() - 5] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(check(flipped, jwk_of(ec)).has_value());
  // RS256 signature verified as PS256 fails (different padding).
  auto rsa = make_key("RSA", "r");
  std::string rs = sign(rsa, "RS256");
  std::string as_ps = base64url_encode(R"({"alg":"PS256","kid":"r"})") + rs.substr(rs.find('.'));
  EXPECT_FALSE(check(as_ps, jwk_of(rsa)).has_value());
}

TEST(Jwt, AlgNoneIsRefused) {
  for (std::string alg : {"none", "None", "NONE"}) {
    std::string token = base64url_encode(R"({"alg":")" + alg + R"("})") + "." +
                        base64url_encode(R"({"sub":"root"})") + ".";
    auto decoded = decode_jwt(token);
    ASSERT_FALSE(decoded.has_value());
    EXPECT_THAT(decoded.error().message, HasSubstr("alg none"));
  }
}

TEST(Jwt, HmacWithThePublicKeyAsSecretIsRefused) {
  auto rsa = make_key("RSA", "r1");
  // The classic confusion attack: HS256 keyed with the public key bytes.
  std::string secret = boost::json::serialize(rsa.jwk);
  for (std::string alg : {"HS256", "HS384", "HS512", "hs256"}) {
    std::string input = base64url_encode(R"({"alg":")" + alg + R"(","kid":"r1"})") + "." +
                        base64url_encode(R"({"sub":"root"})");
    unsigned char mac[64];
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &length);
    std::string token =
        input + "." + base64url_encode(std::string(reinterpret_cast<char*>(mac), length));
    auto decoded = decode_jwt(token);
    ASSERT_FALSE(decoded.has_value()) << alg;
    EXPECT_THAT(decoded.error().message, HasSubstr("HMAC"));
  }
}

TEST(Jwt, UnknownAlgorithmsAreRefused) {
  for (std::string alg : {"RS512", "ES384", "ES256K", "PS512", "A128KW", "", "rs256"}) {
    std::string token = base64url_encode(R"({"alg":")" + alg + R"("})") + "." +
                        base64url_encode("{}") + "." + base64url_encode("sig");
    auto decoded = decode_jwt(token);
    ASSERT_FALSE(decoded.has_value()) << alg;
    EXPECT_THAT(decoded.error().message, HasSubstr("unsupported signature algorithm")) << alg;
  }
  std::string no_alg =
      base64url_encode(R"({"typ":"JWT"})") + "." + base64url_encode("{}") + ".c2ln";
  EXPECT_THAT(decode_jwt(no_alg).error().message, HasSubstr("no alg"));
  std::string numeric = base64url_encode(R"({"alg":256})") + "." + base64url_encode("{}") + ".c2ln";
  EXPECT_FALSE(decode_jwt(numeric).has_value());
}

TEST(Jwt, CriticalHeadersAreRefused) {
  auto ec = make_key("EC", "e1");
  std::string token = sign(ec, "ES256", {{"crit", boost::json::array{"exp"}}, {"exp", 1}});
  auto decoded = decode_jwt(token);
  ASSERT_FALSE(decoded.has_value());
  EXPECT_THAT(decoded.error().message, HasSubstr("crit"));
  std::string b64 = sign(ec, "ES256", {{"crit", boost::json::array{"b64"}}, {"b64", false}});
  EXPECT_FALSE(decode_jwt(b64).has_value());
}

TEST(Jwt, KeysOfTheWrongTypeAreRefused) {
  auto rsa = make_key("RSA", "k");
  auto ec = make_key("EC", "k");
  auto ed = make_key("Ed25519", "k");
  // An EC key cannot verify an RS256 token even if someone claims it does.
  auto mismatch = check(sign(rsa, "RS256"), jwk_of(ec));
  ASSERT_FALSE(mismatch.has_value());
  EXPECT_THAT(mismatch.error().message, HasSubstr("cannot verify RS256"));
  EXPECT_FALSE(check(sign(ec, "ES256"), jwk_of(rsa)).has_value());
  EXPECT_FALSE(check(sign(ed, "EdDSA"), jwk_of(ec)).has_value());
  EXPECT_FALSE(check(sign(ec, "ES256"), jwk_of(ed)).has_value());
  // A key whose own alg is RS256 does not verify PS256, even for the right key.
  auto pinned = rsa;
  pinned.jwk["alg"] = "RS256";
  EXPECT_TRUE(check(sign(rsa, "RS256"), jwk_of(pinned)).has_value());
  EXPECT_THAT(check(sign(rsa, "PS256"), jwk_of(pinned)).error().message,
              HasSubstr("cannot verify"));
  // An encryption key never verifies.
  auto enc = ec;
  enc.jwk["use"] = "enc";
  EXPECT_FALSE(check(sign(ec, "ES256"), jwk_of(enc)).has_value());
}

TEST(Jwk, WeakOrBrokenKeysAreRefused) {
  auto small = make_key("RSA", "small", 1024);
  auto parsed = parse_jwk(small.jwk);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_THAT(parsed.error().message, HasSubstr("2048"));
  auto ec = make_key("EC", "e");
  auto off_curve = ec.jwk;
  off_curve["y"] = base64url_encode(std::string(32, '\x01'));
  EXPECT_FALSE(parse_jwk(off_curve).has_value());
  auto p384 = ec.jwk;
  p384["crv"] = "P-384";
  EXPECT_FALSE(parse_jwk(p384).has_value());
  EXPECT_FALSE(parse_jwk({{"kty", "oct"}, {"k", "c2VjcmV0"}}).has_value());
  EXPECT_FALSE(parse_jwk({{"kty", "RSA"}, {"e", "AQAB"}}).has_value());
}

TEST(Jwk, SetSkipsUnusableKeys) {
  auto rsa = make_key("RSA", "r");
  auto ec = make_key("EC", "e");
  boost::json::array keys{
      rsa.jwk, ec.jwk, boost::json::object{{"kty", "oct"}, {"k", "c2VjcmV0"}},
      boost::json::object{{"kty", "EC"}, {"crv", "P-384"}, {"x", "AA"}, {"y", "AA"}},
      "not an object"};
  auto set = parse_jwks(boost::json::serialize(boost::json::object{{"keys", keys}}));
  ASSERT_TRUE(set.has_value());
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ((*set)[0].kid, "r");
  EXPECT_EQ((*set)[1].kid, "e");
  EXPECT_FALSE(parse_jwks("[]").has_value());
  EXPECT_FALSE(parse_jwks("{\"keys\": 1}").has_value());
  EXPECT_FALSE(parse_jwks("not json").has_value());
}

TEST(Jwt, MalformedTokensAreRefused) {
  EXPECT_FALSE(decode_jwt("").has_value());
  EXPECT_FALSE(decode_jwt("a.b").has_value());
  EXPECT_FALSE(decode_jwt("a.b.c.d").has_value());
  EXPECT_FALSE(decode_jwt("!!.e30.c2ln").has_value());
  std::string header = base64url_encode(R"({"alg":"ES256"})");
  EXPECT_FALSE(decode_jwt(header + ".bm90IGpzb24.c2ln").has_value());  // payload not JSON
  EXPECT_FALSE(decode_jwt(header + "." + base64url_encode("[]") + ".c2ln").has_value());
  EXPECT_FALSE(decode_jwt(header + "." + base64url_encode("{}") + ".").has_value());
  EXPECT_FALSE(decode_jwt(std::string(kMaxJwtBytes + 1, 'a')).has_value());
  // ES256 signatures must be exactly 64 bytes.
  auto ec = make_key("EC", "e");
  std::string token =
      header + "." + base64url_encode("{}") + "." + base64url_encode(std::string(63, 'x'));
  EXPECT_FALSE(check(token, jwk_of(ec)).has_value());
}

TEST(Jwt, LooksLikeJwtSeparatesTokensFromApiKeys) {
  auto ec = make_key("EC", "e");
  EXPECT_TRUE(looks_like_jwt(sign(ec, "ES256")));
  EXPECT_FALSE(looks_like_jwt("demo-agent-key"));
  EXPECT_FALSE(looks_like_jwt("8cfbbed0d818a803eddf3db2193bd492460b2db9999d03775a023dd8f90d04a6"));
  EXPECT_FALSE(looks_like_jwt("a.b.c"));
  EXPECT_FALSE(looks_like_jwt(".e30.x"));
}

}  // namespace
}  // namespace countersign::identity
