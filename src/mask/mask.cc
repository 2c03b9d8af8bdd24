#include "mask/mask.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/canonical_json.h"
#include "core/hash.h"
#include "mask/detectors.h"
#include "mask/scanner.h"

namespace countersign::mask {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::string normalize_key(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '-' || c == '_' || c == '.' || c == ' ') continue;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool is_secret_key(const std::string& normalized, const MaskProfile& profile) {
  return std::any_of(profile.secret_key_words.begin(), profile.secret_key_words.end(),
                     [&](const std::string& word) {
                       return !word.empty() && normalized.find(word) != std::string::npos;
                     });
}

std::string escape_pointer(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out.push_back(c);
  }
  return out;
}

const std::string& process_hash_key() {
  static const std::string key = random_bytes(32);
  return key;
}

// What a value is compared by under `hash`: separators and case do not
// make two cards, phones or addresses different.
std::string hash_input(std::string_view type, std::string_view value) {
  std::string out(type);
  out.push_back('\0');
  if (type == "credit_card" || type == "phone" || type == "iban" || type == "us_ssn" ||
      type == "uk_nino") {
    for (char c : value)
      if (is_alnum(c))
        out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  } else if (type == "email" || type == "mac_address" || type == "ipv6") {
    for (char c : value)
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  } else {
    out.append(value);
  }
  return out;
}

std::string hmac_hex(const std::string& key, const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest), length));
}

class Replacer {
 public:
  explicit Replacer(const MaskProfile& profile) : profile_(profile) {}

  Strategy strategy(const std::string& type) const {
    auto found = profile_.strategies.find(type);
    if (found != profile_.strategies.end()) return found->second;
    found = profile_.strategies.find("*");
    if (found != profile_.strategies.end()) return found->second;
    return type == "credit_card" ? Strategy::partial : Strategy::redact;
  }

  std::string label(const std::string& type) const {
    auto found = profile_.labels.find(type);
    return found != profile_.labels.end() ? found->second : default_label(type);
  }

  std::string replace(const std::string& type, std::string_view value) const {
    switch (strategy(type)) {
      case Strategy::redact:
        return label(type);
      case Strategy::partial:
        return partial(type, value);
      case Strategy::hash: {
        const std::string& key = profile_.hash_key ? *profile_.hash_key : process_hash_key();
        std::string text = label(type);
        if (text.size() >= 2 && text.back() == ']')
          text.pop_back();
        else
          text = "[" + text;
        return text + ":" + hmac_hex(key, hash_input(type, value)).substr(0, 12) + "]";
      }
    }
    return label(type);
  }

 private:
  std::string partial(const std::string& type, std::string_view value) const {
    if (type == "private_key" || type == "gcp_service_account_key") return label(type);
    if (type == "email") {
      auto at = value.rfind('@');
      if (at != std::string_view::npos && at > 0)
        return std::string(1, value[0]) + "***" + std::string(value.substr(at));
    }
    std::string tail;
    std::size_t alnum = 0;
    for (char c : value)
      if (is_alnum(c)) ++alnum;
    // Show the last four letters or digits only when they are a small part of the value.
    if (alnum >= 8) {
      for (auto it = value.rbegin(); it != value.rend() && tail.size() < 4; ++it)
        if (is_alnum(*it)) tail.insert(tail.begin(), *it);
    }
    return "****" + tail;
  }

  const MaskProfile& profile_;
};

const Scanner& scanner_of(const MaskProfile& profile) {
  if (profile.scanner) return *profile.scanner;
  static const std::shared_ptr<const Scanner> builtin = Scanner::builtin();
  return *builtin;
}

