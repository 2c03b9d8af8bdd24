// Keys made fresh for each test run (OpenSSL), as private PEM for signing
// and public JWK for verifying. Test-only.
#pragma once

#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <boost/json.hpp>

#include "identity/jwt.h"

namespace countersign::identity::testing {

struct TestKey {
  std::string private_pem;
  boost::json::object jwk;  // public
};

inline std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  return out;
}

inline std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

// kind: "RSA" (2048 unless bits given), "EC" (P-256), "Ed25519".
inline TestKey make_key(const std::string& kind, const std::string& kid, int bits = 2048) {
  EVP_PKEY* key = nullptr;
  if (kind == "RSA")
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  else if (kind == "EC")
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  else
    key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  TestKey out;
  out.private_pem = pem_of(key);
  out.jwk["kid"] = kid;
  if (kind == "RSA") {
    out.jwk["kty"] = "RSA";
    out.jwk["n"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N));
    out.jwk["e"] = base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E));
  } else if (kind == "EC") {
    out.jwk["kty"] = "EC";
    out.jwk["crv"] = "P-256";
    std::string x(32, '\0'), y(32, '\0');
    BIGNUM *bx = nullptr, *by = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by);
    BN_bn2binpad(bx, reinterpret_cast<unsigned char*>(x.data()), 32);
    BN_bn2binpad(by, reinterpret_cast<unsigned char*>(y.data()), 32);
    BN_free(bx);
    BN_free(by);
    out.jwk["x"] = base64url_encode(x);
    out.jwk["y"] = base64url_encode(y);
  } else {
    out.jwk["kty"] = "OKP";
    out.jwk["crv"] = "Ed25519";
    std::string x(32, '\0');
    size_t length = 32;
    EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(x.data()), &length);
    out.jwk["x"] = base64url_encode(x);
  }
  EVP_PKEY_free(key);
  return out;
}

inline std::string jwks_of(std::initializer_list<const TestKey*> keys) {
  boost::json::array array;
  for (const auto* key : keys) array.push_back(key->jwk);
  return boost::json::serialize(boost::json::object{{"keys", array}});
}

}  // namespace countersign::identity::testing
