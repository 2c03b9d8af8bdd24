#include "doors/http/sigv4.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/hash.h"
#include "doors/http/routing.h"

namespace countersign::doors::http::sigv4 {
namespace {

std::string hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &length);
  return std::string(reinterpret_cast<const char*>(out), length);
}

std::string trim_and_collapse(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::string uri_encode(std::string_view bytes, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string canonical_uri(std::string_view wire_path, bool normalize, bool double_encode) {
  if (wire_path.empty()) return "/";
  std::vector<std::string> segments;
  std::string_view rest = wire_path;
  if (rest.starts_with('/')) rest.remove_prefix(1);
  bool trailing = wire_path.size() > 1 && wire_path.ends_with('/');
  for (std::size_t start = 0; start <= rest.size();) {
    std::size_t end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    std::string segment = percent_decode(rest.substr(start, end - start));
    start = end + 1;
    if (!normalize) {
      segments.push_back(std::move(segment));
      continue;
    }
    if (segment.empty() || segment == ".") {
      if (end == rest.size() && segment == ".") trailing = true;
      continue;
    }
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
      if (end == rest.size()) trailing = true;
      continue;
    }
    segments.push_back(std::move(segment));
  }
  std::string path;
  if (!normalize) {
    // Keep the exact shape: "/a//b/" stays "/a//b/" (the split kept empties).
    for (std::size_t i = 0; i < segments.size(); ++i) {
      path.push_back('/');
      path += uri_encode(segments[i], false);
    }
    if (path.empty()) path = "/";
  } else {
    for (const auto& segment : segments) {
      path.push_back('/');
      path += uri_encode(segment, false);
    }
    if (segments.empty())
      path = "/";
    else if (trailing)
      path.push_back('/');
  }
  return double_encode ? uri_encode(path, true) : path;
}

std::string canonical_query(std::string_view raw_query) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!raw_query.empty()) {
    auto amp = raw_query.find('&');
    std::string_view item = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (item.empty()) continue;
    auto equals = item.find('=');
    std::string key = uri_encode(percent_decode(item.substr(0, equals)), false);
    std::string value = equals == std::string_view::npos
                            ? std::string()
                            : uri_encode(percent_decode(item.substr(equals + 1)), false);
    pairs.emplace_back(std::move(key), std::move(value));
  }
  std::sort(pairs.begin(), pairs.end());
  std::string out;
  for (const auto& [key, value] : pairs) {
    if (!out.empty()) out.push_back('&');
    out += key;
    out.push_back('=');
    out += value;
  }
  return out;
}

Signed sign(const Request& request, const Credentials& credentials, const Scope& scope) {
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    std::string key = lower(name);
    std::string clean = trim_and_collapse(value);
    auto [it, inserted] = headers.emplace(key, clean);
    if (!inserted) it->second += "," + clean;
  }
  Signed out;
  std::string canonical_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!out.signed_headers.empty()) out.signed_headers.push_back(';');
    out.signed_headers += name;
  }
  const bool s3 = scope.service == "s3";
  out.canonical_request =
      fmt::format("{}\n{}\n{}\n{}\n{}\n{}", request.method, canonical_uri(request.path, !s3, !s3),
                  canonical_query(request.query), canonical_headers, out.signed_headers,
                  request.payload_sha256);
  const std::string date = scope.amz_date.substr(0, 8);
  const std::string credential_scope =
      fmt::format("{}/{}/{}/aws4_request", date, scope.region, scope.service);
  out.string_to_sign = fmt::format("AWS4-HMAC-SHA256\n{}\n{}\n{}", scope.amz_date, credential_scope,
                                   sha256_hex(out.canonical_request));
  std::string key = hmac("AWS4" + credentials.secret_access_key, date);
  key = hmac(key, scope.region);
  key = hmac(key, scope.service);
  key = hmac(key, "aws4_request");
  out.signature = to_hex(hmac(key, out.string_to_sign));
  out.authorization =
      fmt::format("AWS4-HMAC-SHA256 Credential={}/{}, SignedHeaders={}, Signature={}",
                  credentials.access_key_id, credential_scope, out.signed_headers, out.signature);
  return out;
}

std::string amz_date(long long unix_millis) {
  std::time_t seconds = static_cast<std::time_t>(unix_millis / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%dT%H%M%SZ", &parts);
  return buffer;
}

}  // namespace countersign::doors::http::sigv4
