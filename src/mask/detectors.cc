#include "mask/detectors.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace countersign::mask {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return is_upper(c) || is_lower(c); }
char lower(char c) { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

std::string digits_of(std::string_view text) {
  std::string out;
  for (char c : text)
    if (is_digit(c)) out.push_back(c);
  return out;
}

bool starts_with_caseless(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(text[i]) != prefix[i]) return false;
  return true;
}

bool contains_caseless(std::string_view text, std::string_view needle) {
  if (needle.empty()) return true;
  for (std::size_t i = 0; i + needle.size() <= text.size(); ++i)
    if (starts_with_caseless(text.substr(i), needle)) return true;
  return false;
}

// Skips a key and its separator ("password = '", "dob: ") and returns where
// the value starts, or npos when there is no ':' or '='.
std::size_t value_start_after_separator(std::string_view text, std::size_t start, std::size_t end) {
  std::size_t i = start;
  while (i < end && text[i] != ':' && text[i] != '=') ++i;
  if (i == end) return std::string_view::npos;
  ++i;
  while (i < end && (text[i] == ' ' || text[i] == '\t' || text[i] == '"' || text[i] == '\'' ||
                     text[i] == '\\'))
    ++i;
  return i;
}

bool looks_like_placeholder(std::string_view value) {
  if (value.empty()) return true;
  if (value.starts_with("${") || value.starts_with("{{") || value.starts_with("%(") ||
      value.starts_with("$(") || value.starts_with("<"))
    return true;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return c == '*' || c == 'x' || c == 'X'; }))
    return true;
  for (std::string_view word : {"redacted", "placeholder", "xxxxxx", "your_", "your-"})
    if (contains_caseless(value, word)) return true;
  return false;
}

// ---------------------------------------------------------------------------
// Validators

bool v_email(std::string_view text, std::size_t& start, std::size_t& end) {
  while (start < end &&
         (text[start] == '.' || text[start] == '-' || text[start] == '+' || text[start] == '%'))
    ++start;
  auto at = text.substr(start, end - start).find('@');
  if (at == std::string_view::npos || at == 0 || at > 64) return false;
  std::string_view local = text.substr(start, at);
  if (local.back() == '.' || local.find("..") != std::string_view::npos) return false;
  return true;
}

bool v_phone_e164(std::string_view text, std::size_t& start, std::size_t& end) {
  std::string_view candidate = text.substr(start, end - start);
  if (!candidate.starts_with("+")) return false;
  std::string digits = digits_of(candidate);
  if (digits.starts_with("1")) {
    if (digits.size() != 11) return false;
  } else if (digits.size() < 10 || digits.size() > 15) {
    return false;
  }
  int open = 0;
  char previous = '+';
  for (char c : candidate.substr(1)) {
    bool separator = c == ' ' || c == '.' || c == '-';
    if (separator && (previous == ' ' || previous == '.' || previous == '-')) return false;
    if (c == '(') {
      if (open++) return false;
    } else if (c == ')') {
      if (!open--) return false;
    }
    previous = c;
  }
  return open == 0;
}

bool v_phone_nanp(std::string_view text, std::size_t& start, std::size_t& end) {
  std::string_view candidate = text.substr(start, end - start);
  if (candidate.empty() || !(candidate[0] == '(' || (candidate[0] >= '1' && candidate[0] <= '9')))
    return false;
  // Separators between the three groups must agree ("555-123.4567" is not a number).
  char first = 0;
  for (char c : candidate) {
    if (c == '-' || c == '.') {
      if (first && first != c) return false;
      first = c;
    }
  }
  return true;
}

bool v_card(std::string_view text, std::size_t& start, std::size_t& end) {
  // Leftmost-start matching can glue a preceding number on ("12 4111 1111 ...");
  // try every group start inside the candidate.
  for (std::size_t s = start; s < end; ++s) {
    if (s > start && !(is_digit(text[s]) && !is_digit(text[s - 1]))) continue;
    if (check::card_number(text.substr(s, end - s))) {
      start = s;
      return true;
    }
  }
  return false;
}

bool v_iban(std::string_view text, std::size_t& start, std::size_t& end) {
  return check::iban(text.substr(start, end - start));
}

bool v_ssn(std::string_view text, std::size_t& start, std::size_t& end) {
  return check::us_ssn(text.substr(start, end - start));
}

bool v_ssn_keyword(std::string_view text, std::size_t& start, std::size_t& end) {
  if (end - start < 9) return false;
  start = end - 9;
  return check::us_ssn(text.substr(start, 9));
}

bool v_nino(std::string_view text, std::size_t& start, std::size_t& end) {
  return check::uk_nino(text.substr(start, end - start));
}

bool v_ipv4(std::string_view text, std::size_t& start, std::size_t& end) {
  if (!check::ipv4(text.substr(start, end - start))) return false;
  // "version 4.2.1.7", "v1.2.3.4": a version, not an address.
  std::size_t from = start >= 12 ? start - 12 : 0;
  std::string_view before = text.substr(from, start - from);
  if (contains_caseless(before, "version") || contains_caseless(before, "ver ") ||
      contains_caseless(before, "build") || contains_caseless(before, "release"))
    return false;
  return true;
}

