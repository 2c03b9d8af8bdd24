#include "core/canonical_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

namespace countersign {
namespace {

namespace json = boost::json;

// ---------------------------------------------------------------------------
// UTF-8 handling

// Decodes one UTF-8 sequence starting at text[position]. Returns the code
// point and advances `position`, or returns -1 on an invalid sequence
// (overlong forms, surrogates and values above U+10FFFF are invalid too).
std::int32_t decode_utf8(std::string_view text, std::size_t& position) {
  auto byte = [&](std::size_t at) { return static_cast<unsigned char>(text[at]); };
  unsigned char lead = byte(position);
  if (lead < 0x80) {
    ++position;
    return lead;
  }
  int length = 0;
  std::int32_t code_point = 0;
  std::int32_t minimum = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1F, minimum = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F, minimum = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07, minimum = 0x10000;
  } else {
    return -1;
  }
  if (position + length > text.size()) return -1;
  for (int i = 1; i < length; ++i) {
    unsigned char continuation = byte(position + i);
    if ((continuation & 0xC0) != 0x80) return -1;
    code_point = (code_point << 6) | (continuation & 0x3F);
  }
  if (code_point < minimum || code_point > 0x10FFFF) return -1;
  if (code_point >= 0xD800 && code_point <= 0xDFFF) return -1;
  position += length;
  return code_point;
}

// RFC 8785 sorts object keys by their UTF-16 code units. For valid UTF-8,
// byte order equals code point order, and code point order equals UTF-16
// order except in one case: characters above U+FFFF become surrogates
// (0xD800..0xDFFF) in UTF-16 and so sort before U+E000..U+FFFF, while their
// UTF-8 lead bytes (0xF0..0xF4) sort after those (0xEE, 0xEF). Compares two
// valid UTF-8 keys in UTF-16 order without converting them.
bool utf16_less(std::string_view left, std::string_view right) {
  const std::size_t common = std::min(left.size(), right.size());
  std::size_t at = 0;
  while (at < common && left[at] == right[at]) ++at;
  if (at == common) return left.size() < right.size();
  const auto left_byte = static_cast<unsigned char>(left[at]);
  const auto right_byte = static_cast<unsigned char>(right[at]);
  // Both strings are valid UTF-8 with equal bytes before `at`: if `at` is
  // inside a character, both characters share their lead byte and length,
  // so only a difference at a character start can be the special case.
  const bool left_starts = (left_byte & 0xC0) != 0x80;
  const bool right_starts = (right_byte & 0xC0) != 0x80;
  if (left_starts && right_starts) {
    const bool left_supplementary = left_byte >= 0xF0;
    const bool right_supplementary = right_byte >= 0xF0;
    const bool left_high_bmp = left_byte == 0xEE || left_byte == 0xEF;
    const bool right_high_bmp = right_byte == 0xEE || right_byte == 0xEF;
    if (left_supplementary && right_high_bmp) return true;
    if (right_supplementary && left_high_bmp) return false;
  }
  return left_byte < right_byte;
}

// ---------------------------------------------------------------------------
// Serialization

// True for bytes that are copied as they are: printable ASCII other than the
// quote and the backslash. Bytes >= 0x80 are checked as UTF-8 separately.
constexpr bool is_plain_ascii(unsigned char byte) {
  return byte >= 0x20 && byte < 0x80 && byte != '"' && byte != '\\';
}

// Appends `text` as a JSON string: runs of plain characters in one append,
// multi-byte UTF-8 raw (after checking it), escapes only where RFC 8785
// requires them. Returns false on invalid UTF-8 (`out` is then unusable).
bool append_string(std::string& out, std::string_view text) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  out.push_back('"');
  const char* const data = text.data();
  const std::size_t size = text.size();
  std::size_t run_start = 0;
  std::size_t position = 0;
  while (position < size) {
    const auto byte = static_cast<unsigned char>(data[position]);
    if (is_plain_ascii(byte)) {
      ++position;
      continue;
    }
    if (byte >= 0x80) {
      if (decode_utf8(text, position) < 0) return false;  // advances past the character
      continue;
    }
    out.append(data + run_start, position - run_start);
    switch (byte) {
      case '"':
        out.append("\\\"", 2);
        break;
      case '\\':
        out.append("\\\\", 2);
        break;
      case '\b':
        out.append("\\b", 2);
        break;
      case '\t':
        out.append("\\t", 2);
        break;
      case '\n':
        out.append("\\n", 2);
        break;
      case '\f':
        out.append("\\f", 2);
        break;
      case '\r':
        out.append("\\r", 2);
        break;
      default: {
        const char escaped[6] = {
            '\\', 'u', '0', '0', kHexDigits[byte >> 4], kHexDigits[byte & 0xF]};
        out.append(escaped, sizeof escaped);
      }
    }
    ++position;
    run_start = position;
  }
  out.append(data + run_start, size - run_start);
  out.push_back('"');
  return true;
}