std::string apply(std::string_view text, const MaskProfile& profile, const Replacer& replacer,
                  const std::string& path, std::vector<Finding>* findings) {
  const Scanner& scanner = scanner_of(profile);
  std::vector<Hit> hits = scanner.scan(text);
  if (hits.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (const Hit& hit : hits) {
    const Detector& detector = scanner.detectors()[hit.detector];
    out.append(text.substr(copied, hit.start - copied));
    out += replacer.replace(detector.type, text.substr(hit.start, hit.end - hit.start));
    copied = hit.end;
    if (findings) findings->push_back({detector.type, path, hit.start, hit.end, detector.name});
  }
  out.append(text.substr(copied));
  return out;
}

// Keys whose value is a date of birth or an SSN whatever else surrounds it
// ({"dob": "1980-04-02"} has no keyword inside the string to go by).
std::string key_hint_type(const std::string& normalized, std::string_view value) {
  for (std::string_view suffix : {"dob", "dateofbirth", "birthdate", "birthday", "bday"})
    if (normalized.ends_with(suffix) && check::date(value)) return "date_of_birth";
  for (std::string_view suffix : {"ssn", "socialsecuritynumber", "socialsecurity"})
    if (normalized.ends_with(suffix) && check::us_ssn(value)) return "us_ssn";
  return {};
}

struct JsonMasker {
  const MaskProfile& profile;
  Replacer replacer;
  std::vector<Finding>& findings;

  boost::json::value string_value(std::string_view text, const std::string& key,
                                  const std::string& path) {
    if (!key.empty()) {
      std::string type = key_hint_type(key, text);
      if (!type.empty()) {
        findings.push_back({type, path, 0, text.size(), type + "_key"});
        return boost::json::value(replacer.replace(type, text));
      }
    }
    return boost::json::value(apply(text, profile, replacer, path, &findings));
  }

  boost::json::value number_value(const boost::json::value& value, const std::string& key,
                                  const std::string& path) {
    std::string text =
        value.is_int64() ? std::to_string(value.get_int64()) : std::to_string(value.get_uint64());
    std::size_t before = findings.size();
    boost::json::value masked = string_value(text, key, path);
    if (findings.size() == before) return value;  // nothing found: keep the number
    return masked;
  }

  boost::json::value secret_value(const boost::json::value& value, const std::string& path) {
    findings.push_back({"secret_key", path, 0, 0, "secret_key_name"});
    std::string raw =
        value.is_string() ? std::string(value.get_string()) : boost::json::serialize(value);
    if (replacer.strategy("secret_key") == Strategy::partial && !value.is_string())
      return boost::json::value(replacer.label("secret_key"));
    return boost::json::value(replacer.replace("secret_key", raw));
  }

  boost::json::value walk(const boost::json::value& value, const std::string& key,
                          const std::string& path) {
    switch (value.kind()) {
      case boost::json::kind::string:
        return string_value(value.get_string(), key, path);
      case boost::json::kind::int64:
      case boost::json::kind::uint64:
        return number_value(value, key, path);
      case boost::json::kind::array: {
        boost::json::array out;
        const auto& array = value.get_array();
        out.reserve(array.size());
        for (std::size_t i = 0; i < array.size(); ++i)
          out.push_back(walk(array[i], key, path + "/" + std::to_string(i)));
        return out;
      }
      case boost::json::kind::object: {
        boost::json::object out;
        const auto& object = value.get_object();
        out.reserve(object.size());
        for (const auto& [child_key, child] : object) {
          std::string child_path = path + "/" + escape_pointer(child_key);
          std::string normalized = normalize_key(child_key);
          if (is_secret_key(normalized, profile) && !child.is_null())
            out[child_key] = secret_value(child, child_path);
          else
            out[child_key] = walk(child, normalized, child_path);
        }
        return out;
      }
      default:
        return value;
    }
  }
};

}  // namespace

std::optional<Strategy> parse_strategy(std::string_view name) {
  if (name == "redact") return Strategy::redact;
  if (name == "partial") return Strategy::partial;
  if (name == "hash") return Strategy::hash;
  return std::nullopt;
}

std::string_view strategy_name(Strategy strategy) {
  switch (strategy) {
    case Strategy::redact:
      return "redact";
    case Strategy::partial:
      return "partial";
    case Strategy::hash:
      return "hash";
  }
  return "redact";
}

MaskProfile default_profile() {
  return MaskProfile{"default",
                     {"password", "passwd", "secret", "token", "authorization", "apikey",
                      "privatekey", "credential", "cookie", "sessionid", "accesskey"}};
}