bool v_ipv6(std::string_view text, std::size_t& start, std::size_t& end) {
  return check::ipv6(text.substr(start, end - start));
}

bool v_mac_dotted(std::string_view text, std::size_t& start, std::size_t& end) {
  std::string_view candidate = text.substr(start, end - start);
  return std::any_of(candidate.begin(), candidate.end(), is_digit);
}

bool v_dob(std::string_view text, std::size_t& start, std::size_t& end) {
  // Skip the keyword: the date begins at the first digit, or at a month name
  // after the keyword's separator.
  std::size_t i = start;
  while (i < end && is_alpha(text[i])) ++i;  // first keyword word
  while (i < end) {
    char c = text[i];
    if (is_digit(c)) break;
    if (is_upper(c) && i > start && !is_alpha(text[i - 1]) && check::date(text.substr(i, end - i)))
      break;
    ++i;
  }
  if (i >= end) return false;
  if (!check::date(text.substr(i, end - i))) return false;
  start = i;
  return true;
}

bool has_digit(std::string_view v) { return std::any_of(v.begin(), v.end(), is_digit); }
bool has_upper(std::string_view v) { return std::any_of(v.begin(), v.end(), is_upper); }
bool has_lower(std::string_view v) { return std::any_of(v.begin(), v.end(), is_lower); }

// The key before the separator names something about a secret, not the secret.
bool key_names_metadata(std::string_view key) {
  for (std::string_view word :
       {"name",    "type",  "path",   "file",    "url",   "uri",      "endpoint",
        "version", "count", "length", "expir",   "ttl",   "ref",      "id\"",
        "_id",     "len",   "size",   "manager", "store", "rotation", "policy",
        "header",  "field", "param",  "hint",    "reset", "label"})
    if (contains_caseless(key, word)) return true;
  return false;
}

bool v_generic_secret(std::string_view text, std::size_t& start, std::size_t& end) {
  std::size_t value = value_start_after_separator(text, start, end);
  if (value == std::string_view::npos || end - value < 8) return false;
  if (key_names_metadata(text.substr(start, value - start))) return false;
  std::string_view v = text.substr(value, end - value);
  if (looks_like_placeholder(v)) return false;
  if (!has_upper(v) && !has_lower(v)) {
    // All digits and symbols: a secret only when long and varied.
    if (v.size() < 12 || check::shannon_entropy(v) < 3.0) return false;
  }
  double entropy = check::shannon_entropy(v);
  bool strong = (has_digit(v) && entropy >= 2.5) ||
                (v.size() >= 12 && has_upper(v) && has_lower(v) && entropy >= 3.2);
  // After "password:", a shorter value counts when it does not read as a
  // word: an upper-case letter after the first, a digit or a symbol.
  if (!strong && starts_with_caseless(text.substr(start), "pass") && v.size() >= 6) {
    bool inner_upper = std::any_of(v.begin() + 1, v.end(), is_upper);
    bool symbol =
        std::any_of(v.begin(), v.end(), [](char c) { return !is_alpha(c) && !is_digit(c); });
    strong = (inner_upper && has_lower(v)) || has_digit(v) || symbol;
  }
  if (!strong) return false;
  start = value;
  return true;
}

bool v_password_assignment(std::string_view text, std::size_t& start, std::size_t& end) {
  std::size_t value = value_start_after_separator(text, start, end);
  if (value == std::string_view::npos || value >= end) return false;
  std::string_view v = text.substr(value, end - value);
  if (looks_like_placeholder(v)) return false;
  start = value;
  return true;
}

bool v_keyword_value_strong(std::string_view text, std::size_t& start, std::size_t& end) {
  std::size_t value = value_start_after_separator(text, start, end);
  if (value == std::string_view::npos || value >= end) return false;
  std::string_view v = text.substr(value, end - value);
  if (looks_like_placeholder(v) || check::shannon_entropy(v) < 3.5) return false;
  start = value;
  return true;
}

bool v_bearer(std::string_view text, std::size_t& start, std::size_t& end) {
  std::size_t i = end;
  while (i > start && text[i - 1] != ' ' && text[i - 1] != '\t') --i;
  std::string_view v = text.substr(i, end - i);
  if (v.size() < 16 || looks_like_placeholder(v) || check::shannon_entropy(v) < 3.0) return false;
  start = i;
  return true;
}

bool v_url_password(std::string_view text, std::size_t& start, std::size_t& end) {
  std::string_view candidate = text.substr(start, end - start);
  auto scheme = candidate.find("://");
  if (scheme == std::string_view::npos || candidate.back() != '@') return false;
  auto colon = candidate.find(':', scheme + 3);
  if (colon == std::string_view::npos || colon + 1 >= candidate.size() - 1) return false;
  std::string_view password = candidate.substr(colon + 1, candidate.size() - 1 - colon - 1);
  if (looks_like_placeholder(password)) return false;
  end = start + candidate.size() - 1;
  start = start + colon + 1;
  return true;
}