// Appends the ECMAScript form of a finite double.
void append_es_number(std::string& out, double number) {
  // Integers below 2^53 are exact, and ECMAScript prints them (below 1e21)
  // as plain digits, which is what an int64 conversion prints too.
  constexpr double kExactIntegerLimit = 9007199254740992.0;  // 2^53
  if (number == 0) {
    out.push_back('0');  // also -0
    return;
  }
  if (std::trunc(number) == number && std::abs(number) < kExactIntegerLimit) {
    char buffer[24];
    auto [end, status] =
        std::to_chars(buffer, buffer + sizeof buffer, static_cast<std::int64_t>(number));
    out.append(buffer, end);
    return;
  }
  out += format_es_number(number);
}

Result<void> append_value(std::string& out, const json::value& value);

Result<void> append_number(std::string& out, double number) {
  if (!std::isfinite(number)) {
    return fail(ErrorCode::invalid_argument, "JSON number is NaN or infinite");
  }
  append_es_number(out, number);
  return {};
}

Result<void> append_array(std::string& out, const json::array& array) {
  out.push_back('[');
  bool first = true;
  for (const json::value& element : array) {
    if (!first) out.push_back(',');
    first = false;
    if (auto appended = append_value(out, element); !appended) return appended;
  }
  out.push_back(']');
  return {};
}

Result<void> invalid_key() {
  return fail(ErrorCode::invalid_argument, "JSON object key is not valid UTF-8");
}

Result<void> append_member(std::string& out, const json::key_value_pair& member) {
  if (!append_string(out, member.key())) return invalid_key();
  out.push_back(':');
  return append_value(out, member.value());
}

Result<void> append_object(std::string& out, const json::object& object) {
  out.push_back('{');
  const std::size_t size = object.size();
  // Small objects (the usual case) sort pointers on the stack; a
  // boost::json::object cannot hold duplicate keys, so the order is total.
  constexpr std::size_t kStackMembers = 16;
  const json::key_value_pair* stack_members[kStackMembers];
  std::vector<const json::key_value_pair*> heap_members;
  const json::key_value_pair** members = stack_members;
  if (size > kStackMembers) {
    heap_members.resize(size);
    members = heap_members.data();
  }
  std::size_t count = 0;
  for (const json::key_value_pair& member : object) members[count++] = &member;
  // Keys are validated while they are written; the comparison only needs
  // valid UTF-8 for its result to be meaningful, and an invalid key fails
  // the whole serialization anyway.
  std::sort(members, members + count,
            [](const json::key_value_pair* left, const json::key_value_pair* right) {
              return utf16_less(left->key(), right->key());
            });
  for (std::size_t i = 0; i < count; ++i) {
    if (i != 0) out.push_back(',');
    if (auto appended = append_member(out, *members[i]); !appended) return appended;
  }
  out.push_back('}');
  return {};
}

