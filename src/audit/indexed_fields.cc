// A small JSON member scanner for event bodies: walks the top-level object
// and details, skipping nested values, and decodes only the strings it needs.
#include "audit/indexed_fields.h"

#include <charconv>

#include <fmt/format.h>

namespace countersign::audit {
namespace {

struct Cursor {
  const char* at;
  const char* end;
  bool done() const { return at >= end; }
  void skip_space() {
    while (at < end && (*at == ' ' || *at == '\n' || *at == '\r' || *at == '\t')) ++at;
  }
};

// Skips a string starting at its opening quote; false when unterminated.
bool skip_string(Cursor& cursor) {
  ++cursor.at;
  while (cursor.at < cursor.end) {
    char character = *cursor.at++;
    if (character == '\\') {
      if (cursor.at >= cursor.end) return false;
      ++cursor.at;
    } else if (character == '"') {
      return true;
    }
  }
  return false;
}

// Skips any JSON value; false when malformed.
bool skip_value(Cursor& cursor) {
  cursor.skip_space();
  if (cursor.done()) return false;
  char first = *cursor.at;
  if (first == '"') return skip_string(cursor);
  if (first == '{' || first == '[') {
    int depth = 0;
    while (cursor.at < cursor.end) {
      char character = *cursor.at;
      if (character == '"') {
        if (!skip_string(cursor)) return false;
        continue;
      }
      ++cursor.at;
      if (character == '{' || character == '[') ++depth;
      if (character == '}' || character == ']') {
        if (--depth == 0) return true;
      }
    }
    return false;
  }
  while (cursor.at < cursor.end && *cursor.at != ',' && *cursor.at != '}' && *cursor.at != ']' &&
         *cursor.at != ' ' && *cursor.at != '\n')
    ++cursor.at;
  return true;
}

void append_utf8(std::string& out, std::uint32_t code) {
  if (code < 0x80) {
    out.push_back(static_cast<char>(code));
  } else if (code < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code >> 6)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else if (code < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
  }
}

std::optional<std::uint32_t> hex4(std::string_view text) {
  std::uint32_t value = 0;
  if (text.size() < 4) return std::nullopt;
  auto [end, error] = std::from_chars(text.data(), text.data() + 4, value, 16);
  if (error != std::errc() || end != text.data() + 4) return std::nullopt;
  return value;
}

// Decodes a JSON string token (with its quotes).
std::optional<std::string> decode_string(std::string_view token) {
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') return std::nullopt;
  token = token.substr(1, token.size() - 2);
  std::string out;
  out.reserve(token.size());
  for (std::size_t i = 0; i < token.size(); ++i) {
    char character = token[i];
    if (character != '\\') {
      out.push_back(character);
      continue;
    }
    if (++i >= token.size()) return std::nullopt;
    switch (token[i]) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        auto code = hex4(token.substr(i + 1));
        if (!code) return std::nullopt;
        i += 4;
        if (*code >= 0xD800 && *code < 0xDC00 && i + 6 < token.size() &&
            token.substr(i + 1, 2) == "\\u") {
          auto low = hex4(token.substr(i + 3));
          if (low && *low >= 0xDC00 && *low < 0xE000) {
            *code = 0x10000 + ((*code - 0xD800) << 10) + (*low - 0xDC00);
            i += 6;
          }
        }
        append_utf8(out, *code);
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return out;
}

// Calls visit(key, value token) for each member of the object at the cursor.
template <typename Visit>
bool for_each_member(Cursor& cursor, Visit&& visit) {
  cursor.skip_space();
  if (cursor.done() || *cursor.at != '{') return false;
  ++cursor.at;
  cursor.skip_space();
  if (!cursor.done() && *cursor.at == '}') {
    ++cursor.at;
    return true;
  }
  for (;;) {
    cursor.skip_space();
    const char* key_start = cursor.at;
    if (cursor.done() || *cursor.at != '"' || !skip_string(cursor)) return false;
    std::string_view key(key_start, static_cast<std::size_t>(cursor.at - key_start));
    cursor.skip_space();
    if (cursor.done() || *cursor.at != ':') return false;
    ++cursor.at;
    cursor.skip_space();
    const char* value_start = cursor.at;
    if (!skip_value(cursor)) return false;
    std::string_view value(value_start, static_cast<std::size_t>(cursor.at - value_start));
    if (!visit(key, value)) return false;
    cursor.skip_space();
    if (cursor.done()) return false;
    if (*cursor.at == ',') {
      ++cursor.at;
      continue;
    }
    if (*cursor.at == '}') {
      ++cursor.at;
      return true;
    }
    return false;
  }
}

std::string quoted(std::string_view text) { return fmt::format("\"{}\"", text); }

}  // namespace

std::optional<BodyFields> body_fields(std::string_view body) {
  BodyFields fields;
  bool has_time = false, has_type = false, has_actor = false;
  Cursor cursor{body.data(), body.data() + body.size()};
  auto text = [](std::string_view token, std::string& out) {
    auto decoded = decode_string(token);
    if (!decoded) return false;
    out = std::move(*decoded);
    return true;
  };
  bool read = for_each_member(cursor, [&](std::string_view key, std::string_view value) {
    if (key == "\"time\"") {
      auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), fields.time);
      has_time = error == std::errc() && end == value.data() + value.size();
      return has_time;
    }
    if (key == "\"type\"") return has_type = text(value, fields.type);
    if (key == "\"actor\"") return has_actor = text(value, fields.actor);
    if (key == "\"review_id\"") return text(value, fields.review_id);
    if (key == "\"action_digest\"") return text(value, fields.action_digest);
    if (key == "\"details\"") {
      Cursor details{value.data(), value.data() + value.size()};
      return for_each_member(details, [&](std::string_view name, std::string_view item) {
        if (name == "\"verb\"" && !item.empty() && item.front() == '"') {
          std::string verb;
          if (!text(item, verb)) return false;
          fields.verb = std::move(verb);
        }
        if (name == "\"target\"" && !item.empty()) {
          std::string target(item);
          if (item.front() == '"' && !text(item, target)) return false;
          fields.target = std::move(target);
        }
        return true;
      });
    }
    return true;
  });
  if (!read || !has_time || !has_type || !has_actor) return std::nullopt;
  return fields;
}

