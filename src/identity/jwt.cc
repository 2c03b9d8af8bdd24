#include "identity/jwt.h"

#include <array>
#include <cstring>

#include <fmt/format.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace countersign::identity {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct SigFree {
  void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

std::string text_member(const boost::json::object& object, std::string_view name) {
  auto* value = object.if_contains(name);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

Result<std::string> decoded_member(const boost::json::object& jwk, std::string_view name) {
  auto* value = jwk.if_contains(name);
  if (!value || !value->is_string())
    return fail(ErrorCode::invalid_argument, fmt::format("JWK has no '{}'", name));
  auto bytes = base64url_decode(value->get_string());
  if (!bytes || bytes->empty())
    return fail(ErrorCode::invalid_argument, fmt::format("JWK '{}' is not base64url", name));
  return *bytes;
}

BnPtr to_bn(const std::string& bytes) {
  return BnPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                         static_cast<int>(bytes.size()), nullptr));
}

Result<std::shared_ptr<EVP_PKEY>> from_params(const char* type, OSSL_PARAM_BLD* builder) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(builder));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(
      EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0 || key == nullptr)
    return fail(ErrorCode::invalid_argument, fmt::format("JWK is not a valid {} public key", type));
  return std::shared_ptr<EVP_PKEY>(key, PkeyFree{});
}

Result<std::shared_ptr<EVP_PKEY>> rsa_key(const boost::json::object& jwk) {
  auto n = decoded_member(jwk, "n");
  if (!n) return std::unexpected(n.error());
  auto e = decoded_member(jwk, "e");
  if (!e) return std::unexpected(e.error());
  std::size_t leading = 0;
  while (leading < n->size() && (*n)[leading] == '\0') ++leading;
  if ((n->size() - leading) * 8 < 2048)
    return fail(ErrorCode::invalid_argument, "RSA keys shorter than 2048 bits are refused");
  BnPtr bn_n = to_bn(*n), bn_e = to_bn(*e);
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
  if (!bn_n || !bn_e || !builder ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) ||
      !OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()))
    return fail(ErrorCode::internal, "cannot build an RSA key");
  return from_params("RSA", builder.get());
}

Result<std::shared_ptr<EVP_PKEY>> ec_key(const boost::json::object& jwk) {
  if (text_member(jwk, "crv") != "P-256")
    return fail(ErrorCode::invalid_argument, "only EC keys on P-256 are supported");
  auto x = decoded_member(jwk, "x");
  if (!x) return std::unexpected(x.error());
  auto y = decoded_member(jwk, "y");
  if (!y) return std::unexpected(y.error());
  if (x->size() != 32 || y->size() != 32)
    return fail(ErrorCode::invalid_argument, "P-256 coordinates must be 32 bytes");
  std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      !OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1",
                                       0) ||
      !OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                        point.size()))
    return fail(ErrorCode::internal, "cannot build an EC key");
  // EVP_PKEY_fromdata checks that the point lies on the curve.
  return from_params("EC", builder.get());
}

Result<std::shared_ptr<EVP_PKEY>> okp_key(const boost::json::object& jwk) {
  if (text_member(jwk, "crv") != "Ed25519")
    return fail(ErrorCode::invalid_argument, "only OKP keys on Ed25519 are supported");
  auto x = decoded_member(jwk, "x");
  if (!x) return std::unexpected(x.error());
  if (x->size() != 32) return fail(ErrorCode::invalid_argument, "Ed25519 keys are 32 bytes");
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x->data()), x->size());
  if (key == nullptr) return fail(ErrorCode::invalid_argument, "JWK is not a valid Ed25519 key");
  return std::shared_ptr<EVP_PKEY>(key, PkeyFree{});
}

// JWS ES256 signatures are r||s (32 bytes each); OpenSSL wants DER.
std::optional<std::string> es256_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  std::unique_ptr<ECDSA_SIG, SigFree> sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || !ECDSA_SIG_set0(sig.get(), r, s)) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0) return std::nullopt;
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return out;
}

std::optional<std::string> der_to_es256(std::string_view der) {
  const auto* cursor = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, SigFree> sig(
      d2i_ECDSA_SIG(nullptr, &cursor, static_cast<long>(der.size())));
  if (!sig) return std::nullopt;
  std::string out(64, '\0');
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), reinterpret_cast<unsigned char*>(out.data()), 32) !=
          32 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), reinterpret_cast<unsigned char*>(out.data()) + 32,
                   32) != 32)
    return std::nullopt;
  return out;
}

const EVP_MD* digest_for(JwsAlgorithm algorithm) {
  return algorithm == JwsAlgorithm::eddsa ? nullptr : EVP_sha256();
}

bool is_hmac(std::string_view alg) {
  return alg.size() >= 2 && (alg[0] == 'H' || alg[0] == 'h') && (alg[1] == 'S' || alg[1] == 's');
}

