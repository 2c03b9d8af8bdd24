// mTLS: a verified client certificate becomes a service identity, its
// subject taken from a URI, e-mail or DNS SAN, or the common name.
#include "identity/client_certificate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace countersign::identity {
namespace {

// A self-signed certificate with common name `cn` and optional SAN text
// (OpenSSL's config syntax, e.g. "URI:spiffe://corp/ci, DNS:ci.example.com").
std::string certificate(const std::string& cn, const std::string& san) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* x509 = X509_new();
  X509_set_version(x509, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509), 0);
  X509_gmtime_adj(X509_getm_notAfter(x509), 3600);
  X509_set_pubkey(x509, key);
  X509_NAME* name = X509_get_subject_name(x509);
  if (!cn.empty())
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Test"), -1, -1, 0);
  X509_set_issuer_name(x509, name);
  if (!san.empty()) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x509, x509, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
    X509_add_ext(x509, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x509, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x509);
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(length));
  BIO_free(bio);
  X509_free(x509);
  EVP_PKEY_free(key);
  return pem;
}

TEST(ClientCertificate, UriSanWins) {
  auto identity = identity_from_certificate_pem(
      certificate("ci-runner", "DNS:ci.example.com, URI:spiffe://corp/ci, email:ci@example.com"),
      "cert:", {"pipelines"});
  ASSERT_TRUE(identity.has_value()) << identity.error().message;
  EXPECT_EQ(identity->subject, "cert:spiffe://corp/ci");
  EXPECT_EQ(identity->kind, IdentityKind::service);
  EXPECT_EQ(identity->issuer, kClientCertificateIssuer);
  EXPECT_EQ(identity->groups, std::vector<std::string>{"pipelines"});
  EXPECT_EQ(identity->email, "ci@example.com");
}

TEST(ClientCertificate, ThenEmailThenDnsThenCommonName) {
  EXPECT_EQ(identity_from_certificate_pem(certificate("x", "DNS:a.example, email:svc@example.com"),
                                          "", {})
                ->subject,
            "svc@example.com");
  EXPECT_EQ(identity_from_certificate_pem(certificate("x", "DNS:a.example"), "", {})->subject,
            "a.example");
  EXPECT_EQ(identity_from_certificate_pem(certificate("backup-job", ""), "mtls:", {})->subject,
            "mtls:backup-job");
}

TEST(ClientCertificate, NoUsableNameIsRefused) {
  auto identity = identity_from_certificate_pem(certificate("", ""), "", {});
  ASSERT_FALSE(identity.has_value());
  EXPECT_EQ(identity.error().code, ErrorCode::unauthenticated);
  EXPECT_FALSE(identity_from_certificate_pem(certificate("has space", ""), "", {}).has_value());
  EXPECT_FALSE(identity_from_certificate_pem("not a certificate", "", {}).has_value());
  EXPECT_FALSE(identity_from_certificate(nullptr, "", {}).has_value());
}

}  // namespace
}  // namespace countersign::identity