std::optional<std::string> column_mismatch(const BodyFields& body, const IndexedColumns& columns) {
  auto differs = [](const char* name, std::string_view stored,
                    std::string_view hashed) -> std::optional<std::string> {
    if (stored == hashed) return std::nullopt;
    return fmt::format("the {} column says {} but the hashed event says {}", name, quoted(stored),
                       quoted(hashed));
  };
  if (columns.time != body.time)
    return fmt::format("the time column says {} but the hashed event says {}", columns.time,
                       body.time);
  if (auto problem = differs("type", columns.type, body.type)) return problem;
  if (auto problem = differs("actor", columns.actor, body.actor)) return problem;
  // Empty review ids and digests are stored as NULL.
  if (columns.review_id_null != body.review_id.empty() || columns.review_id != body.review_id)
    return fmt::format("the review_id column says {} but the hashed event says {}",
                       columns.review_id_null ? "NULL" : quoted(columns.review_id),
                       quoted(body.review_id));
  if (columns.action_digest_null != body.action_digest.empty() ||
      columns.action_digest != body.action_digest)
    return fmt::format("the action_digest column says {} but the hashed event says {}",
                       columns.action_digest_null ? "NULL" : quoted(columns.action_digest),
                       quoted(body.action_digest));
  if (body.verb) {
    if (columns.verb_null || columns.verb != *body.verb)
      return fmt::format("the verb column says {} but the hashed event says {}",
                         columns.verb_null ? "NULL" : quoted(columns.verb), quoted(*body.verb));
  } else if (body.review_id.empty() && !columns.verb_null) {
    return fmt::format("the verb column says {} but the hashed event names no verb",
                       quoted(columns.verb));
  }
  if (!columns.search_copied) return std::nullopt;
  if (columns.search_copy_differs)
    return std::string("the search index's copy of the columns differs from the event");
  if (columns.search_target_null != !body.target ||
      (body.target && columns.search_target != *body.target))
    return fmt::format("the search index's target says {} but the hashed event says {}",
                       columns.search_target_null ? "NULL" : quoted(columns.search_target),
                       body.target ? quoted(*body.target) : "none");
  return std::nullopt;
}

}  // namespace countersign::audit