Result<void> append_value(std::string& out, const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      out.append("null", 4);
      return {};
    case json::kind::bool_:
      if (value.get_bool()) {
        out.append("true", 4);
      } else {
        out.append("false", 5);
      }
      return {};
    // RFC 8785 treats every number as an IEEE-754 double, so large integers
    // lose precision exactly as they would in JavaScript.
    case json::kind::int64:
      return append_number(out, static_cast<double>(value.get_int64()));
    case json::kind::uint64:
      return append_number(out, static_cast<double>(value.get_uint64()));
    case json::kind::double_:
      return append_number(out, value.get_double());
    case json::kind::string:
      if (!append_string(out, value.get_string())) {
        return fail(ErrorCode::invalid_argument, "JSON string is not valid UTF-8");
      }
      return {};
    case json::kind::array:
      return append_array(out, value.get_array());
    case json::kind::object:
      return append_object(out, value.get_object());
  }
  return fail(ErrorCode::internal, "unknown JSON value kind");
}

// ---------------------------------------------------------------------------
// Parsing
//
// boost::json::parse (1.81) silently keeps the last of duplicate keys and
// does not round every decimal correctly to the nearest double. Both matter
// for a canonical form that is hashed, so canonicalize_text drives
// boost's validating tokenizer with its own handler: it builds the value,
// refuses duplicate keys and converts numbers with std::from_chars.

class ValueBuilder {
 public:
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  json::value take_result() { return std::move(result_); }
  // Why the handler stopped the parse; empty when the tokenizer did.
  const std::string& problem() const { return problem_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }

  bool on_object_begin(json::error_code&) {
    open_.emplace_back(json::object());
    return true;
  }
  bool on_object_end(std::size_t, json::error_code& error) { return close(error); }
  bool on_array_begin(json::error_code&) {
    open_.emplace_back(json::array());
    return true;
  }
  bool on_array_end(std::size_t, json::error_code& error) { return close(error); }

  bool on_key_part(json::string_view part, std::size_t, json::error_code&) {
    partial_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, json::error_code&) {
    partial_.append(part.data(), part.size());
    keys_.push_back(std::move(partial_));
    partial_.clear();
    return true;
  }
  bool on_string_part(json::string_view part, std::size_t, json::error_code&) {
    partial_.append(part.data(), part.size());
    return true;
  }
  bool on_string(json::string_view part, std::size_t, json::error_code& error) {
    partial_.append(part.data(), part.size());
    json::value text = json::string(partial_);
    partial_.clear();
    return add(std::move(text), error);
  }

  bool on_number_part(json::string_view part, json::error_code&) {
    partial_.append(part.data(), part.size());
    return true;
  }
  bool on_int64(std::int64_t, json::string_view part, json::error_code& error) {
    return on_number(part, error);
  }
  bool on_uint64(std::uint64_t, json::string_view part, json::error_code& error) {
    return on_number(part, error);
  }
  bool on_double(double, json::string_view part, json::error_code& error) {
    return on_number(part, error);
  }

  bool on_bool(bool flag, json::error_code& error) { return add(json::value(flag), error); }
  bool on_null(json::error_code& error) { return add(json::value(nullptr), error); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  // Every number becomes the nearest double, as RFC 8785 requires; from_chars
  // rounds correctly where boost 1.81's own conversion may be one ulp off.
  bool on_number(json::string_view part, json::error_code& error) {
    partial_.append(part.data(), part.size());
    // Integers stay integers (so 5 reads back as 5, not 5.0); canonicalize()
    // still formats them as the doubles they denote.
    if (partial_.find_first_of(".eE") == std::string::npos) {
      std::int64_t integer = 0;
      auto [end, status] =
          std::from_chars(partial_.data(), partial_.data() + partial_.size(), integer);
      if (status == std::errc() && end == partial_.data() + partial_.size()) {
        partial_.clear();
        return add(json::value(integer), error);
      }
    }
    double number = 0;
    auto [end, status] =
        std::from_chars(partial_.data(), partial_.data() + partial_.size(), number);
    bool parsed = status == std::errc() && end == partial_.data() + partial_.size();
    partial_.clear();
    if (!parsed || !std::isfinite(number)) {
      return refuse("number out of range", error);
    }
    return add(json::value(number), error);
  }

  bool add(json::value value, json::error_code& error) {
    if (open_.empty()) {
      result_ = std::move(value);
      return true;
    }
    json::value& container = open_.back();
    if (container.is_array()) {
      container.get_array().push_back(std::move(value));
      return true;
    }
    std::string key = std::move(keys_.back());
    keys_.pop_back();
    json::object& object = container.get_object();
    if (object.contains(key)) {
      return refuse("duplicate object key", error);
    }
    object.emplace(key, std::move(value));
    return true;
  }

  bool close(json::error_code& error) {
    json::value finished = std::move(open_.back());
    open_.pop_back();
    return add(std::move(finished), error);
  }

  bool refuse(std::string problem, json::error_code& error) {
    problem_ = std::move(problem);
    error = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    return false;
  }

  json::value result_;
  std::string problem_;
  std::vector<json::value> open_;  // containers still being filled, innermost last
  std::vector<std::string> keys_;  // the pending key of each open object
  std::string partial_;            // a key, string or number arriving in pieces
};

}  // namespace