bool v_jwt(std::string_view text, std::size_t& start, std::size_t& end) {
  std::string_view token = text.substr(start, end - start);
  auto dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) == std::string_view::npos)
    return false;
  // Decode the header (base64url) far enough to see a JSON object with "alg" or "typ".
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string header;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : token.substr(0, std::min<std::size_t>(dot, 256))) {
    auto index = kAlphabet.find(c);
    if (index == std::string_view::npos) return false;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(index);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      header.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  return header.starts_with("{") && (header.find("\"alg\"") != std::string::npos ||
                                     header.find("\"typ\"") != std::string::npos);
}

// Extends a "-----BEGIN ... PRIVATE KEY-----" header to the end of its block
// ("-----END ...-----"), or to the end of the text when the block is cut off.
bool v_pem_block(std::string_view text, std::size_t& start, std::size_t& end) {
  auto begin = text.substr(start, end - start).find("-----BEGIN");
  if (begin == std::string_view::npos) return false;
  start += begin;
  auto footer = text.find("-----END ", end);
  if (footer == std::string_view::npos) {
    end = text.size();
  } else {
    auto footer_end = text.find("-----", footer + 9);
    end = footer_end == std::string_view::npos ? text.size() : footer_end + 5;
  }
  return true;
}

bool v_hex_after_key(std::string_view text, std::size_t& start, std::size_t& end) {
  std::size_t i = end;
  while (i > start && std::isxdigit(static_cast<unsigned char>(text[i - 1]))) --i;
  if (end - i < 32) return false;
  start = i;
  return true;
}

bool v_azure_key(std::string_view text, std::size_t& start, std::size_t& end) {
  std::size_t value = value_start_after_separator(text, start, end);
  if (value == std::string_view::npos || end - value != 88) return false;
  start = value;
  return check::shannon_entropy(text.substr(start, 86)) >= 4.0;
}

bool v_openai(std::string_view text, std::size_t& start, std::size_t& end) {
  std::string_view token = text.substr(start, end - start);
  if (token.starts_with("sk-ant-")) return false;
  std::string_view tail = token.substr(3);
  for (std::string_view prefix : {"proj-", "svcacct-", "admin-"})
    if (tail.starts_with(prefix)) tail.remove_prefix(prefix.size());
  return tail.size() >= 20 && has_digit(tail) && has_upper(tail) && has_lower(tail) &&
         check::shannon_entropy(tail) >= 3.5;
}

bool v_high_entropy(std::string_view text, std::size_t& start, std::size_t& end) {
  return check::shannon_entropy(text.substr(start, end - start)) >= 3.0;
}

// ---------------------------------------------------------------------------
// IBAN lengths per country (ISO 13616 registry).
struct IbanCountry {
  char code[3];
  int length;
};
constexpr IbanCountry kIbanCountries[] = {
    {"AD", 24},
    {"AE", 23},
    {"AL", 28},
    {"AT", 20},
    {"AZ", 28},
    {"BA", 20},
    {"BE", 16},
    {"BG", 22},
    {"BH", 22},
    {"BI", 27},
    {"BR", 29},
    {"BY", 28},
    {"CH", 21},
    {"CR", 22},
    {"CY", 28},
    {"CZ", 24},
    {"DE", 22},
    {"DJ", 27},
    {"DK", 18},
    {"DO", 28},
    {"EE", 20},
    {"EG", 29},
    {"ES", 24},
    {"FI", 18},
    {"FK", 18},
    {"FO", 18},
    {"FR", 27},
    {"GB", 22},
    {"GE", 22},
    {"GI", 23},
    {"GL", 18},
    {"GR", 27},
    {"GT", 28},
    {"HR", 21},
    {"HU", 28},
    {"IE", 22},
    {"IL", 23},
    {"IQ", 23},
    {"IS", 26},
    {"IT", 27},
    {"JO", 30},
    {"KW", 30},
    {"KZ", 20},
    {"LB", 28},
    {"LC", 32},
    {"LI", 21},
    {"LT", 20},
    {"LU", 20},
    {"LV", 21},
    {"LY", 25},
    {"MC", 27},
    {"MD", 24},
    {"ME", 22},
    {"MK", 19},
    {"MN", 20},
    {"MR", 27},
    {"MT", 31},
    {"MU", 30},
    {"NI", 28},
    {"NL", 18},
    {"NO", 15},
    {"OM", 23},
    {"PK", 24},
    {"PL", 28},
    {"PS", 29},
    {"PT", 25},
    {"QA", 29},
    {"RO", 24},
    {"RS", 22},
    {"RU", 33},
    {"SA", 24},
    {"SC", 31},
    {"SD", 18},
    {"SE", 24},
    {"SI", 19},
    {"SK", 24},
    {"SM", 27},
    {"SO", 23},
    {"ST", 25},
    {"SV", 28},
    {"TL", 23},
    {"TN", 24},
    {"TR", 26},
    {"UA", 29},
    {"VA", 22},
    {"VG", 24},
    {"XK", 20},
    {"YE", 30},
    // Used in practice outside the registry (iban.com "experimental" list).
    {"AO", 25},
    {"BF", 28},
    {"BJ", 28},
    {"CF", 27},
    {"CG", 27},
    {"CI", 28},
    {"CM", 27},
    {"CV", 25},
    {"DZ", 24},
    {"GA", 27},
    {"GQ", 27},
    {"GW", 25},
    {"HN", 28},
    {"IR", 26},
    {"KM", 27},
    {"MA", 28},
    {"MG", 27},
    {"ML", 28},
    {"MZ", 25},
    {"NE", 28},
    {"SN", 28},
    {"TD", 27},
    {"TG", 28},
};