Result<boost::json::object> json_segment(std::string_view segment, std::string_view what) {
  auto bytes = base64url_decode(segment);
  if (!bytes)
    return fail(ErrorCode::unauthenticated,
                fmt::format("malformed token: {} is not base64url", what));
  boost::system::error_code error;
  auto value = boost::json::parse(*bytes, error);
  if (error || !value.is_object())
    return fail(ErrorCode::unauthenticated,
                fmt::format("malformed token: {} is not a JSON object", what));
  return std::move(value.as_object());
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t at) { return static_cast<unsigned char>(bytes[at]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned value = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += kAlphabet[(value >> 18) & 63];
    out += kAlphabet[(value >> 12) & 63];
    out += kAlphabet[(value >> 6) & 63];
    out += kAlphabet[value & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned value = byte(i) << 16;
    out += kAlphabet[(value >> 18) & 63];
    out += kAlphabet[(value >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned value = (byte(i) << 16) | (byte(i + 1) << 8);
    out += kAlphabet[(value >> 18) & 63];
    out += kAlphabet[(value >> 12) & 63];
    out += kAlphabet[(value >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z')
      value = c - 'A';
    else if (c >= 'a' && c <= 'z')
      value = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      value = c - '0' + 52;
    else if (c == '-')
      value = 62;
    else if (c == '_')
      value = 63;
    if (value < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  // Canonical encodings leave the unused low bits zero.
  if (bits > 0 && (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::optional<JwsAlgorithm> parse_jws_algorithm(std::string_view name) {
  if (name == "RS256") return JwsAlgorithm::rs256;
  if (name == "PS256") return JwsAlgorithm::ps256;
  if (name == "ES256") return JwsAlgorithm::es256;
  if (name == "EdDSA" || name == "Ed25519") return JwsAlgorithm::eddsa;
  return std::nullopt;
}

std::string_view jws_algorithm_name(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::rs256:
      return "RS256";
    case JwsAlgorithm::ps256:
      return "PS256";
    case JwsAlgorithm::es256:
      return "ES256";
    case JwsAlgorithm::eddsa:
      return "EdDSA";
  }
  return "?";
}

const std::vector<JwsAlgorithm>& all_jws_algorithms() {
  static const std::vector<JwsAlgorithm> all = {JwsAlgorithm::rs256, JwsAlgorithm::ps256,
                                                JwsAlgorithm::es256, JwsAlgorithm::eddsa};
  return all;
}

bool Jwk::fits(JwsAlgorithm algorithm) const {
  if (!key) return false;
  if (!use.empty() && use != "sig") return false;
  if (!alg.empty()) {
    auto own = parse_jws_algorithm(alg);
    if (!own || *own != algorithm) return false;
  }
  switch (algorithm) {
    case JwsAlgorithm::rs256:
    case JwsAlgorithm::ps256:
      return kty == "RSA" && EVP_PKEY_is_a(key.get(), "RSA");
    case JwsAlgorithm::es256:
      return kty == "EC" && crv == "P-256" && EVP_PKEY_is_a(key.get(), "EC");
    case JwsAlgorithm::eddsa:
      return kty == "OKP" && crv == "Ed25519" && EVP_PKEY_is_a(key.get(), "ED25519");
  }
  return false;
}

Result<Jwk> parse_jwk(const boost::json::object& object) {
  Jwk jwk;
  jwk.kty = text_member(object, "kty");
  jwk.kid = text_member(object, "kid");
  jwk.crv = text_member(object, "crv");
  jwk.alg = text_member(object, "alg");
  jwk.use = text_member(object, "use");
  Result<std::shared_ptr<EVP_PKEY>> key = fail(ErrorCode::invalid_argument, "");
  if (jwk.kty == "RSA")
    key = rsa_key(object);
  else if (jwk.kty == "EC")
    key = ec_key(object);
  else if (jwk.kty == "OKP")
    key = okp_key(object);
  else
    return fail(ErrorCode::invalid_argument,
                fmt::format("unsupported JWK key type '{}' (RSA, EC and OKP are)", jwk.kty));
  if (!key) return std::unexpected(key.error());
  jwk.key = std::move(*key);
  return jwk;
}

Result<std::vector<Jwk>> parse_jwks(std::string_view json) {
  boost::system::error_code error;
  auto value = boost::json::parse(json, error);
  if (error || !value.is_object())
    return fail(ErrorCode::invalid_argument, "the JWK Set is not a JSON object");
  auto* keys = value.as_object().if_contains("keys");
  if (!keys || !keys->is_array())
    return fail(ErrorCode::invalid_argument, "the JWK Set has no \"keys\" array");
  std::vector<Jwk> out;
  for (const auto& entry : keys->as_array()) {
    if (!entry.is_object()) continue;
    const auto& object = entry.as_object();
    if (text_member(object, "use") == "enc") continue;
    auto jwk = parse_jwk(object);
    if (jwk) out.push_back(std::move(*jwk));  // unusable keys are skipped, not fatal
  }
  return out;
}

bool looks_like_jwt(std::string_view token) {
  auto first = token.find('.');
  if (first == std::string_view::npos || first == 0) return false;
  auto second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return false;
  auto header = base64url_decode(token.substr(0, first));
  return header && header->size() > 1 && header->front() == '{';
}

Result<DecodedJwt> decode_jwt(std::string_view token) {
  if (token.size() > kMaxJwtBytes) return fail(ErrorCode::unauthenticated, "token is too large");
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return fail(ErrorCode::unauthenticated, "malformed token: a JWT has three parts");
  DecodedJwt jwt;
  auto header = json_segment(token.substr(0, first), "header");
  if (!header) return std::unexpected(header.error());
  jwt.header = std::move(*header);
  auto* alg = jwt.header.if_contains("alg");
  if (!alg || !alg->is_string()) return fail(ErrorCode::unauthenticated, "token header has no alg");
  std::string_view alg_name = alg->get_string();
  std::string lower;
  for (char c : alg_name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "none")
    return fail(ErrorCode::unauthenticated, "unsigned tokens (alg none) are refused");
  if (is_hmac(alg_name))
    return fail(ErrorCode::unauthenticated,
                fmt::format("HMAC-signed tokens ({}) are refused: only public-key signatures are "
                            "accepted",
                            alg_name));
  auto algorithm = parse_jws_algorithm(alg_name);
  if (!algorithm)
    return fail(ErrorCode::unauthenticated,
                fmt::format("unsupported signature algorithm '{}' (RS256, PS256, ES256, EdDSA are "
                            "accepted)",
                            alg_name));
  jwt.algorithm = *algorithm;
  if (jwt.header.contains("crit"))
    return fail(ErrorCode::unauthenticated,
                "token has critical header extensions (crit) that are not understood");
  if (auto* kid = jwt.header.if_contains("kid")) {
    if (!kid->is_string())
      return fail(ErrorCode::unauthenticated, "token header kid is not a string");
    jwt.kid = std::string(kid->get_string());
  }
  auto claims = json_segment(token.substr(first + 1, second - first - 1), "payload");
  if (!claims) return std::unexpected(claims.error());
  jwt.claims = std::move(*claims);
  auto signature = base64url_decode(token.substr(second + 1));
  if (!signature || signature->empty())
    return fail(ErrorCode::unauthenticated, "malformed token: bad signature encoding");
  jwt.signature = std::move(*signature);
  jwt.signing_input = std::string(token.substr(0, second));
  return jwt;
}

Result<void> verify_signature(const DecodedJwt& token, const Jwk& key) {
  if (!key.fits(token.algorithm))
    return fail(ErrorCode::unauthenticated,
                fmt::format("key '{}' ({}) cannot verify {} signatures", key.kid, key.kty,
                            jws_algorithm_name(token.algorithm)));
  std::string der;
  std::string_view signature = token.signature;
  if (token.algorithm == JwsAlgorithm::es256) {
    auto converted = es256_to_der(token.signature);
    if (!converted) return fail(ErrorCode::unauthenticated, "invalid token signature");
    der = std::move(*converted);
    signature = der;
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pkey_ctx, digest_for(token.algorithm), nullptr,
                                   key.key.get()) <= 0)
    return fail(ErrorCode::internal, "cannot initialise signature verification");
  if (token.algorithm == JwsAlgorithm::ps256) {
    if (EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, 32) <= 0 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pkey_ctx, EVP_sha256()) <= 0)
      return fail(ErrorCode::internal, "cannot set up RSA-PSS");
  } else if (token.algorithm == JwsAlgorithm::rs256) {
    if (EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) <= 0)
      return fail(ErrorCode::internal, "cannot set up RSA PKCS#1");
  }
  int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(token.signing_input.data()),
                            token.signing_input.size());
  if (ok != 1) return fail(ErrorCode::unauthenticated, "invalid token signature");
  return {};
}

Result<std::string> sign_jwt(const boost::json::object& header, const boost::json::object& claims,
                             std::string_view private_key_pem) {
  std::unique_ptr<BIO, BioFree> bio(
      BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) return fail(ErrorCode::invalid_argument, "cannot read the private key");
  std::string input = base64url_encode(boost::json::serialize(header)) + "." +
                      base64url_encode(boost::json::serialize(claims));
  std::string alg_name = text_member(header, "alg");
  auto algorithm = parse_jws_algorithm(alg_name);
  std::string signature;
  if (!algorithm) {
    // Only for building bad tokens in tests: an empty-ish signature.
    signature = alg_name == "none" ? "" : "x";
    return input + "." + base64url_encode(signature);
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pkey_ctx = nullptr;
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), &pkey_ctx, digest_for(*algorithm), nullptr, key.get()) <= 0)
    return fail(ErrorCode::invalid_argument, "the key does not fit the algorithm");
  if (*algorithm == JwsAlgorithm::ps256) {
    EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pkey_ctx, 32);
  }
  std::size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) <= 0)
    return fail(ErrorCode::internal, "signing failed");
  signature.resize(length);
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) <= 0)
    return fail(ErrorCode::internal, "signing failed");
  signature.resize(length);
  if (*algorithm == JwsAlgorithm::es256) {
    auto raw = der_to_es256(signature);
    if (!raw) return fail(ErrorCode::internal, "bad ECDSA signature");
    signature = std::move(*raw);
  }
  return input + "." + base64url_encode(signature);
}

}  // namespace countersign::identity
