#include "identity/client_certificate.h"

#include <memory>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace countersign::identity {
namespace {

std::string asn1_text(const ASN1_STRING* value) {
  if (value == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                     static_cast<std::size_t>(ASN1_STRING_length(value)));
}

bool printable(std::string_view text) {
  if (text.empty() || text.size() > 512) return false;
  for (unsigned char c : text)
    if (c < 0x21 || c > 0x7e) return false;
  return true;
}

}  // namespace

Result<Identity> identity_from_certificate(x509_st* certificate, std::string_view subject_prefix,
                                           const std::vector<std::string>& groups) {
  if (certificate == nullptr) return fail(ErrorCode::unauthenticated, "no client certificate");
  std::string uri, email, dns;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      if (name->type == GEN_URI && uri.empty())
        uri = asn1_text(name->d.uniformResourceIdentifier);
      else if (name->type == GEN_EMAIL && email.empty())
        email = asn1_text(name->d.rfc822Name);
      else if (name->type == GEN_DNS && dns.empty())
        dns = asn1_text(name->d.dNSName);
    }
    GENERAL_NAMES_free(names);
  }
  std::string subject = !uri.empty() ? uri : !email.empty() ? email : dns;
  if (subject.empty()) {
    X509_NAME* name = X509_get_subject_name(certificate);
    int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (index >= 0) subject = asn1_text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
  }
  if (!printable(subject))
    return fail(ErrorCode::unauthenticated, "the client certificate names no usable subject");
  Identity identity;
  identity.subject = std::string(subject_prefix) + subject;
  identity.issuer = std::string(kClientCertificateIssuer);
  identity.kind = IdentityKind::service;
  identity.groups = groups;
  if (!email.empty() && printable(email)) identity.email = email;
  return identity;
}

Result<Identity> identity_from_certificate_pem(std::string_view pem,
                                               std::string_view subject_prefix,
                                               const std::vector<std::string>& groups) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> certificate(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, &X509_free);
  if (!certificate) return fail(ErrorCode::invalid_argument, "not a PEM certificate");
  return identity_from_certificate(certificate.get(), subject_prefix, groups);
}

}  // namespace countersign::identity