// ---------------------------------------------------------------------------
// The catalog.

constexpr Boundary kNone = Boundary::none;
constexpr Boundary kAlnum = Boundary::alnum;
constexpr Boundary kNumber = Boundary::number;
constexpr Boundary kToken = Boundary::token;
constexpr Boundary kHex = Boundary::hex;

// Keys that put a secret right after them ("password: ...", "api_key=...").
constexpr const char* kSecretKeywords =
    R"((?i:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|)"
    R"(auth[_\-]?key|client[_\-]?secret|private[_\-]?key|credentials?|signing[_\-]?key))";
constexpr const char* kSeparator = R"([A-Za-z0-9_\-]*["'\\]*[ \t]*[:=][ \t]*["'\\]*)";

std::vector<Detector> make_catalog() {
  const std::string keyword = kSecretKeywords;
  const std::string sep = kSeparator;
  const std::string month =
      "(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
      "Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)";
  const std::string date =
      "(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}|"
      "[0-9]{1,2}[/.\\-][0-9]{1,2}[/.\\-][0-9]{2,4}|" +
      month + " [0-9]{1,2},? [0-9]{4}|[0-9]{1,2} " + month + ",? [0-9]{4})";
  std::vector<Detector> d;
  // Credentials with a recognisable shape.
  d.push_back({"pem_private_key", "private_key",
               R"(-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)", false, v_pem_block, 0.99,
               kNone, kNone});
  d.push_back({"gcp_service_account_private_key", "gcp_service_account_key",
               R"(\\?"private_key\\?"[ \t]*:[ \t]*\\?"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----)",
               false, v_pem_block, 0.995, kNone, kNone});
  d.push_back({"gcp_service_account_key_id", "gcp_service_account_key",
               R"(\\?"private_key_id\\?"[ \t]*:[ \t]*\\?"[0-9a-f]{40})", false, v_hex_after_key,
               0.97, kNone, kAlnum});
  d.push_back({"aws_access_key_id", "aws_access_key_id",
               R"((?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})", false, nullptr, 0.95, kAlnum,
               kAlnum});
  d.push_back(
      {"aws_secret_access_key", "aws_secret_access_key",
       R"((?i:aws[_\-]?secret(?:[_\-]?access)?(?:[_\-]?key)?|secret[_\-]?access[_\-]?key))" + sep +
           R"([A-Za-z0-9/+]{40})",
       false, v_keyword_value_strong, 0.96, kNone, kAlnum});
  // Two patterns: Vectorscan 5.4.9 overruns a buffer at scan time on the
  // alternation of both prefixes under SOM_LEFTMOST.
  d.push_back({"azure_storage_connection_string", "azure_storage_key",
               R"(AccountKey=[A-Za-z0-9+/]{40,}==)", false, v_azure_key, 0.97, kNone, kNone});
  d.push_back(
      {"azure_storage_account_key", "azure_storage_key",
       R"((?i:azure[_\-]?storage[_\-]?(?:account[_\-]?)?key)[A-Za-z0-9_\-]*["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9+/]{40,}==)",
       false, v_azure_key, 0.97, kNone, kNone});
  d.push_back({"github_token", "github_token", R"(gh[pousr]_[A-Za-z0-9]{36,})", false, nullptr,
               0.97, kToken, kToken});
  d.push_back({"github_fine_grained_token", "github_token", R"(github_pat_[A-Za-z0-9_]{60,})",
               false, nullptr, 0.97, kToken, kToken});
  d.push_back({"gitlab_token", "gitlab_token",
               R"(gl(?:pat|dt|rt|ptt|ft|imt|oas|cbt|soat|agent)-[A-Za-z0-9_\-]{20,})", false,
               nullptr, 0.96, kToken, kToken});
  d.push_back({"slack_token", "slack_token", R"(xox[abposre]-[0-9A-Za-z][A-Za-z0-9\-]{9,})", false,
               nullptr, 0.96, kToken, kToken});
  d.push_back({"slack_app_token", "slack_token", R"(xapp-[0-9]-[A-Za-z0-9\-]{20,})", false, nullptr,
               0.96, kToken, kToken});
  d.push_back({"slack_webhook_url", "slack_webhook",
               R"(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+\-]{20,})",
               false, nullptr, 0.98, kNone, kToken});
  d.push_back({"stripe_secret_key", "stripe_key", R"((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,})",
               false, nullptr, 0.96, kToken, kToken});
  d.push_back({"stripe_webhook_secret", "stripe_key", R"(whsec_[A-Za-z0-9]{24,})", false, nullptr,
               0.96, kToken, kToken});
  d.push_back({"anthropic_api_key", "anthropic_key", R"(sk-ant-[A-Za-z0-9_\-]{20,})", false,
               nullptr, 0.97, kToken, kToken});
  d.push_back({"openai_api_key", "openai_key", R"(sk-[A-Za-z0-9_\-]{20,})", false, v_openai, 0.93,
               kToken, kToken});
  d.push_back({"jwt", "jwt", R"(eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{0,})",
               false, v_jwt, 0.95, kToken, kToken});
  d.push_back({"url_userinfo_password", "password",
               R"([A-Za-z][A-Za-z0-9+.\-]{1,15}://[^\s:/@?#"'<>]*:[^\s@/"'<>]+@)", false,
               v_url_password, 0.95, kNone, kNone});
  d.push_back({"connection_string_password", "password",
               R"((?i:password|passwd|pwd)[ \t]{0,3}=[ \t]{0,3}["']?[^\s;"'&,]+)", false,
               v_password_assignment, 0.9, kAlnum, kNone});
  d.push_back(
      {"authorization_header", "secret",
       R"((?i:authorization|proxy-authorization)["']?[ \t]{0,3}[:=][ \t]{0,3}["']?(?i:bearer|basic|token|apikey)[ \t]+[A-Za-z0-9+/=_\-.~]{16,})",
       false, v_bearer, 0.7, kAlnum, kToken});
  d.push_back({"keyword_secret", "secret", keyword + sep + R"([A-Za-z0-9+/=_\-.~!@#$%^&*]{8,})",
               false, v_generic_secret, 0.6, kAlnum, kNone});
  // Personal data.
  d.push_back(
      {"email", "email",
       R"([A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,})",
       false, v_email, 0.9, kNone, kToken});
  d.push_back({"phone_e164", "phone", R"(\+[1-9][0-9 .\-()]{6,20}[0-9])", false, v_phone_e164, 0.85,
               kNumber, kNumber});
  d.push_back(
      {"phone_nanp", "phone",
       R"((?:1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}(?: ?(?:x|ext\.?) ?[0-9]{1,5})?)",
       false, v_phone_nanp, 0.8, kNumber, kNumber});
  d.push_back({"credit_card_luhn", "credit_card", R"([0-9](?:[ \-]?[0-9]){11,18})", false, v_card,
               0.9, kNumber, kNumber});
  d.push_back({"iban", "iban", R"([A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30})", false, v_iban, 0.92,
               kNumber, kNumber});
  d.push_back({"us_ssn", "us_ssn", R"([0-9]{3}(?:-[0-9]{2}-|[ ][0-9]{2}[ ])[0-9]{4})", false, v_ssn,
               0.85, kNumber, kNumber});
  d.push_back({"us_ssn_keyword", "us_ssn",
               R"((?i:ssn|social security(?: number| no\.?)?)[^A-Za-z0-9\n]{1,6}[0-9]{9})", false,
               v_ssn_keyword, 0.85, kAlnum, kAlnum});
  d.push_back({"uk_nino", "uk_nino",
               R"([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D])", false,
               v_nino, 0.88, kNumber, kNumber});
  d.push_back({"ipv4", "ipv4", R"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", false, v_ipv4,
               0.8, kNumber, kNumber});
  // Full form (eight groups) or compressed ("::"); inet_pton decides. Clock
  // times ("12:30:45") match neither.
  d.push_back({"ipv6", "ipv6", R"([0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){7})", false, v_ipv6, 0.8,
               kHex, kHex});
  d.push_back(
      {"ipv6_compressed", "ipv6",
       R"([0-9A-Fa-f:]{0,30}::[0-9A-Fa-f:]{0,30}(?:[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})?)",
       false, v_ipv6, 0.8, kHex, kHex});
  d.push_back({"mac_address", "mac_address", R"([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})", false,
               nullptr, 0.85, kHex, kHex});
  d.push_back({"mac_address_dashed", "mac_address", R"([0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5})",
               false, nullptr, 0.85, kToken, kToken});
  d.push_back({"mac_address_dotted", "mac_address", R"([0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4})",
               false, v_mac_dotted, 0.8, kNumber, kNumber});
  d.push_back(
      {"date_of_birth", "date_of_birth",
       R"((?i:d\.?o\.?b\.?|date[ _\-]?of[ _\-]?birth|birth[ _\-]?date|birthday|born(?: on)?))"
       R"(["'\\]{0,2}[ \t]{0,3}[:=]?[ \t]{0,3}["'\\]{0,2}[ \t]{0,2})" +
           date,
       false, v_dob, 0.85, kAlnum, kAlnum});
  // Every match of these lies around a run of digits that the scanner's
  // digit-run check flags (scanner.cc, digit_run_at): cards, SSNs and
  // phone numbers are digits with single separators; IPv4 addresses have
  // three dots; NINOs and IBANs start with capital letters right before
  // their digits. Changing one of these patterns means checking that the
  // check still flags every match (MaskScanner.GateMissesNothing).
  for (Detector& detector : d) {
    if (detector.name == "credit_card_luhn") detector.gate = Gate::digit_run_long;
    if (detector.name == "us_ssn") detector.gate = Gate::digit_groups_ssn;
    if (detector.name == "phone_nanp") detector.gate = Gate::digit_groups_phone;
    if (detector.name == "ipv4") detector.gate = Gate::digit_run_dotted;
    if (detector.name == "uk_nino" || detector.name == "iban")
      detector.gate = Gate::digits_after_capitals;
  }
  // No pattern above matches a '\n' (their character classes are [ \t],
  // token characters, or exclude \s or \n), so a window for one of them
  // need not reach back past the start of the line. PEM blocks span lines,
  // but only their validator reads past the BEGIN line the pattern matches.
  // A pattern added here that may match a '\n' must leave this false.
  for (Detector& detector : d) detector.single_line = true;
  // Every match of these has separators of one kind a fixed distance apart
  // with hex digits between them, which the scanner's hex-group check
  // (scanner.cc, hex_run_windows) flags.
  for (Detector& detector : d)
    if (detector.name == "mac_address" || detector.name == "mac_address_dashed" ||
        detector.name == "mac_address_dotted" || detector.name == "ipv6")
      detector.gate = Gate::hex_run;
  return d;
}

}  // namespace

