#include "config/identity_section.h"

#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "config/yaml_reader.h"

namespace countersign::config {
namespace {

std::string readable_file(const Reader& reader, const YAML::Node& node, std::string_view what) {
  std::filesystem::path path = reader.text(node, what);
  if (path.empty()) reader.fail_at(node, fmt::format("{} must not be empty", what));
  if (path.is_relative()) path = std::filesystem::path(reader.file()).parent_path() / path;
  std::ifstream in(path);
  if (!in) reader.fail_at(node, fmt::format("{}: cannot read {}", what, path.string()));
  return path.string();
}

std::string idp_url(const Reader& reader, const YAML::Node& node, std::string_view what) {
  std::string url = reader.text(node, what);
  if (!identity::acceptable_idp_url(url))
    reader.fail_at(node, fmt::format("{} must be an https:// URL (http:// only on a loopback "
                                     "address), got '{}'",
                                     what, url));
  return url;
}

IdentityKind kind_value(const Reader& reader, const YAML::Node& node) {
  auto kind = parse_identity_kind(reader.text(node, "kind"));
  if (!kind) reader.fail_at(node, "kind must be agent, human or service");
  return *kind;
}

void read_claims(const Reader& reader, const YAML::Node& node, identity::ClaimsMapping& claims) {
  reader.expect_keys(node, "claims",
                     {"subject", "subject_prefix", "email", "require_email_verified", "groups",
                      "kind", "on_behalf_of", "act"});
  if (node["subject"]) claims.subject_claim = reader.text(node["subject"], "claims.subject");
  if (claims.subject_claim.empty())
    reader.fail_at(node["subject"], "claims.subject must name a claim");
  if (node["subject_prefix"])
    claims.subject_prefix = reader.text(node["subject_prefix"], "claims.subject_prefix");
  if (node["email"]) claims.email_claim = reader.text(node["email"], "claims.email");
  if (node["require_email_verified"])
    claims.require_email_verified =
        reader.boolean(node["require_email_verified"], "claims.require_email_verified");
  if (node["groups"]) claims.groups_claim = reader.text(node["groups"], "claims.groups");
  if (const auto& kind = node["kind"]) {
    if (kind.IsScalar()) {
      claims.default_kind = kind_value(reader, kind);
    } else {
      reader.expect_keys(kind, "claims.kind", {"claim", "default", "clients"});
      if (kind["claim"]) claims.kind_claim = reader.text(kind["claim"], "claims.kind.claim");
      if (kind["default"]) claims.default_kind = kind_value(reader, kind["default"]);
      if (const auto& clients = kind["clients"]) {
        reader.expect_map(clients, "claims.kind.clients");
        for (const auto& entry : clients)
          claims.kind_by_client[entry.first.as<std::string>()] = kind_value(reader, entry.second);
      }
    }
  }
  if (node["on_behalf_of"])
    claims.on_behalf_of_claim = reader.text(node["on_behalf_of"], "claims.on_behalf_of");
  if (node["act"]) claims.use_act = reader.boolean(node["act"], "claims.act");
}

identity::OidcIssuer read_issuer(const Reader& reader, const YAML::Node& node) {
  reader.expect_keys(
      node, "an oidc issuer",
      {"name", "issuer", "audience", "algorithms", "discovery_url", "jwks_uri", "clock_skew",
       "jwks_refresh", "min_refresh_interval", "fetch_timeout", "ca_file", "claims", "login"});
  identity::OidcIssuer issuer;
  issuer.location = reader.where(node);
  if (!node["issuer"]) reader.fail_at(node, "an oidc issuer needs issuer: URL");
  issuer.issuer = idp_url(reader, node["issuer"], "issuer");
  issuer.name = node["name"] ? reader.text(node["name"], "name") : issuer.issuer;
  if (!node["audience"])
    reader.fail_at(node, fmt::format("oidc issuer '{}': audience is required (the aud value "
                                     "tokens for countersign carry)",
                                     issuer.name));
  issuer.audiences = reader.strings(node["audience"], "audience");
  if (issuer.audiences.empty()) reader.fail_at(node["audience"], "audience must not be empty");
  if (const auto& algorithms = node["algorithms"]) {
    issuer.algorithms.clear();
    for (const auto& name : reader.strings(algorithms, "algorithms")) {
      auto algorithm = identity::parse_jws_algorithm(name);
      if (!algorithm)
        reader.fail_at(algorithms, fmt::format("algorithm '{}' is not supported (RS256, PS256, "
                                               "ES256, EdDSA are; none and HMAC never are)",
                                               name));
      issuer.algorithms.push_back(*algorithm);
    }
    if (issuer.algorithms.empty()) reader.fail_at(algorithms, "algorithms must not be empty");
  }
  if (node["discovery_url"])
    issuer.discovery_url = idp_url(reader, node["discovery_url"], "discovery_url");
  if (node["jwks_uri"]) issuer.jwks_uri = idp_url(reader, node["jwks_uri"], "jwks_uri");
  if (node["clock_skew"]) {
    issuer.clock_skew = reader.duration(node["clock_skew"], "clock_skew");
    if (issuer.clock_skew > 300'000)
      reader.fail_at(node["clock_skew"], "clock_skew must be at most 5m");
  }
  if (node["jwks_refresh"])
    issuer.jwks_refresh = reader.duration(node["jwks_refresh"], "jwks_refresh");
  if (node["min_refresh_interval"])
    issuer.min_refresh_interval =
        reader.duration(node["min_refresh_interval"], "min_refresh_interval");
  if (issuer.jwks_refresh < 1'000)
    reader.fail_at(node["jwks_refresh"], "jwks_refresh must be at least 1s");
  if (node["fetch_timeout"])
    issuer.fetch_timeout = reader.duration(node["fetch_timeout"], "fetch_timeout");
  if (node["ca_file"]) issuer.ca_file = readable_file(reader, node["ca_file"], "ca_file");
  if (node["claims"]) read_claims(reader, node["claims"], issuer.claims);
  if (const auto& login = node["login"]) {
    reader.expect_keys(login, "login", {"client_id", "client_secret", "scopes"});
    if (!login["client_id"]) reader.fail_at(login, "login: client_id is required");
    issuer.client_id = reader.text(login["client_id"], "client_id");
    if (login["client_secret"]) {
      auto secret = resolve_secret(reader.secret(login["client_secret"], "client_secret"));
      if (!secret) throw ConfigError{secret.error().message};  // already names file:line
      issuer.client_secret = *secret;
    }
    if (login["scopes"]) issuer.scopes = reader.strings(login["scopes"], "scopes");
    if (std::find(issuer.scopes.begin(), issuer.scopes.end(), "openid") == issuer.scopes.end())
      reader.fail_at(login["scopes"], "scopes must include openid");
  }
  return issuer;
}

}  // namespace

void read_oidc(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_keys(node, "identity.oidc", {"issuers", "login"});
  if (const auto& issuers = node["issuers"]) {
    if (!issuers.IsSequence()) reader.fail_at(issuers, "identity.oidc.issuers must be a list");
    std::set<std::string> names, urls;
    for (const auto& entry : issuers) {
      auto issuer = read_issuer(reader, entry);
      if (!names.insert(issuer.name).second)
        reader.fail_at(entry, fmt::format("two oidc issuers are named '{}'", issuer.name));
      if (!urls.insert(issuer.issuer).second)
        reader.fail_at(entry, fmt::format("issuer {} is configured twice", issuer.issuer));
      config.oidc_issuers.push_back(std::move(issuer));
    }
  }
  if (const auto& login = node["login"]) {
    reader.expect_keys(
        login, "identity.oidc.login",
        {"issuer", "session_lifetime", "login_timeout", "cookie_name", "landing_path"});
    if (!login["issuer"])
      reader.fail_at(login, "identity.oidc.login: issuer (an issuer's name) is required");
    auto& settings = config.browser_login;
    settings.issuer_name = reader.text(login["issuer"], "issuer");
    const identity::OidcIssuer* found = nullptr;
    for (const auto& issuer : config.oidc_issuers)
      if (issuer.name == settings.issuer_name) found = &issuer;
    if (!found)
      reader.fail_at(login["issuer"], fmt::format("identity.oidc.login: no issuer named '{}'",
                                                  settings.issuer_name));
    if (found->client_id.empty())
      reader.fail_at(login["issuer"], fmt::format("identity.oidc.login: issuer '{}' has no login: "
                                                  "client_id",
                                                  settings.issuer_name));
    if (login["session_lifetime"])
      settings.session_lifetime = reader.duration(login["session_lifetime"], "session_lifetime");
    if (settings.session_lifetime < 60'000)
      reader.fail_at(login["session_lifetime"], "session_lifetime must be at least 1m");
    if (login["login_timeout"])
      settings.login_timeout = reader.duration(login["login_timeout"], "login_timeout");
    if (login["cookie_name"]) {
      settings.cookie_name = reader.text(login["cookie_name"], "cookie_name");
      if (settings.cookie_name.empty() || settings.cookie_name.find_first_not_of(
                                              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                              "0123456789_-") != std::string::npos)
        reader.fail_at(login["cookie_name"], "cookie_name may hold letters, digits, _ and - only");
    }
    if (login["landing_path"]) {
      settings.landing_path = reader.text(login["landing_path"], "landing_path");
      if (!settings.landing_path.starts_with("/") || settings.landing_path.starts_with("//"))
        reader.fail_at(login["landing_path"],
                       "landing_path must be a path starting with a single /");
    }
  }
}

void read_tls(const Reader& reader, const YAML::Node& node, Config& config) {
  reader.expect_keys(node, "server.tls",
                     {"cert_file", "key_file", "min_version", "client_ca_file",
                      "require_client_certificate", "client_subject_prefix", "client_groups"});
  if (!node["cert_file"] || !node["key_file"])
    reader.fail_at(node, "server.tls needs cert_file and key_file");
  TlsSettings& tls = config.tls;
  tls.cert_file = readable_file(reader, node["cert_file"], "cert_file");
  tls.key_file = readable_file(reader, node["key_file"], "key_file");
  if (node["min_version"]) {
    tls.min_version = reader.text(node["min_version"], "min_version");
    if (tls.min_version != "1.2" && tls.min_version != "1.3")
      reader.fail_at(node["min_version"], "min_version must be \"1.2\" or \"1.3\"");
  }
  if (node["client_ca_file"])
    tls.client_ca_file = readable_file(reader, node["client_ca_file"], "client_ca_file");
  if (node["require_client_certificate"]) {
    tls.require_client_certificate =
        reader.boolean(node["require_client_certificate"], "require_client_certificate");
    if (tls.require_client_certificate && tls.client_ca_file.empty())
      reader.fail_at(node["require_client_certificate"],
                     "require_client_certificate needs client_ca_file");
  }
  if (node["client_subject_prefix"])
    tls.client_subject_prefix = reader.text(node["client_subject_prefix"], "client_subject_prefix");
  if (node["client_groups"])
    tls.client_groups = reader.strings(node["client_groups"], "client_groups");
}

}  // namespace countersign::config
