#include "mask/mask.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>
#include <vector>

namespace countersign::mask {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_email_local(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
bool is_domain_char(char c) { return is_alnum(c) || c == '.' || c == '-'; }
bool is_token_char(char c) { return is_alnum(c) || c == '_' || c == '-'; }

struct Match {
  std::size_t start = 0;
  std::size_t end = 0;
  std::string type;
  std::string replacement;
  std::string detector;
};

// user@example.com: scans outward from each '@'.
std::optional<Match> find_email(std::string_view text, std::size_t at) {
  if (text[at] != '@') return std::nullopt;
  std::size_t start = at;
  while (start > 0 && is_email_local(text[start - 1])) --start;
  std::size_t end = at + 1;
  while (end < text.size() && is_domain_char(text[end])) ++end;
  while (end > at + 1 && (text[end - 1] == '.' || text[end - 1] == '-')) --end;
  std::string_view domain = text.substr(at + 1, end - at - 1);
  auto dot = domain.rfind('.');
  if (start == at || dot == std::string_view::npos || dot == 0 || domain.size() - dot < 3)
    return std::nullopt;
  return Match{start, end, "email", "[EMAIL]", "email"};
}

bool luhn_valid(std::string_view digits) {
  int sum = 0;
  bool double_it = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
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

// 13-19 digits, optionally grouped by spaces or dashes, passing Luhn.
std::optional<Match> find_card(std::string_view text, std::size_t at) {
  if (!is_digit(text[at]) || (at > 0 && (is_alnum(text[at - 1])))) return std::nullopt;
  std::string digits;
  // Where the number may end: after a group of digits, as (digit count, end offset). A card
  // followed by other numbers ("4111 1111 1111 1111 05/27") ends at a group boundary.
  std::vector<std::pair<std::size_t, std::size_t>> stops;
  std::size_t end = at;
  while (end < text.size() && digits.size() < 19) {
    if (is_digit(text[end])) {
      digits.push_back(text[end]);
      if (end + 1 == text.size() || !is_alnum(text[end + 1]))
        stops.emplace_back(digits.size(), end + 1);
    } else if ((text[end] == ' ' || text[end] == '-') && end + 1 < text.size() &&
               is_digit(text[end + 1])) {
    } else {
      break;
    }
    ++end;
  }
  for (auto stop = stops.rbegin(); stop != stops.rend(); ++stop) {
    auto [count, stop_end] = *stop;
    if (count < 13 || !luhn_valid(std::string_view(digits).substr(0, count))) continue;
    return Match{at, stop_end, "credit_card", "****" + digits.substr(count - 4, 4),
                 "credit_card_luhn"};
  }
  return std::nullopt;
}

struct TokenPrefix {
  std::string_view prefix;
  std::size_t min_rest;
  std::string_view type;
};

constexpr TokenPrefix kTokenPrefixes[] = {
    {"AKIA", 16, "aws_access_key_id"}, {"ghp_", 30, "github_token"},
    {"gho_", 30, "github_token"},      {"github_pat_", 30, "github_token"},
    {"glpat-", 20, "gitlab_token"},    {"xoxb-", 10, "slack_token"},
    {"xoxp-", 10, "slack_token"},      {"xoxa-", 10, "slack_token"},
    {"sk_live_", 16, "stripe_key"},    {"sk-ant-", 20, "anthropic_key"},
    {"sk-", 20, "openai_key"},         {"eyJ", 20, "jwt"},
};

std::optional<Match> find_token(std::string_view text, std::size_t at) {
  if (at > 0 && is_token_char(text[at - 1])) return std::nullopt;
  for (const auto& candidate : kTokenPrefixes) {
    if (text.substr(at, candidate.prefix.size()) != candidate.prefix) continue;
    std::size_t end = at + candidate.prefix.size();
    // JWTs continue across '.', other tokens stop at it.
    while (end < text.size() &&
           (is_token_char(text[end]) || (candidate.type == "jwt" && text[end] == '.')))
      ++end;
    if (end - at - candidate.prefix.size() < candidate.min_rest) continue;
    return Match{at, end, std::string(candidate.type), "[SECRET]", "token_prefix"};
  }
  return std::nullopt;
}

std::optional<Match> find_private_key(std::string_view text, std::size_t at) {
  constexpr std::string_view begin = "-----BEGIN ";
  if (text.substr(at, begin.size()) != begin) return std::nullopt;
  auto header_end = text.find("-----", at + begin.size());
  if (header_end == std::string_view::npos) return std::nullopt;
  if (text.substr(at, header_end - at).find("PRIVATE KEY") == std::string_view::npos)
    return std::nullopt;
  auto footer = text.find("-----END ", header_end);
  std::size_t end = text.size();
  if (footer != std::string_view::npos) {
    auto footer_end = text.find("-----", footer + 9);
    end = footer_end == std::string_view::npos ? text.size() : footer_end + 5;
  }
  return Match{at, end, "private_key", "[PRIVATE KEY]", "pem_block"};
}

std::string normalize_key(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '-' || c == '_' || c == '.' || c == ' ') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool is_secret_key(std::string_view key, const MaskProfile& profile) {
  std::string normalized = normalize_key(key);
  return std::any_of(profile.secret_key_words.begin(), profile.secret_key_words.end(),
                     [&](const std::string& word) {
                       return normalized.find(word) != std::string::npos;
                     });
}

std::string escape_pointer(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out.push_back(c);
  }
  return out;
}

boost::json::value mask_value(const boost::json::value& value, const MaskProfile& profile,
                              const std::string& path, std::vector<Finding>& findings) {
  switch (value.kind()) {
    case boost::json::kind::string:
      return boost::json::value(mask_text(value.get_string(), path, &findings));
    case boost::json::kind::array: {
      boost::json::array out;
      const auto& array = value.get_array();
      for (std::size_t i = 0; i < array.size(); ++i)
        out.push_back(mask_value(array[i], profile, path + "/" + std::to_string(i), findings));
      return out;
    }
    case boost::json::kind::object: {
      boost::json::object out;
      for (const auto& [key, child] : value.get_object()) {
        std::string child_path = path + "/" + escape_pointer(key);
        if (is_secret_key(key, profile) && !child.is_null()) {
          findings.push_back({"secret_key", child_path, 0, 0, "secret_key_name"});
          out[key] = "[REDACTED]";
        } else {
          out[key] = mask_value(child, profile, child_path, findings);
        }
      }
      return out;
    }
    default:
      return value;
  }
}

}  // namespace

MaskProfile default_profile() {
  return MaskProfile{"default",
                     {"password", "passwd", "secret", "token", "authorization", "apikey",
                      "privatekey", "credential", "cookie", "sessionid", "accesskey"}};
}

std::string mask_text(std::string_view text, const std::string& path,
                      std::vector<Finding>* findings) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  std::size_t copied_since = 0;  // text[copied_since, i) was copied to out unchanged
  while (i < text.size()) {
    std::optional<Match> match;
    if (text[i] == '@') {
      match = find_email(text, i);
      if (match) {
        match->start = std::max(match->start, copied_since);
        // The local part was already copied: take it back out.
        out.resize(out.size() - (i - match->start));
      }
    } else if (is_digit(text[i])) {
      match = find_card(text, i);
    } else if (text[i] == '-') {
      match = find_private_key(text, i);
    } else {
      match = find_token(text, i);
    }
    if (!match) {
      out.push_back(text[i++]);
      continue;
    }
    if (findings)
      findings->push_back({match->type, path, match->start, match->end, match->detector});
    out += match->replacement;
    i = copied_since = match->end;
  }
  return out;
}

MaskedJson mask_json(const boost::json::value& value, const MaskProfile& profile) {
  MaskedJson result;
  result.value = mask_value(value, profile, "", result.findings);
  return result;
}

boost::json::object to_json(const Finding& finding) {
  return {{"type", finding.type},
          {"path", finding.path},
          {"start", finding.start},
          {"end", finding.end},
          {"detector", finding.detector}};
}

}  // namespace countersign::mask