const std::vector<Detector>& builtin_detectors() {
  static const std::vector<Detector> catalog = make_catalog();
  return catalog;
}

std::optional<Validator> named_validator(std::string_view name) {
  if (name == "luhn")
    return +[](std::string_view t, std::size_t& s, std::size_t& e) {
      return check::luhn(digits_of(t.substr(s, e - s)));
    };
  if (name == "credit_card") return v_card;
  if (name == "iban") return v_iban;
  if (name == "us_ssn") return v_ssn;
  if (name == "uk_nino") return v_nino;
  if (name == "ipv4") return v_ipv4;
  if (name == "ipv6") return v_ipv6;
  if (name == "date")
    return +[](std::string_view t, std::size_t& s, std::size_t& e) {
      return check::date(t.substr(s, e - s));
    };
  if (name == "entropy") return v_high_entropy;
  if (name == "keyword_value") return v_generic_secret;
  return std::nullopt;
}

std::vector<std::string> validator_names() {
  return {"luhn", "credit_card", "iban", "us_ssn",  "uk_nino",
          "ipv4", "ipv6",        "date", "entropy", "keyword_value"};
}

std::string default_label(std::string_view type) {
  static const std::pair<std::string_view, std::string_view> kLabels[] = {
      {"email", "[EMAIL]"},
      {"phone", "[PHONE]"},
      {"credit_card", "[CARD]"},
      {"iban", "[IBAN]"},
      {"us_ssn", "[SSN]"},
      {"uk_nino", "[NINO]"},
      {"ipv4", "[IP]"},
      {"ipv6", "[IP]"},
      {"mac_address", "[MAC]"},
      {"date_of_birth", "[DOB]"},
      {"private_key", "[PRIVATE KEY]"},
      {"gcp_service_account_key", "[SECRET]"},
      {"secret_key", "[REDACTED]"},
      {"password", "[PASSWORD]"},
      {"secret", "[SECRET]"},
      {"aws_access_key_id", "[SECRET]"},
      {"aws_secret_access_key", "[SECRET]"},
      {"azure_storage_key", "[SECRET]"},
      {"github_token", "[SECRET]"},
      {"gitlab_token", "[SECRET]"},
      {"slack_token", "[SECRET]"},
      {"slack_webhook", "[SECRET]"},
      {"stripe_key", "[SECRET]"},
      {"openai_key", "[SECRET]"},
      {"anthropic_key", "[SECRET]"},
      {"jwt", "[SECRET]"},
  };
  for (const auto& [name, label] : kLabels)
    if (name == type) return std::string(label);
  std::string out = "[";
  for (char c : type)
    out.push_back(c == '_' || c == '-'
                      ? '_'
                      : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out + "]";
}

namespace check {

bool luhn(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool double_it = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (!is_digit(*it)) return false;
    int digit = *it - '0';
    if (double_it) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
    double_it = !double_it;
  }
  return sum % 10 == 0;
}

bool card_number(std::string_view candidate) {
  // Separators: none, or one kind (space or dash) between groups of 3-6 digits.
  std::string digits;
  char separator = 0;
  std::size_t group = 0;
  std::vector<std::size_t> groups;
  for (char c : candidate) {
    if (is_digit(c)) {
      digits.push_back(c);
      ++group;
    } else if (c == ' ' || c == '-') {
      if (separator && separator != c) return false;
      separator = c;
      groups.push_back(group);
      group = 0;
    } else {
      return false;
    }
  }
  groups.push_back(group);
  if (separator) {
    // 4-4-4-4 (and 4-4-4-4-1..3 for 17-19 digits), or Amex/Diners 4-6-5 and 4-6-4.
    bool fours = groups.size() >= 4 && groups.size() <= 5 && groups[0] == 4 && groups[1] == 4 &&
                 groups[2] == 4 && groups[3] == 4 &&
                 (groups.size() == 4 || (groups[4] >= 1 && groups[4] <= 3));
    bool amex_diners = groups.size() == 3 && groups[0] == 4 && groups[1] == 6 &&
                       (groups[2] == 5 || groups[2] == 4);
    if (!fours && !amex_diners) return false;
  }
  const std::size_t n = digits.size();
  if (n < 13 || n > 19) return false;
  auto prefix = [&](std::size_t len) { return std::stoi(digits.substr(0, len)); };
  bool issuer = false;
  switch (digits[0]) {
    case '4':  // Visa
      issuer = n == 13 || n == 16 || n == 19;
      break;
    case '5': {  // Mastercard 51-55, Maestro 50/56-58
      int p2 = prefix(2);
      issuer =
          (p2 >= 51 && p2 <= 55 && n == 16) || ((p2 == 50 || (p2 >= 56 && p2 <= 58)) && n >= 12);
      break;
    }
    case '2': {  // Mastercard 2221-2720
      int p4 = prefix(4);
      issuer = p4 >= 2221 && p4 <= 2720 && n == 16;
      break;
    }
    case '3': {  // Amex 34/37, Diners 300-305/36/38/39, JCB 3528-3589
      int p2 = prefix(2);
      int p3 = prefix(3);
      int p4 = prefix(4);
      issuer = ((p2 == 34 || p2 == 37) && n == 15) ||
               (((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) && n >= 14) ||
               (p4 >= 3528 && p4 <= 3589 && n >= 16);
      break;
    }
    case '6':  // Discover, UnionPay, Maestro, RuPay
      issuer = n >= 12;
      break;
    default:
      issuer = false;
  }
  return issuer && luhn(digits);
}

bool iban(std::string_view candidate) {
  std::string compact;
  for (char c : candidate) {
    if (c == ' ') continue;
    if (!is_upper(c) && !is_digit(c)) return false;
    compact.push_back(c);
  }
  if (compact.size() < 15 || compact.size() > 34) return false;
  // Spaced IBANs are grouped by four from the start.
  if (candidate.find(' ') != std::string_view::npos) {
    for (std::size_t i = 0; i < candidate.size(); ++i) {
      bool should_be_space = i % 5 == 4;
      if ((candidate[i] == ' ') != should_be_space) return false;
    }
  }
  int expected = 0;
  for (const auto& country : kIbanCountries)
    if (compact.compare(0, 2, country.code) == 0) expected = country.length;
  if (expected == 0 || static_cast<int>(compact.size()) != expected) return false;
  if (!is_digit(compact[2]) || !is_digit(compact[3])) return false;
  std::string rearranged = compact.substr(4) + compact.substr(0, 4);
  int remainder = 0;
  for (char c : rearranged) {
    int value = is_digit(c) ? c - '0' : c - 'A' + 10;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder == 1;
}

bool us_ssn(std::string_view candidate) {
  std::string digits = digits_of(candidate);
  if (digits.size() != 9) return false;
  if (candidate.size() == 11) {
    char s = candidate[3];
    if ((s != '-' && s != ' ') || candidate[6] != s) return false;
  } else if (candidate.size() != 9) {
    return false;
  }
  int area = std::stoi(digits.substr(0, 3));
  int group = std::stoi(digits.substr(3, 2));
  int serial = std::stoi(digits.substr(5, 4));
  if (area == 0 || area == 666 || area >= 900) return false;
  if (group == 0 || serial == 0) return false;
  if (digits == "078051120" || digits == "219099999" || digits == "123456789") return false;
  return true;
}

bool uk_nino(std::string_view candidate) {
  std::string compact;
  for (char c : candidate)
    if (c != ' ') compact.push_back(c);
  if (compact.size() != 9) return false;
  std::string_view prefix(compact.data(), 2);
  for (std::string_view bad : {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})
    if (prefix == bad) return false;
  if (std::strchr("DFIQUV", compact[0]) || std::strchr("DFIOQUV", compact[1])) return false;
  for (int i = 2; i < 8; ++i)
    if (!is_digit(compact[i])) return false;
  if (compact[8] < 'A' || compact[8] > 'D') return false;
  // Spaced form: "AB 12 34 56 C" only.
  if (candidate.size() != 9 &&
      candidate != std::string_view(compact.substr(0, 2) + " " + compact.substr(2, 2) + " " +
                                    compact.substr(4, 2) + " " + compact.substr(6, 2) + " " +
                                    compact.substr(8, 1)))
    return false;
  return true;
}

bool ipv4(std::string_view candidate) {
  int parts = 0;
  std::size_t i = 0;
  while (i <= candidate.size()) {
    std::size_t j = i;
    while (j < candidate.size() && is_digit(candidate[j])) ++j;
    std::size_t len = j - i;
    if (len == 0 || len > 3) return false;
    if (len > 1 && candidate[i] == '0') return false;
    if (std::stoi(std::string(candidate.substr(i, len))) > 255) return false;
    ++parts;
    if (j == candidate.size()) break;
    if (candidate[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

bool ipv6(std::string_view candidate) {
  if (candidate.size() < 3 || candidate.size() > 45) return false;
  std::string copy(candidate);
  in6_addr address{};
  if (inet_pton(AF_INET6, copy.c_str(), &address) != 1) return false;
  // At least two groups written out: "::" or "a::" alone is not an address someone typed.
  int groups = 0;
  bool in_group = false;
  for (char c : candidate) {
    bool hex = std::isxdigit(static_cast<unsigned char>(c)) != 0;
    if (hex && !in_group) ++groups;
    in_group = hex || c == '.';
  }
  if (groups < 2) return false;
  // Compressed forms need a few digits: "a::b" is code, not an address.
  if (candidate.find("::") != std::string_view::npos)
    return std::count_if(candidate.begin(), candidate.end(), [](char c) {
             return std::isxdigit(static_cast<unsigned char>(c)) != 0;
           }) >= 4;
  return true;
}

bool date(std::string_view candidate) {
  // Forms: YYYY-MM-DD, YYYY/MM/DD, DD/MM/YYYY, MM/DD/YYYY, DD.MM.YYYY, "March 5, 1980",
  // "5 March 1980". Two-digit years are allowed in the numeric forms.
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  auto number = [](std::string_view s, std::size_t& i, int max_digits) {
    int value = 0, n = 0;
    while (i < s.size() && is_digit(s[i]) && n < max_digits)
      value = value * 10 + (s[i++] - '0'), ++n;
    return n == 0 ? -1 : value;
  };
  auto month_name = [&](std::string_view s, std::size_t& i) {
    if (i + 3 > s.size()) return -1;
    for (int m = 0; m < 12; ++m)
      if (starts_with_caseless(s.substr(i), kMonths[m])) {
        while (i < s.size() && is_alpha(s[i])) ++i;
        return m + 1;
      }
    return -1;
  };
  auto plausible = [](int year, int month, int day) {
    if (year < 100) year += year < 30 ? 2000 : 1900;
    return year >= 1900 && year <= 2030 && month >= 1 && month <= 12 && day >= 1 && day <= 31;
  };
  std::size_t i = 0;
  if (!candidate.empty() && is_alpha(candidate[0])) {
    int month = month_name(candidate, i);
    if (month < 0 || i >= candidate.size() || candidate[i] != ' ') return false;
    ++i;
    int day = number(candidate, i, 2);
    if (i < candidate.size() && candidate[i] == ',') ++i;
    if (i >= candidate.size() || candidate[i] != ' ') return false;
    ++i;
    int year = number(candidate, i, 4);
    return i == candidate.size() && year >= 1000 && plausible(year, month, day);
  }
  int first = number(candidate, i, 4);
  std::size_t first_len = i;
  if (first < 0 || i >= candidate.size()) return false;
  char sep = candidate[i++];
  if (sep == ' ') {
    int month = month_name(candidate, i);
    if (month < 0) return false;
    if (i < candidate.size() && candidate[i] == ',') ++i;
    if (i >= candidate.size() || candidate[i] != ' ') return false;
    ++i;
    int year = number(candidate, i, 4);
    return i == candidate.size() && year >= 1000 && plausible(year, month, first);
  }
  if (sep != '-' && sep != '/' && sep != '.') return false;
  int second = number(candidate, i, 2);
  if (second < 0 || i >= candidate.size() || candidate[i++] != sep) return false;
  std::size_t third_start = i;
  int third = number(candidate, i, 4);
  if (i != candidate.size() || third < 0) return false;
  std::size_t third_len = i - third_start;
  if (first_len == 4) return plausible(first, second, third) && third_len <= 2;
  if (third_len != 4 && third_len != 2) return false;
  return plausible(third, second, first) || plausible(third, first, second);
}

double shannon_entropy(std::string_view value) {
  if (value.empty()) return 0;
  std::array<int, 256> counts{};
  for (unsigned char c : value) ++counts[c];
  double entropy = 0;
  const double n = static_cast<double>(value.size());
  for (int count : counts) {
    if (count == 0) continue;
    double p = count / n;
    entropy -= p * std::log2(p);
  }
  return entropy;
}

}  // namespace check
}  // namespace countersign::mask
