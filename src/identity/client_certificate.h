// Identity from a TLS client certificate (mutual TLS), for services that
// have no identity-provider tokens. The TLS layer (src/server) verifies the
// chain against the configured client CA; this maps the verified leaf
// certificate to an Identity. Beast-free.
//
// The subject is `prefix` + the first of: a URI SAN (e.g. a SPIFFE id), an
// e-mail SAN, a DNS SAN, the subject's common name. The kind is `service`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/identity.h"

struct x509_st;  // OpenSSL's X509

namespace countersign::identity {

inline constexpr std::string_view kClientCertificateIssuer = "tls-client-certificate";

Result<Identity> identity_from_certificate(x509_st* certificate, std::string_view subject_prefix,
                                           const std::vector<std::string>& groups);

// The same from a PEM certificate (tests, tools).
Result<Identity> identity_from_certificate_pem(std::string_view pem,
                                               std::string_view subject_prefix,
                                               const std::vector<std::string>& groups);

}  // namespace countersign::identity
