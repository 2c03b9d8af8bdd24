#include "doors/http/credentials.h"

#include <fmt/format.h>

#include "doors/http/routing.h"
#include "doors/http/sigv4.h"

namespace countersign::doors::http {

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                 (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63],
            kAlphabet[n & 63]};
  }
  if (i + 1 == bytes.size()) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    unsigned n = (static_cast<unsigned char>(bytes[i]) << 16) |
                 (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += {kAlphabet[n >> 18], kAlphabet[(n >> 12) & 63], kAlphabet[(n >> 6) & 63], '='};
  }
  return out;
}

Result<void> CredentialInjector::refresh(Millis now) {
  using Kind = config::HttpCredentialSpec::Kind;
  if (spec_.kind == Kind::none || (loaded_at_ >= 0 && now - loaded_at_ < cache_for_)) return {};
  auto read = [](const config::SecretRef& ref, std::string& into) -> Result<void> {
    auto value = config::resolve_secret(ref);
    if (!value)
      return fail(ErrorCode::unavailable,
                  fmt::format("the upstream credential {} is unavailable", ref.reference));
    into = std::move(*value);
    return {};
  };
  Result<void> ok;
  switch (spec_.kind) {
    case Kind::none:
      break;
    case Kind::bearer:
      ok = read(spec_.token, primary_);
      break;
    case Kind::basic:
      ok = read(spec_.password, primary_);
      if (ok) basic_ = "Basic " + base64_encode(spec_.username + ":" + primary_);
      break;
    case Kind::header:
      ok = read(spec_.header_value, primary_);
      break;
    case Kind::aws_sigv4:
      ok = read(spec_.access_key_id, primary_);
      if (ok) ok = read(spec_.secret_access_key, secondary_);
      if (ok && spec_.session_token) ok = read(*spec_.session_token, session_);
      break;
  }
  if (!ok) return ok;
  loaded_at_ = now;
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> CredentialInjector::headers(
    const UpstreamRequest& request, Millis now) {
  using Kind = config::HttpCredentialSpec::Kind;
  std::vector<std::pair<std::string, std::string>> out;
  if (auto ok = refresh(now); !ok) return std::unexpected(ok.error());
  switch (spec_.kind) {
    case Kind::none:
      break;
    case Kind::bearer:
      out.emplace_back("Authorization", "Bearer " + primary_);
      break;
    case Kind::basic:
      out.emplace_back("Authorization", basic_);
      break;
    case Kind::header:
      out.emplace_back(spec_.header_name, primary_);
      break;
    case Kind::aws_sigv4: {
      sigv4::Request signing;
      signing.method = request.method;
      signing.path = request.path;
      signing.query = request.query;
      signing.payload_sha256 =
          request.payload_sha256.empty()
              ? std::string(request.has_body ? sigv4::kUnsignedPayload : sigv4::kEmptyPayloadSha256)
              : request.payload_sha256;
      const std::string date = sigv4::amz_date(now);
      out.emplace_back("X-Amz-Date", date);
      out.emplace_back("X-Amz-Content-Sha256", signing.payload_sha256);
      if (!session_.empty()) out.emplace_back("X-Amz-Security-Token", session_);
      signing.headers.emplace_back("host", request.host);
      for (const auto& header : out) signing.headers.push_back(header);
      for (const auto& [name, value] : request.headers) {
        if ((name.size() > 6 && iequals(name.substr(0, 6), "x-amz-")) ||
            iequals(name, "content-type") || iequals(name, "content-md5"))
          signing.headers.emplace_back(name, value);
      }
      auto signed_request = sigv4::sign(signing, {primary_, secondary_, session_},
                                        {spec_.region, spec_.service, date});
      out.emplace_back("Authorization", std::move(signed_request.authorization));
      break;
    }
  }
  return out;
}

}  // namespace countersign::doors::http