std::string format_es_number(double value) {
  if (value == 0) return "0";  // also -0
  std::string sign;
  if (value < 0) {
    sign = "-";
    value = -value;
  }
  // Shortest round-trip digits in scientific form: "d.ddde+XX".
  char buffer[64];
  auto [end, status] =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
  std::string_view scientific(buffer, status == std::errc() ? end - buffer : 0);
  std::size_t exponent_at = scientific.find('e');
  std::string digits;
  for (char character : scientific.substr(0, exponent_at)) {
    if (character != '.') digits.push_back(character);
  }
  int exponent = 0;
  std::string_view exponent_text = scientific.substr(exponent_at + 1);
  if (!exponent_text.empty() && exponent_text.front() == '+') exponent_text.remove_prefix(1);
  std::from_chars(exponent_text.data(), exponent_text.data() + exponent_text.size(), exponent);

  // ECMA-262 Number::toString: value = digits x 10^(n - k).
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;
  std::string out = sign;
  if (k <= n && n <= 21) {
    out += digits;
    out.append(n - k, '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, n);
    out += '.';
    out += digits.substr(n);
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(-n, '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += n - 1 >= 0 ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
  return out;
}

Result<std::string> canonicalize(const boost::json::value& value) {
  std::string out;
  out.reserve(256);
  if (auto appended = append_value(out, value); !appended) {
    return std::unexpected(appended.error());
  }
  return out;
}

Result<void> append_canonical(std::string& out, const boost::json::value& value) {
  return append_value(out, value);
}

Result<void> append_canonical(std::string& out, const boost::json::object& object) {
  return append_object(out, object);
}

Result<void> append_canonical_string(std::string& out, std::string_view text) {
  if (!append_string(out, text)) {
    return fail(ErrorCode::invalid_argument, "JSON string is not valid UTF-8");
  }
  return {};
}

void append_canonical_integer(std::string& out, std::int64_t value) {
  append_es_number(out, static_cast<double>(value));
}

bool utf16_key_less(std::string_view left, std::string_view right) {
  return utf16_less(left, right);
}

Result<boost::json::value> parse_json(std::string_view json_text) {
  json::basic_parser<ValueBuilder> parser(json::parse_options{});
  json::error_code error;
  std::size_t consumed = parser.write_some(false, json_text.data(), json_text.size(), error);
  if (!error && consumed < json_text.size()) error = json::error::extra_data;
  if (error) {
    const std::string& problem = parser.handler().problem();
    return fail(ErrorCode::invalid_argument,
                "invalid JSON: " + (problem.empty() ? error.message() : problem));
  }
  return parser.handler().take_result();
}

Result<std::string> canonicalize_text(std::string_view json_text) {
  auto value = parse_json(json_text);
  if (!value) return std::unexpected(value.error());
  return canonicalize(*value);
}

}  // namespace countersign