Result<void> prepare(MaskProfile& profile) {
  if (profile.detectors.empty() && profile.disabled.empty()) {
    profile.scanner = nullptr;
    return {};
  }
  std::set<std::string> off(profile.disabled.begin(), profile.disabled.end());
  std::vector<Detector> detectors;
  std::set<std::string> names;
  for (const Detector& detector : builtin_detectors()) {
    if (off.contains(detector.type) || off.contains(detector.name)) continue;
    detectors.push_back(detector);
    names.insert(detector.name);
  }
  for (const CustomDetector& custom : profile.detectors) {
    Detector detector;
    detector.name = custom.name;
    detector.type = custom.type.empty() ? custom.name : custom.type;
    detector.pattern = custom.pattern;
    detector.caseless = custom.caseless;
    detector.confidence = custom.confidence;
    if (!custom.validator.empty()) {
      auto validator = named_validator(custom.validator);
      if (!validator)
        return fail(
            ErrorCode::invalid_argument,
            "mask detector '" + custom.name + "': unknown validator '" + custom.validator + "'");
      detector.validator = *validator;
    }
    if (custom.name.empty() || custom.pattern.empty())
      return fail(ErrorCode::invalid_argument, "a mask detector needs a name and a pattern");
    if (!names.insert(custom.name).second)
      return fail(
          ErrorCode::invalid_argument,
          "mask detector '" + custom.name + "' is defined twice in profile '" + profile.name + "'");
    if (!custom.label.empty() && !profile.labels.contains(detector.type))
      profile.labels[detector.type] = custom.label;
    detectors.push_back(std::move(detector));
  }
  auto scanner = Scanner::build(std::move(detectors));
  if (!scanner) return std::unexpected(scanner.error());
  profile.scanner = *scanner;
  return {};
}

std::string mask_text(std::string_view text, const MaskProfile& profile, const std::string& path,
                      std::vector<Finding>* findings) {
  return apply(text, profile, Replacer(profile), path, findings);
}

std::string mask_text(std::string_view text, const std::string& path,
                      std::vector<Finding>* findings) {
  static const MaskProfile profile = default_profile();
  return mask_text(text, profile, path, findings);
}

MaskedJson mask_json(const boost::json::value& value, const MaskProfile& profile) {
  MaskedJson result;
  JsonMasker masker{profile, Replacer(profile), result.findings};
  result.value = masker.walk(value, "", "");
  return result;
}

MaskedBody mask_body(std::string_view body, const MaskProfile& profile) {
  MaskedBody out;
  std::size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (body[first] == '{' || body[first] == '[')) {
    boost::system::error_code error;
    boost::json::value parsed = boost::json::parse(body, error);
    if (!error) {
      auto masked = mask_json(parsed, profile);
      out.body = boost::json::serialize(masked.value);
      out.json = true;
      out.findings = std::move(masked.findings);
      return out;
    }
  }
  out.body = mask_text(body, profile, "", &out.findings);
  return out;
}

boost::json::object to_json(const Finding& finding) {
  return {{"type", finding.type},
          {"path", finding.path},
          {"start", finding.start},
          {"end", finding.end},
          {"detector", finding.detector}};
}

Result<std::string> load_or_create_hash_key(const std::string& path) {
  {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::ostringstream content;
      content << in.rdbuf();
      std::string key = content.str();
      if (key.size() < 16)
        return fail(ErrorCode::failed_precondition,
                    "mask hash key file " + path + " is shorter than 16 bytes");
      return key;
    }
  }
  std::string key = random_bytes(32);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    // Another process may have created it first: read theirs.
    std::ifstream in(path, std::ios::binary);
    if (in) {
      std::ostringstream content;
      content << in.rdbuf();
      if (content.str().size() >= 16) return content.str();
    }
    return fail(ErrorCode::failed_precondition, "cannot create mask hash key file " + path);
  }
  bool ok = ::write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok) return fail(ErrorCode::failed_precondition, "cannot write mask hash key file " + path);
  return key;
}

}  // namespace countersign::mask
