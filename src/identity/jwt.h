// JSON Web Tokens (RFC 7519) signed with JWS (RFC 7515), verified with
// public keys from a JWK Set (RFC 7517) through OpenSSL's EVP interface.
// No networking here: keys come in as JSON text, tokens as strings.
//
// Accepted algorithms: RS256, PS256, ES256, EdDSA (Ed25519; also spelled
// "Ed25519", RFC 9864). Everything else is refused before any key is looked
// at: `alg: none`, every HMAC algorithm (HS256 with a public key as the
// secret is the classic confusion attack), unknown algorithms, and any
// `crit` header (this verifier understands no extensions). A key verifies
// only the algorithm its type fits (RSA for RS256/PS256, EC P-256 for ES256,
// OKP Ed25519 for EdDSA), and only when its own `alg`/`use` allow it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/error.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, kept out of this header

namespace countersign::identity {

// RFC 4648 section 5, without padding. decode() is strict: it refuses
// padding, whitespace and characters outside the alphabet.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

enum class JwsAlgorithm { rs256, ps256, es256, eddsa };

std::optional<JwsAlgorithm> parse_jws_algorithm(std::string_view name);
std::string_view jws_algorithm_name(JwsAlgorithm algorithm);
const std::vector<JwsAlgorithm>& all_jws_algorithms();

// One public key of a JWK Set.
struct Jwk {
  std::string kid;  // may be empty
  std::string kty;  // "RSA" | "EC" | "OKP"
  std::string crv;  // "P-256" | "Ed25519" (EC/OKP)
  std::string alg;  // the key's own "alg", empty when absent
  std::string use;  // "sig", "enc" or empty
  std::shared_ptr<evp_pkey_st> key;

  // Whether this key may verify `algorithm` (type, curve, size, alg, use).
  bool fits(JwsAlgorithm algorithm) const;
};

// Parses one JWK. Private members ("d", ...) are ignored: only the public
// part is used. RSA keys shorter than 2048 bits are refused.
Result<Jwk> parse_jwk(const boost::json::object& jwk);

// Parses a JWK Set document {"keys": [...]}. Keys this verifier cannot use
// (unsupported kty or curve, "use": "enc", symmetric "oct" keys) are skipped;
// a document that is not a JWK Set is an error.
Result<std::vector<Jwk>> parse_jwks(std::string_view json);

// The three parts of a compact JWS, decoded, with the header checked.
struct DecodedJwt {
  boost::json::object header;
  boost::json::object claims;
  JwsAlgorithm algorithm = JwsAlgorithm::rs256;
  std::string kid;            // header "kid", empty when absent
  std::string signing_input;  // "BASE64URL(header).BASE64URL(payload)"
  std::string signature;      // raw bytes
};

// Largest token accepted (bytes); larger bearers are refused unparsed.
inline constexpr std::size_t kMaxJwtBytes = 16 * 1024;

// Whether a bearer credential is shaped like a compact JWS (three base64url
// segments whose first decodes to a JSON object). Everything else is an
// API key.
bool looks_like_jwt(std::string_view token);

// Splits and decodes; refuses alg none, HMAC, unknown algorithms and crit.
// Does not verify the signature or any claim.
Result<DecodedJwt> decode_jwt(std::string_view token);

// Verifies the signature with `key` (which must fit the token's algorithm).
Result<void> verify_signature(const DecodedJwt& token, const Jwk& key);

// For tests and tools: signs `header`/`claims` with a private key (PEM) and
// returns the compact JWS. `header` must name the alg; nothing is checked.
Result<std::string> sign_jwt(const boost::json::object& header, const boost::json::object& claims,
                             std::string_view private_key_pem);

}  // namespace countersign::identity
