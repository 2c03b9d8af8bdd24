// The `identity.oidc` section (OpenID Connect issuers, browser login) and
// `server.tls` (TLS and client certificates on the listener). Parsed here so
// every mistake is a load error with file:line; the behaviour lives in
// src/identity and src/server.
//
//   identity:
//     oidc:
//       issuers:
//         - name: corp
//           issuer: https://login.example.com
//           audience: countersign
//           claims: {groups: groups, kind: {claim: kind, clients: {ci: service}}}
//           login: {client_id: countersign-web, client_secret: env:OIDC_SECRET}
//       login: {issuer: corp, session_lifetime: 8h}
//   server:
//     tls: {cert_file: tls/server.pem, key_file: tls/server.key, client_ca_file: tls/ca.pem}
#pragma once

#include <yaml-cpp/yaml.h>

#include "config/config.h"

namespace countersign::config {

class Reader;

// Reads identity.oidc into config.oidc_issuers and config.browser_login.
void read_oidc(const Reader& reader, const YAML::Node& node, Config& config);

// Reads server.tls into config.tls (files must exist and be readable).
void read_tls(const Reader& reader, const YAML::Node& node, Config& config);

}  // namespace countersign::config
