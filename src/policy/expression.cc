#include "policy/expression.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "policy/regex.h"

namespace countersign::policy {

namespace {

// Limits that keep a hostile or mistaken expression from exhausting the stack
// at load or at evaluation (the tree is walked recursively).
constexpr std::size_t kMaxNodes = 2000;
constexpr int kMaxParseNesting = 64;
constexpr int kMaxDepth = 200;
constexpr int kMaxVariables = 8;  // nested macro variables in scope at once
constexpr std::size_t kMaxRuntimePattern = 1024;

// ---------------------------------------------------------------- values

enum class ValueKind : std::uint8_t {
  null,
  boolean,
  integer,
  floating,
  string,
  list,
  map,
  action,
  actor,
  error
};
// Where a list's or map's elements live: in the action's JSON, in a vector of
// strings (actor.groups), or in a vector of values (literals, results).
// Maps built from values store keys and values alternately.
enum class Source : std::uint8_t { none, json, strings, values };

struct Value {
  ValueKind kind = ValueKind::null;
  Source source = Source::none;
  bool boolean = false;
  std::int64_t integer = 0;
  double floating = 0;
  std::string_view text;          // string contents or error message
  const void* pointer = nullptr;  // list, map, action or actor

  static Value null() { return {}; }
  static Value of(bool b) {
    Value value = make(ValueKind::boolean);
    value.boolean = b;
    return value;
  }
  static Value of(std::int64_t i) {
    Value value = make(ValueKind::integer);
    value.integer = i;
    return value;
  }
  static Value of(double d) {
    Value value = make(ValueKind::floating);
    value.floating = d;
    return value;
  }
  static Value of(std::string_view s) {
    Value value = make(ValueKind::string);
    value.text = s;
    return value;
  }
  static Value error(std::string_view message) {
    Value value = make(ValueKind::error);
    value.text = message;
    return value;
  }
  static Value list(Source source, const void* pointer) {
    return reference(ValueKind::list, source, pointer);
  }
  static Value map(Source source, const void* pointer) {
    return reference(ValueKind::map, source, pointer);
  }
  // The action or its actor, by address.
  static Value record(ValueKind kind, const void* pointer) {
    return reference(kind, Source::none, pointer);
  }
  static Value make(ValueKind kind) {
    Value value;
    value.kind = kind;
    return value;
  }
  static Value reference(ValueKind kind, Source source, const void* pointer) {
    Value value = make(kind);
    value.source = source;
    value.pointer = pointer;
    return value;
  }
  bool is_error() const { return kind == ValueKind::error; }
  bool is_numeric() const { return kind == ValueKind::integer || kind == ValueKind::floating; }
  double as_double() const {
    return kind == ValueKind::integer ? static_cast<double>(integer) : floating;
  }
};

std::string_view kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::null:
      return "null";
    case ValueKind::boolean:
      return "bool";
    case ValueKind::integer:
      return "int";
    case ValueKind::floating:
      return "double";
    case ValueKind::string:
      return "string";
    case ValueKind::list:
      return "list";
    case ValueKind::map:
      return "map";
    case ValueKind::action:
      return "action";
    case ValueKind::actor:
      return "actor";
    case ValueKind::error:
      return "error";
  }
  return "error";
}

Value from_json(const boost::json::value& json) {
  switch (json.kind()) {
    case boost::json::kind::null:
      return Value::null();
    case boost::json::kind::bool_:
      return Value::of(json.get_bool());
    case boost::json::kind::int64:
      return Value::of(json.get_int64());
    case boost::json::kind::uint64: {
      std::uint64_t u = json.get_uint64();
      if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        return Value::of(static_cast<std::int64_t>(u));
      return Value::of(static_cast<double>(u));
    }
    case boost::json::kind::double_: {
      // JSON does not distinguish 3 from 3.0; treat integral numbers as int so
      // `action.params.count == 3` works whatever the door's encoder wrote.
      double d = json.get_double();
      if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9.0e15)
        return Value::of(static_cast<std::int64_t>(d));
      return Value::of(d);
    }
    case boost::json::kind::string: {
      const auto& s = json.get_string();
      return Value::of(std::string_view(s.data(), s.size()));
    }
    case boost::json::kind::array:
      return Value::list(Source::json, &json.get_array());
    case boost::json::kind::object:
      return Value::map(Source::json, &json.get_object());
  }
  return Value::null();
}

std::size_t list_size(const Value& list) {
  switch (list.source) {
    case Source::json:
      return static_cast<const boost::json::array*>(list.pointer)->size();
    case Source::strings:
      return static_cast<const std::vector<std::string>*>(list.pointer)->size();
    case Source::values:
      return static_cast<const std::vector<Value>*>(list.pointer)->size();
    case Source::none:
      return 0;
  }
  return 0;
}

Value list_at(const Value& list, std::size_t index) {
  switch (list.source) {
    case Source::json:
      return from_json((*static_cast<const boost::json::array*>(list.pointer))[index]);
    case Source::strings:
      return Value::of(
          std::string_view((*static_cast<const std::vector<std::string>*>(list.pointer))[index]));
    case Source::values:
      return (*static_cast<const std::vector<Value>*>(list.pointer))[index];
    case Source::none:
      return Value::null();
  }
  return Value::null();
}

std::size_t map_size(const Value& map) {
  if (map.source == Source::json)
    return static_cast<const boost::json::object*>(map.pointer)->size();
  return static_cast<const std::vector<Value>*>(map.pointer)->size() / 2;
}

// Key number `index` of a map, for iteration by the macros.
Value map_key_at(const Value& map, std::size_t index) {
  if (map.source == Source::json) {
    const auto& entry = *(static_cast<const boost::json::object*>(map.pointer)->begin() + index);
    return Value::of(std::string_view(entry.key()));
  }
  return (*static_cast<const std::vector<Value>*>(map.pointer))[2 * index];
}

bool equal(const Value& a, const Value& b);

std::optional<Value> map_find(const Value& map, const Value& key) {
  if (map.source == Source::json) {
    if (key.kind != ValueKind::string) return std::nullopt;  // JSON keys are strings
    const auto& object = *static_cast<const boost::json::object*>(map.pointer);
    auto found = object.find(key.text);
    if (found == object.end()) return std::nullopt;
    return from_json(found->value());
  }
  const auto& entries = *static_cast<const std::vector<Value>*>(map.pointer);
  for (std::size_t i = 0; i + 1 < entries.size(); i += 2)
    if (equal(entries[i], key)) return entries[i + 1];
  return std::nullopt;
}

bool equal(const Value& a, const Value& b) {
  if (a.is_numeric() && b.is_numeric()) {
    if (a.kind == ValueKind::integer && b.kind == ValueKind::integer) return a.integer == b.integer;
    return a.as_double() == b.as_double();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::null:
      return true;
    case ValueKind::boolean:
      return a.boolean == b.boolean;
    case ValueKind::string:
      return a.text == b.text;
    case ValueKind::list: {
      std::size_t size = list_size(a);
      if (size != list_size(b)) return false;
      for (std::size_t i = 0; i < size; ++i)
        if (!equal(list_at(a, i), list_at(b, i))) return false;
      return true;
    }
    case ValueKind::map: {
      std::size_t size = map_size(a);
      if (size != map_size(b)) return false;
      for (std::size_t i = 0; i < size; ++i) {
        Value key = map_key_at(a, i);
        auto left = map_find(a, key);
        auto right = map_find(b, key);
        if (!left || !right || !equal(*left, *right)) return false;
      }
      return true;
    }
    case ValueKind::action:
    case ValueKind::actor:
      return a.pointer == b.pointer;
    default:
      return false;
  }
}

// <0, 0, >0, or nullopt when the two values have no order.
std::optional<int> compare(const Value& a, const Value& b) {
  if (a.kind == ValueKind::integer && b.kind == ValueKind::integer)
    return a.integer < b.integer ? -1 : a.integer > b.integer ? 1 : 0;
  if (a.is_numeric() && b.is_numeric()) {
    double x = a.as_double(), y = b.as_double();
    if (std::isnan(x) || std::isnan(y)) return std::nullopt;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind != b.kind) return std::nullopt;
  if (a.kind == ValueKind::string) {
    int c = a.text.compare(b.text);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind == ValueKind::boolean) return int(a.boolean) - int(b.boolean);
  return std::nullopt;
}

std::int64_t utf8_length(std::string_view text) {
  std::int64_t count = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++count;
  return count;
}

// ---------------------------------------------------------------- types

enum class TypeKind : std::uint8_t {
  dyn,
  null,
  boolean,
  integer,
  floating,
  string,
  list,
  map,
  action,
  actor
};

struct Type {
  TypeKind kind = TypeKind::dyn;
  TypeKind element = TypeKind::dyn;  // list element or map value
};

std::string type_name(Type type) {
  auto name = [](TypeKind kind) -> std::string {
    switch (kind) {
      case TypeKind::dyn:
        return "dyn";
      case TypeKind::null:
        return "null";
      case TypeKind::boolean:
        return "bool";
      case TypeKind::integer:
        return "int";
      case TypeKind::floating:
        return "double";
      case TypeKind::string:
        return "string";
      case TypeKind::list:
        return "list";
      case TypeKind::map:
        return "map";
      case TypeKind::action:
        return "action";
      case TypeKind::actor:
        return "actor";
    }
    return "dyn";
  };
  if (type.kind == TypeKind::list) return "list(" + name(type.element) + ")";
  if (type.kind == TypeKind::map) return "map(string, " + name(type.element) + ")";
  return name(type.kind);
}

bool is_numeric(TypeKind kind) { return kind == TypeKind::integer || kind == TypeKind::floating; }

// Could a value of type a ever equal one of type b?
bool comparable(TypeKind a, TypeKind b) {
  if (a == TypeKind::dyn || b == TypeKind::dyn) return true;
  if (a == TypeKind::null || b == TypeKind::null) return true;
  if (is_numeric(a) && is_numeric(b)) return true;
  return a == b;
}

// ---------------------------------------------------------------- fields

enum class Field : std::uint8_t {
  door,
  target,
  verb,
  params,
  reason,
  client_address,
  actor,
  subject,
  issuer,
  kind,
  groups,
  email,
  on_behalf_of
};

struct FieldInfo {
  std::string_view name;
  Field field;
  Type type;
};

constexpr Type kString{TypeKind::string};
constexpr std::array<FieldInfo, 7> kActionFields{{
    {"door", Field::door, kString},
    {"target", Field::target, kString},
    {"verb", Field::verb, kString},
    {"params", Field::params, Type{TypeKind::dyn}},
    {"reason", Field::reason, kString},
    {"client_address", Field::client_address, kString},
    {"actor", Field::actor, Type{TypeKind::actor}},
}};
constexpr std::array<FieldInfo, 6> kActorFields{{
    {"subject", Field::subject, kString},
    {"issuer", Field::issuer, kString},
    {"kind", Field::kind, kString},
    {"groups", Field::groups, Type{TypeKind::list, TypeKind::string}},
    {"email", Field::email, kString},
    {"on_behalf_of", Field::on_behalf_of, kString},
}};

template <std::size_t N>
const FieldInfo* find_field(const std::array<FieldInfo, N>& fields, std::string_view name) {
  for (const auto& info : fields)
    if (info.name == name) return &info;
  return nullptr;
}

template <std::size_t N>
std::string field_names(const std::array<FieldInfo, N>& fields) {
  std::string out;
  for (const auto& info : fields) {
    if (!out.empty()) out += ", ";
    out += info.name;
  }
  return out;
}

// ---------------------------------------------------------------- tree

enum class NodeKind : std::uint8_t {
  literal,
  list,
  map,
  root,
  variable,
  call,  // call: resolved by the checker
  field,
  select,
  index,
  has_field,
  has_key,
  function,
  comprehension,
  logical_not,
  negate,
  binary,
  logical_and,
  logical_or,
  conditional,
  in
};

enum class BinaryOp : std::uint8_t {
  add,
  subtract,
  multiply,
  divide,
  modulo,
  equal,
  not_equal,
  less,
  less_equal,
  greater,
  greater_equal
};

enum class Function : std::uint8_t { size, starts_with, ends_with, contains, matches };

enum class Macro : std::uint8_t { exists, all, exists_one, filter, map };

struct Node {
  NodeKind kind = NodeKind::literal;
  std::size_t offset = 0;  // where errors about this node point
  std::vector<std::unique_ptr<Node>> children;
  std::string name;           // identifier, field, function, or a string literal's contents
  bool has_receiver = false;  // call written as receiver.name(...)
  Value constant;             // literal value; a constant list's Value
  std::vector<Value> constant_elements;
  Type type;
  int slot = -1;
  Field field = Field::door;
  BinaryOp op = BinaryOp::add;
  Function function = Function::size;
  Macro macro = Macro::exists;
  std::optional<Regex> regex;  // matches() with a literal pattern, compiled at load
};

using NodePointer = std::unique_ptr<Node>;

NodePointer make_node(NodeKind kind, std::size_t offset) {
  auto node = std::make_unique<Node>();
  node->kind = kind;
  node->offset = offset;
  return node;
}

// ---------------------------------------------------------------- lexer

enum class TokenKind : std::uint8_t { end, identifier, integer, floating, string, symbol };

struct Token {
  TokenKind kind = TokenKind::end;
  std::size_t offset = 0;
  std::string_view text;      // identifier or symbol as written
  std::string string_value;   // decoded string literal
  std::uint64_t integer = 0;  // magnitude; the sign is applied by the parser
  double floating = 0;
};

Token make_token(TokenKind kind, std::size_t offset, std::string_view text) {
  Token token;
  token.kind = kind;
  token.offset = offset;
  token.text = text;
  return token;
}

using Failure = std::unexpected<ExpressionError>;

Failure error_at(std::size_t offset, std::string message) {
  return std::unexpected(ExpressionError{offset, std::move(message)});
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

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  std::expected<std::vector<Token>, ExpressionError> run() {
    std::vector<Token> tokens;
    while (true) {
      skip_space();
      if (position_ >= text_.size()) {
        tokens.push_back(make_token(TokenKind::end, position_, {}));
        return tokens;
      }
      auto token = next();
      if (!token) return std::unexpected(token.error());
      tokens.push_back(std::move(*token));
    }
  }

 private:
  void skip_space() {
    while (position_ < text_.size()) {
      char c = text_[position_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
        ++position_;
      } else if (c == '/' && position_ + 1 < text_.size() && text_[position_ + 1] == '/') {
        while (position_ < text_.size() && text_[position_] != '\n') ++position_;  // comment
      } else {
        break;
      }
    }
  }

  static bool identifier_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  static bool identifier_part(char c) { return identifier_start(c) || (c >= '0' && c <= '9'); }
  static bool digit(char c) { return c >= '0' && c <= '9'; }

  std::expected<Token, ExpressionError> next() {
    std::size_t start = position_;
    char c = text_[position_];
    if ((c == 'r' || c == 'R') && position_ + 1 < text_.size() &&
        (text_[position_ + 1] == '"' || text_[position_ + 1] == '\'')) {
      ++position_;
      return string_literal(start, true);
    }
    if ((c == 'b' || c == 'B') && position_ + 1 < text_.size() &&
        (text_[position_ + 1] == '"' || text_[position_ + 1] == '\''))
      return error_at(start, "bytes literals are not supported");
    if (identifier_start(c)) {
      while (position_ < text_.size() && identifier_part(text_[position_])) ++position_;
      return make_token(TokenKind::identifier, start, text_.substr(start, position_ - start));
    }
    if (digit(c) || (c == '.' && position_ + 1 < text_.size() && digit(text_[position_ + 1])))
      return number(start);
    if (c == '"' || c == '\'') return string_literal(start, false);
    static constexpr std::array<std::string_view, 6> kTwoCharacter{
        "&&", "||", "==", "!=", "<=", ">="};
    for (auto symbol : kTwoCharacter) {
      if (text_.substr(position_, 2) == symbol) {
        position_ += 2;
        return make_token(TokenKind::symbol, start, symbol);
      }
    }
    static constexpr std::string_view kOneCharacter = "+-*/%!<>?:.,()[]{}";
    if (kOneCharacter.find(c) != std::string_view::npos) {
      ++position_;
      return make_token(TokenKind::symbol, start, text_.substr(start, 1));
    }
    if (c == '=') return error_at(start, "unexpected '='; did you mean '=='?");
    if (c == '&') return error_at(start, "unexpected '&'; did you mean '&&'?");
    if (c == '|') return error_at(start, "unexpected '|'; did you mean '||'?");
    return error_at(start, std::string("unexpected character '") + c + "'");
  }

  std::expected<Token, ExpressionError> number(std::size_t start) {
    if (text_.substr(position_, 2) == "0x" || text_.substr(position_, 2) == "0X") {
      position_ += 2;
      std::uint64_t value = 0;
      std::size_t digits_start = position_;
      while (position_ < text_.size() && hex_digit(text_[position_]) >= 0) {
        if (value > (std::numeric_limits<std::uint64_t>::max() >> 4))
          return error_at(start, "integer literal out of range");
        value = value * 16 + static_cast<std::uint64_t>(hex_digit(text_[position_++]));
      }
      if (position_ == digits_start) return error_at(start, "malformed hex literal");
      return finish_integer(start, value);
    }
    bool is_floating = false;
    while (position_ < text_.size() && digit(text_[position_])) ++position_;
    if (position_ + 1 < text_.size() && text_[position_] == '.' && digit(text_[position_ + 1])) {
      is_floating = true;
      ++position_;
      while (position_ < text_.size() && digit(text_[position_])) ++position_;
    }
    if (position_ < text_.size() && (text_[position_] == 'e' || text_[position_] == 'E')) {
      std::size_t exponent = position_ + 1;
      if (exponent < text_.size() && (text_[exponent] == '+' || text_[exponent] == '-')) ++exponent;
      if (exponent < text_.size() && digit(text_[exponent])) {
        is_floating = true;
        position_ = exponent;
        while (position_ < text_.size() && digit(text_[position_])) ++position_;
      }
    }
    std::string_view literal = text_.substr(start, position_ - start);
    if (is_floating) {
      std::string copy(literal);
      char* end = nullptr;
      double value = std::strtod(copy.c_str(), &end);
      if (end != copy.c_str() + copy.size() || !std::isfinite(value))
        return error_at(start, "malformed double literal");
      if (position_ < text_.size() && identifier_part(text_[position_]))
        return error_at(position_, "unexpected character after number");
      Token token = make_token(TokenKind::floating, start, literal);
      token.floating = value;
      return token;
    }
    std::uint64_t value = 0;
    for (char d : literal) {
      std::uint64_t digit_value = static_cast<std::uint64_t>(d - '0');
      if (value > (std::numeric_limits<std::uint64_t>::max() - digit_value) / 10)
        return error_at(start, "integer literal out of range");
      value = value * 10 + digit_value;
    }
    return finish_integer(start, value);
  }

  std::expected<Token, ExpressionError> finish_integer(std::size_t start, std::uint64_t value) {
    if (position_ < text_.size() && (text_[position_] == 'u' || text_[position_] == 'U'))
      return error_at(start, "unsigned integer literals are not supported");
    if (position_ < text_.size() && identifier_part(text_[position_]))
      return error_at(position_, "unexpected character after number");
    // 2^63 is allowed here only so that -9223372036854775808 can be written.
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1)
      return error_at(start, "integer literal out of range");
    Token token = make_token(TokenKind::integer, start, text_.substr(start, position_ - start));
    token.integer = value;
    return token;
  }

  std::expected<Token, ExpressionError> string_literal(std::size_t start, bool raw) {
    char quote = text_[position_];
    bool triple = text_.substr(position_, 3) == std::string(3, quote);
    position_ += triple ? 3 : 1;
    std::string value;
    while (true) {
      if (position_ >= text_.size()) return error_at(start, "unterminated string literal");
      char c = text_[position_];
      if (triple ? text_.substr(position_, 3) == std::string(3, quote) : c == quote) {
        position_ += triple ? 3 : 1;
        break;
      }
      if (!triple && (c == '\n' || c == '\r'))
        return error_at(start, "unterminated string literal");
      if (c != '\\' || raw) {
        value.push_back(c);
        ++position_;
        continue;
      }
      std::size_t escape_at = position_;
      if (++position_ >= text_.size()) return error_at(escape_at, "unterminated string literal");
      char e = text_[position_++];
      switch (e) {
        case 'a':
          value.push_back('\a');
          break;
        case 'b':
          value.push_back('\b');
          break;
        case 'f':
          value.push_back('\f');
          break;
        case 'n':
          value.push_back('\n');
          break;
        case 'r':
          value.push_back('\r');
          break;
        case 't':
          value.push_back('\t');
          break;
        case 'v':
          value.push_back('\v');
          break;
        case '\\':
        case '\'':
        case '"':
        case '`':
        case '?':
          value.push_back(e);
          break;
        case 'x':
        case 'X':
        case 'u':
        case 'U': {
          int digits = (e == 'x' || e == 'X') ? 2 : e == 'u' ? 4 : 8;
          std::uint32_t code = 0;
          for (int i = 0; i < digits; ++i) {
            if (position_ >= text_.size() || hex_digit(text_[position_]) < 0)
              return error_at(escape_at, "malformed escape sequence");
            code = code * 16 + static_cast<std::uint32_t>(hex_digit(text_[position_++]));
          }
          if (e == 'x' || e == 'X') {
            value.push_back(static_cast<char>(code));
          } else {
            if (code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF))
              return error_at(escape_at, "invalid unicode code point in escape");
            append_utf8(value, code);
          }
          break;
        }
        default:
          if (e >= '0' && e <= '3') {
            std::uint32_t code = static_cast<std::uint32_t>(e - '0');
            for (int i = 0; i < 2; ++i) {
              if (position_ >= text_.size() || text_[position_] < '0' || text_[position_] > '7')
                return error_at(escape_at, "malformed octal escape");
              code = code * 8 + static_cast<std::uint32_t>(text_[position_++] - '0');
            }
            value.push_back(static_cast<char>(code));
            break;
          }
          return error_at(escape_at, std::string("unknown escape sequence '\\") + e + "'");
      }
    }
    Token token = make_token(TokenKind::string, start, text_.substr(start, position_ - start));
    token.string_value = std::move(value);
    return token;
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

// ---------------------------------------------------------------- parser

// Recursive descent over CEL's grammar:
//   expr     = or ["?" or ":" expr]
//   or       = and {"||" and}
//   and      = relation {"&&" relation}
//   relation = addition {("<"|"<="|">"|">="|"=="|"!="|"in") addition}
//   addition = multiply {("+"|"-") multiply}
//   multiply = unary {("*"|"/"|"%") unary}
//   unary    = member | "!"{"!"} member | "-"{"-"} member
//   member   = primary {"." IDENT ["(" args ")"] | "[" expr "]"}
//   primary  = IDENT ["(" args ")"] | "(" expr ")" | "[" list "]" | "{" map "}" | literal
class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  std::expected<NodePointer, ExpressionError> parse() {
    auto node = expression();
    if (!node) return node;
    if (peek().kind != TokenKind::end)
      return error_at(peek().offset, "unexpected " + describe(peek()) + " after expression");
    return node;
  }

 private:
  using Parsed = std::expected<NodePointer, ExpressionError>;

  const Token& peek(std::size_t ahead = 0) const {
    return tokens_[std::min(position_ + ahead, tokens_.size() - 1)];
  }
  bool is_symbol(std::string_view symbol, std::size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::symbol && peek(ahead).text == symbol;
  }
  bool accept(std::string_view symbol) {
    if (!is_symbol(symbol)) return false;
    ++position_;
    return true;
  }
  static std::string describe(const Token& token) {
    switch (token.kind) {
      case TokenKind::end:
        return "end of expression";
      case TokenKind::string:
        return "string literal";
      default:
        return "'" + std::string(token.text) + "'";
    }
  }
  std::optional<ExpressionError> expect(std::string_view symbol) {
    if (accept(symbol)) return std::nullopt;
    return ExpressionError{peek().offset,
                           "expected '" + std::string(symbol) + "', found " + describe(peek())};
  }
  std::expected<NodePointer, ExpressionError> node(NodeKind kind, std::size_t offset) {
    if (++node_count_ > kMaxNodes) return error_at(offset, "expression is too large");
    return make_node(kind, offset);
  }

  Parsed expression() {
    if (++nesting_ > kMaxParseNesting)
      return error_at(peek().offset, "expression nests too deeply");
    auto condition = logical_or();
    if (!condition) return condition;
    Parsed result = std::move(condition);
    if (is_symbol("?")) {
      auto made = node(NodeKind::conditional, peek().offset);
      if (!made) return made;
      ++position_;
      auto when_true = logical_or();
      if (!when_true) return when_true;
      if (auto failure = expect(":")) return std::unexpected(*failure);
      auto when_false = expression();
      if (!when_false) return when_false;
      (*made)->children.push_back(std::move(*result));
      (*made)->children.push_back(std::move(*when_true));
      (*made)->children.push_back(std::move(*when_false));
      result = std::move(made);
    }
    --nesting_;
    return result;
  }

  template <typename Next>
  Parsed left_associative(Next next, NodeKind kind, std::string_view symbol) {
    auto left = (this->*next)();
    if (!left) return left;
    while (is_symbol(symbol)) {
      auto made = node(kind, peek().offset);
      if (!made) return made;
      ++position_;
      auto right = (this->*next)();
      if (!right) return right;
      (*made)->children.push_back(std::move(*left));
      (*made)->children.push_back(std::move(*right));
      left = std::move(made);
    }
    return left;
  }

  Parsed logical_or() { return left_associative(&Parser::logical_and, NodeKind::logical_or, "||"); }
  Parsed logical_and() { return left_associative(&Parser::relation, NodeKind::logical_and, "&&"); }

  Parsed relation() {
    auto left = addition();
    if (!left) return left;
    while (true) {
      const Token& token = peek();
      std::optional<BinaryOp> op;
      bool is_in = token.kind == TokenKind::identifier && token.text == "in";
      if (token.kind == TokenKind::symbol) {
        if (token.text == "==")
          op = BinaryOp::equal;
        else if (token.text == "!=")
          op = BinaryOp::not_equal;
        else if (token.text == "<")
          op = BinaryOp::less;
        else if (token.text == "<=")
          op = BinaryOp::less_equal;
        else if (token.text == ">")
          op = BinaryOp::greater;
        else if (token.text == ">=")
          op = BinaryOp::greater_equal;
      }
      if (!op && !is_in) return left;
      auto made = node(is_in ? NodeKind::in : NodeKind::binary, token.offset);
      if (!made) return made;
      if (op) (*made)->op = *op;
      ++position_;
      auto right = addition();
      if (!right) return right;
      (*made)->children.push_back(std::move(*left));
      (*made)->children.push_back(std::move(*right));
      left = std::move(made);
    }
  }

  Parsed arithmetic(Parsed (Parser::*next)(),
                    std::initializer_list<std::pair<std::string_view, BinaryOp>> ops) {
    auto left = (this->*next)();
    if (!left) return left;
    while (true) {
      std::optional<BinaryOp> op;
      for (const auto& [symbol, candidate] : ops)
        if (is_symbol(symbol)) op = candidate;
      if (!op) return left;
      auto made = node(NodeKind::binary, peek().offset);
      if (!made) return made;
      (*made)->op = *op;
      ++position_;
      auto right = (this->*next)();
      if (!right) return right;
      (*made)->children.push_back(std::move(*left));
      (*made)->children.push_back(std::move(*right));
      left = std::move(made);
    }
  }

  Parsed addition() {
    return arithmetic(&Parser::multiplication, {{"+", BinaryOp::add}, {"-", BinaryOp::subtract}});
  }
  Parsed multiplication() {
    return arithmetic(
        &Parser::unary,
        {{"*", BinaryOp::multiply}, {"/", BinaryOp::divide}, {"%", BinaryOp::modulo}});
  }

  Parsed unary() {
    if (is_symbol("!")) {
      auto made = node(NodeKind::logical_not, peek().offset);
      if (!made) return made;
      ++position_;
      auto operand = is_symbol("!") ? unary() : member();
      if (!operand) return operand;
      (*made)->children.push_back(std::move(*operand));
      return made;
    }
    if (is_symbol("-")) {
      std::size_t offset = peek().offset;
      // A minus right before an integer literal is part of the literal, so
      // that the most negative int64 can be written.
      if (peek(1).kind == TokenKind::integer && !is_symbol(".", 2) && !is_symbol("[", 2)) {
        std::uint64_t magnitude = peek(1).integer;
        position_ += 2;
        auto made = node(NodeKind::literal, offset);
        if (!made) return made;
        (*made)->constant = Value::of(static_cast<std::int64_t>(0 - magnitude));
        return made;
      }
      auto made = node(NodeKind::negate, offset);
      if (!made) return made;
      ++position_;
      auto operand = is_symbol("-") ? unary() : member();
      if (!operand) return operand;
      (*made)->children.push_back(std::move(*operand));
      return made;
    }
    return member();
  }

  std::optional<ExpressionError> arguments(Node& call) {
    ++position_;  // '('
    if (accept(")")) return std::nullopt;
    while (true) {
      auto argument = expression();
      if (!argument) return argument.error();
      call.children.push_back(std::move(*argument));
      if (accept(")")) return std::nullopt;
      if (auto failure = expect(",")) return failure;
    }
  }

  Parsed member() {
    auto operand = primary();
    if (!operand) return operand;
    while (true) {
      if (is_symbol(".")) {
        ++position_;
        const Token& name = peek();
        if (name.kind != TokenKind::identifier)
          return error_at(name.offset, "expected a field name after '.', found " + describe(name));
        ++position_;
        if (is_symbol("(")) {
          auto made = node(NodeKind::call, name.offset);
          if (!made) return made;
          (*made)->name = std::string(name.text);
          (*made)->has_receiver = true;
          (*made)->children.push_back(std::move(*operand));
          if (auto failure = arguments(**made)) return std::unexpected(*failure);
          operand = std::move(made);
        } else {
          auto made = node(NodeKind::select, name.offset);
          if (!made) return made;
          (*made)->name = std::string(name.text);
          (*made)->children.push_back(std::move(*operand));
          operand = std::move(made);
        }
      } else if (is_symbol("[")) {
        auto made = node(NodeKind::index, peek().offset);
        if (!made) return made;
        ++position_;
        auto subscript = expression();
        if (!subscript) return subscript;
        if (auto failure = expect("]")) return std::unexpected(*failure);
        (*made)->children.push_back(std::move(*operand));
        (*made)->children.push_back(std::move(*subscript));
        operand = std::move(made);
      } else {
        return operand;
      }
    }
  }

  Parsed primary() {
    const Token& token = peek();
    switch (token.kind) {
      case TokenKind::end:
        return error_at(token.offset, "unexpected end of expression");
      case TokenKind::integer: {
        if (token.integer > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          return error_at(token.offset, "integer literal out of range");
        auto made = node(NodeKind::literal, token.offset);
        if (!made) return made;
        (*made)->constant = Value::of(static_cast<std::int64_t>(token.integer));
        ++position_;
        return made;
      }
      case TokenKind::floating: {
        auto made = node(NodeKind::literal, token.offset);
        if (!made) return made;
        (*made)->constant = Value::of(token.floating);
        ++position_;
        return made;
      }
      case TokenKind::string: {
        auto made = node(NodeKind::literal, token.offset);
        if (!made) return made;
        // The Value views the node's own string; nodes live on the heap and
        // are never moved, so the view stays valid.
        (*made)->name = token.string_value;
        (*made)->constant = Value::of(std::string_view((*made)->name));
        ++position_;
        return made;
      }
      case TokenKind::identifier: {
        if (token.text == "true" || token.text == "false" || token.text == "null") {
          auto made = node(NodeKind::literal, token.offset);
          if (!made) return made;
          if (token.text != "null") (*made)->constant = Value::of(token.text == "true");
          ++position_;
          return made;
        }
        if (token.text == "in") return error_at(token.offset, "unexpected 'in'");
        ++position_;
        if (is_symbol("(")) {
          auto made = node(NodeKind::call, token.offset);
          if (!made) return made;
          (*made)->name = std::string(token.text);
          if (auto failure = arguments(**made)) return std::unexpected(*failure);
          return made;
        }
        auto made = node(NodeKind::variable, token.offset);
        if (!made) return made;
        (*made)->name = std::string(token.text);
        return made;
      }
      case TokenKind::symbol:
        break;
    }
    if (is_symbol("(")) {
      ++position_;
      auto inner = expression();
      if (!inner) return inner;
      if (auto failure = expect(")")) return std::unexpected(*failure);
      return inner;
    }
    if (is_symbol("[") || is_symbol("{")) {
      bool is_list = is_symbol("[");
      auto made = node(is_list ? NodeKind::list : NodeKind::map, token.offset);
      if (!made) return made;
      if (++nesting_ > kMaxParseNesting)
        return error_at(token.offset, "expression nests too deeply");
      ++position_;
      std::string_view close = is_list ? "]" : "}";
      while (!accept(close)) {
        auto element = expression();
        if (!element) return element;
        (*made)->children.push_back(std::move(*element));
        if (!is_list) {
          if (auto failure = expect(":")) return std::unexpected(*failure);
          auto value = expression();
          if (!value) return value;
          (*made)->children.push_back(std::move(*value));
        }
        if (accept(close)) break;
        if (auto failure = expect(",")) return std::unexpected(*failure);
      }
      --nesting_;
      return made;
    }
    return error_at(token.offset, "unexpected " + describe(token));
  }

  std::vector<Token> tokens_;
  std::size_t position_ = 0;
  std::size_t node_count_ = 0;
  int nesting_ = 0;
};

// ---------------------------------------------------------------- checker

// Resolves names, fields and functions, infers static types, and rejects
// what can never work. What depends on `params` stays `dyn` and is checked
// when evaluated.
class Checker {
 public:
  std::optional<ExpressionError> run(Node& root) {
    if (!check(root, 0)) return error_;
    if (root.type.kind != TypeKind::boolean && root.type.kind != TypeKind::dyn)
      return ExpressionError{0, "expression must be a bool, but it is " + type_name(root.type)};
    return std::nullopt;
  }
  int variable_count() const { return max_variables_; }

 private:
  struct Variable {
    std::string name;
    int slot;
    Type type;
  };

  bool fail(std::size_t offset, std::string message) {
    error_ = ExpressionError{offset, std::move(message)};
    return false;
  }

  static bool one_of(TypeKind kind, std::initializer_list<TypeKind> kinds) {
    if (kind == TypeKind::dyn) return true;
    for (TypeKind k : kinds)
      if (k == kind) return true;
    return false;
  }

  bool check(Node& node, int depth) {
    if (depth > kMaxDepth) return fail(node.offset, "expression nests too deeply");
    switch (node.kind) {
      case NodeKind::literal:
        return literal(node);
      case NodeKind::list:
      case NodeKind::map:
        return aggregate(node, depth);
      case NodeKind::variable:
        return identifier(node);
      case NodeKind::select:
        return select(node, depth);
      case NodeKind::index:
        return index(node, depth);
      case NodeKind::call:
        return call(node, depth);
      case NodeKind::logical_not:
      case NodeKind::logical_and:
      case NodeKind::logical_or: {
        for (auto& child : node.children) {
          if (!check(*child, depth + 1)) return false;
          if (!one_of(child->type.kind, {TypeKind::boolean}))
            return fail(node.offset, std::string(node.kind == NodeKind::logical_not   ? "'!'"
                                                 : node.kind == NodeKind::logical_and ? "'&&'"
                                                                                      : "'||'") +
                                         " needs bool operands, got " + type_name(child->type));
        }
        node.type = Type{TypeKind::boolean};
        return true;
      }
      case NodeKind::negate: {
        if (!check(*node.children[0], depth + 1)) return false;
        Type operand = node.children[0]->type;
        if (!one_of(operand.kind, {TypeKind::integer, TypeKind::floating}))
          return fail(node.offset, "unary '-' needs a number, got " + type_name(operand));
        node.type = operand;
        return true;
      }
      case NodeKind::conditional: {
        for (auto& child : node.children)
          if (!check(*child, depth + 1)) return false;
        if (!one_of(node.children[0]->type.kind, {TypeKind::boolean}))
          return fail(node.offset,
                      "'?:' condition must be a bool, got " + type_name(node.children[0]->type));
        Type a = node.children[1]->type, b = node.children[2]->type;
        node.type = (a.kind == b.kind && a.element == b.element) ? a : Type{};
        return true;
      }
      case NodeKind::in: {
        for (auto& child : node.children)
          if (!check(*child, depth + 1)) return false;
        Type item = node.children[0]->type, container = node.children[1]->type;
        if (!one_of(container.kind, {TypeKind::list, TypeKind::map}))
          return fail(node.offset,
                      "'in' needs a list or map on the right, got " + type_name(container));
        if (container.kind == TypeKind::list && !comparable(item.kind, container.element))
          return fail(node.offset, "'in' compares " + type_name(item) + " with elements of " +
                                       type_name(container));
        node.type = Type{TypeKind::boolean};
        return true;
      }
      case NodeKind::binary:
        return binary(node, depth);
      default:
        return fail(node.offset, "internal: unexpected node");
    }
  }

  bool literal(Node& node) {
    switch (node.constant.kind) {
      case ValueKind::null:
        node.type = Type{TypeKind::null};
        break;
      case ValueKind::boolean:
        node.type = Type{TypeKind::boolean};
        break;
      case ValueKind::integer:
        node.type = Type{TypeKind::integer};
        break;
      case ValueKind::floating:
        node.type = Type{TypeKind::floating};
        break;
      case ValueKind::string:
        node.type = Type{TypeKind::string};
        break;
      default:
        return fail(node.offset, "internal: unexpected literal");
    }
    return true;
  }

  bool aggregate(Node& node, int depth) {
    bool is_list = node.kind == NodeKind::list;
    std::optional<TypeKind> element;
    bool all_constant = is_list;
    for (std::size_t i = 0; i < node.children.size(); ++i) {
      Node& child = *node.children[i];
      if (!check(child, depth + 1)) return false;
      bool is_key = !is_list && i % 2 == 0;
      if (is_key) {
        if (!one_of(child.type.kind, {TypeKind::string, TypeKind::integer, TypeKind::boolean}))
          return fail(child.offset,
                      "map keys must be string, int or bool, got " + type_name(child.type));
        continue;
      }
      if (child.kind != NodeKind::literal) all_constant = false;
      if (!element)
        element = child.type.kind;
      else if (*element != child.type.kind)
        element = TypeKind::dyn;
    }
    node.type = Type{is_list ? TypeKind::list : TypeKind::map, element.value_or(TypeKind::dyn)};
    if (all_constant) {
      // A list of literals is built once here, not on every evaluation.
      for (const auto& child : node.children) node.constant_elements.push_back(child->constant);
      node.constant = Value::list(Source::values, &node.constant_elements);
      // The children stay: constant_elements views their strings.
      node.kind = NodeKind::literal;
    }
    return true;
  }

  bool identifier(Node& node) {
    for (auto it = scope_.rbegin(); it != scope_.rend(); ++it) {
      if (it->name == node.name) {
        node.slot = it->slot;
        node.type = it->type;
        return true;
      }
    }
    if (node.name == "action") {
      node.kind = NodeKind::root;
      node.type = Type{TypeKind::action};
      return true;
    }
    return fail(node.offset,
                "undeclared reference to '" + node.name + "' (the only variable is 'action')");
  }

  // Resolves operand.name: a known field of action or actor, or a key of a
  // map / dynamic value.
  bool resolve_field(Node& node, const Node& operand, bool for_has) {
    const std::string what = for_has ? "has(): " : "";
    if (operand.type.kind == TypeKind::action) {
      const FieldInfo* info = find_field(kActionFields, node.name);
      if (!info)
        return fail(node.offset, what + "action has no field '" + node.name +
                                     "' (fields: " + field_names(kActionFields) + ")");
      node.field = info->field;
      node.type = info->type;
      return true;
    }
    if (operand.type.kind == TypeKind::actor) {
      const FieldInfo* info = find_field(kActorFields, node.name);
      if (!info)
        return fail(node.offset, what + "actor has no field '" + node.name +
                                     "' (fields: " + field_names(kActorFields) + ")");
      node.field = info->field;
      node.type = info->type;
      return true;
    }
    if (operand.type.kind == TypeKind::map || operand.type.kind == TypeKind::dyn) {
      node.type = Type{operand.type.kind == TypeKind::map ? operand.type.element : TypeKind::dyn};
      return true;
    }
    return fail(node.offset,
                what + "type " + type_name(operand.type) + " has no field '" + node.name + "'");
  }

  bool select(Node& node, int depth) {
    Node& operand = *node.children[0];
    if (!check(operand, depth + 1)) return false;
    if (!resolve_field(node, operand, false)) return false;
    if (operand.type.kind == TypeKind::action || operand.type.kind == TypeKind::actor)
      node.kind = NodeKind::field;
    return true;
  }

  bool index(Node& node, int depth) {
    for (auto& child : node.children)
      if (!check(*child, depth + 1)) return false;
    Type container = node.children[0]->type, key = node.children[1]->type;
    switch (container.kind) {
      case TypeKind::list:
        if (!one_of(key.kind, {TypeKind::integer}))
          return fail(node.offset, "list index must be an int, got " + type_name(key));
        node.type = Type{container.element};
        return true;
      case TypeKind::map:
        if (!one_of(key.kind, {TypeKind::string, TypeKind::integer, TypeKind::boolean}))
          return fail(node.offset, "map key must be string, int or bool, got " + type_name(key));
        node.type = Type{container.element};
        return true;
      case TypeKind::dyn:
        node.type = Type{};
        return true;
      default:
        return fail(node.offset, "type " + type_name(container) + " cannot be indexed");
    }
  }

  bool arity(const Node& node, std::size_t expected) {
    std::size_t given = node.children.size() - (node.has_receiver ? 1 : 0);
    if (given == expected) return true;
    return fail(node.offset, node.name + "() takes " + std::to_string(expected) + " argument" +
                                 (expected == 1 ? "" : "s") + ", got " + std::to_string(given));
  }

  bool call(Node& node, int depth) {
    const std::string& name = node.name;
    if (name == "has" && !node.has_receiver) return has(node, depth);
    if (node.has_receiver && (name == "exists" || name == "all" || name == "exists_one" ||
                              name == "filter" || name == "map"))
      return comprehension(node, depth);
    for (auto& child : node.children)
      if (!check(*child, depth + 1)) return false;
    // Receiver and arguments alike: children[0] is the subject of the call.
    if (name == "size") {
      if (node.has_receiver ? !arity(node, 0) : !arity(node, 1)) return false;
      Type subject = node.children[0]->type;
      if (!one_of(subject.kind, {TypeKind::string, TypeKind::list, TypeKind::map}))
        return fail(node.offset, "size() does not apply to " + type_name(subject));
      node.kind = NodeKind::function;
      node.function = Function::size;
      node.type = Type{TypeKind::integer};
      return true;
    }
    std::optional<Function> function;
    if (name == "startsWith")
      function = Function::starts_with;
    else if (name == "endsWith")
      function = Function::ends_with;
    else if (name == "contains")
      function = Function::contains;
    else if (name == "matches")
      function = Function::matches;
    if (!function) {
      if (node.has_receiver) return fail(node.offset, "unknown method '" + name + "'");
      return fail(node.offset, "undeclared function '" + name + "'");
    }
    // matches may also be written matches(text, pattern), as in CEL.
    if (!node.has_receiver && *function != Function::matches)
      return fail(node.offset, name + "() must be called as a method: text." + name + "(...)");
    if (node.has_receiver ? !arity(node, 1) : !arity(node, 2)) return false;
    for (const auto& child : node.children)
      if (!one_of(child->type.kind, {TypeKind::string}))
        return fail(child->offset, name + "() needs strings, got " + type_name(child->type));
    node.kind = NodeKind::function;
    node.function = *function;
    node.type = Type{TypeKind::boolean};
    const Node& pattern = *node.children[1];
    if (*function == Function::matches && pattern.kind == NodeKind::literal) {
      auto regex = Regex::compile(pattern.constant.text);
      if (!regex) return fail(pattern.offset, regex.error().message);
      node.regex = std::move(*regex);
    }
    return true;
  }

  bool has(Node& node, int depth) {
    if (node.children.size() != 1)
      return fail(node.offset,
                  "has() takes 1 argument, got " + std::to_string(node.children.size()));
    NodePointer argument = std::move(node.children[0]);
    if (argument->kind != NodeKind::select)
      return fail(argument->offset, "has() needs a field selection such as has(action.params.x)");
    Node& operand = *argument->children[0];
    if (!check(operand, depth + 1)) return false;
    if (!resolve_field(*argument, operand, true)) return false;
    bool is_field = operand.type.kind == TypeKind::action || operand.type.kind == TypeKind::actor;
    node.kind = is_field ? NodeKind::has_field : NodeKind::has_key;
    node.field = argument->field;
    node.name = argument->name;
    node.children.clear();
    node.children.push_back(std::move(argument->children[0]));
    node.type = Type{TypeKind::boolean};
    return true;
  }

  bool comprehension(Node& node, int depth) {
    if (!arity(node, 2)) return false;
    Node& range = *node.children[0];
    Node& variable = *node.children[1];
    if (variable.kind != NodeKind::variable)
      return fail(variable.offset, node.name + "() needs a variable name as its first argument");
    if (variable.name == "action")
      return fail(variable.offset, "'action' cannot be used as a macro variable");
    if (!check(range, depth + 1)) return false;
    if (!one_of(range.type.kind, {TypeKind::list, TypeKind::map}))
      return fail(node.offset, node.name + "() needs a list or map, got " + type_name(range.type));
    int slot = static_cast<int>(scope_.size());
    if (slot >= kMaxVariables) return fail(node.offset, "macros nest too deeply");
    // Over a list the variable is an element; over a map it is a key.
    Type element{range.type.kind == TypeKind::list ? range.type.element : TypeKind::dyn};
    scope_.push_back(Variable{variable.name, slot, element});
    max_variables_ = std::max(max_variables_, slot + 1);
    Node& body = *node.children[2];
    bool ok = check(body, depth + 1);
    scope_.pop_back();
    if (!ok) return false;
    node.slot = slot;
    node.kind = NodeKind::comprehension;
    if (node.name == "map") {
      node.macro = Macro::map;
      node.type = Type{TypeKind::list, body.type.kind};
      return true;
    }
    if (!one_of(body.type.kind, {TypeKind::boolean}))
      return fail(body.offset,
                  node.name + "() predicate must be a bool, got " + type_name(body.type));
    if (node.name == "exists")
      node.macro = Macro::exists;
    else if (node.name == "all")
      node.macro = Macro::all;
    else if (node.name == "exists_one")
      node.macro = Macro::exists_one;
    else
      node.macro = Macro::filter;
    node.type =
        node.macro == Macro::filter ? Type{TypeKind::list, element.kind} : Type{TypeKind::boolean};
    return true;
  }

  bool binary(Node& node, int depth) {
    for (auto& child : node.children)
      if (!check(*child, depth + 1)) return false;
    Type a = node.children[0]->type, b = node.children[1]->type;
    auto mismatch = [&](std::string_view symbol) {
      return fail(node.offset, "no operator '" + std::string(symbol) + "' for " + type_name(a) +
                                   " and " + type_name(b));
    };
    switch (node.op) {
      case BinaryOp::equal:
      case BinaryOp::not_equal:
        if (!comparable(a.kind, b.kind)) return mismatch(node.op == BinaryOp::equal ? "==" : "!=");
        node.type = Type{TypeKind::boolean};
        return true;
      case BinaryOp::less:
      case BinaryOp::less_equal:
      case BinaryOp::greater:
      case BinaryOp::greater_equal: {
        static constexpr std::array<std::string_view, 4> kSymbols{"<", "<=", ">", ">="};
        std::string_view symbol =
            kSymbols[static_cast<int>(node.op) - static_cast<int>(BinaryOp::less)];
        auto ordered = [](TypeKind kind) {
          return one_of(
              kind, {TypeKind::integer, TypeKind::floating, TypeKind::string, TypeKind::boolean});
        };
        if (!ordered(a.kind) || !ordered(b.kind)) return mismatch(symbol);
        if (a.kind != TypeKind::dyn && b.kind != TypeKind::dyn && a.kind != b.kind &&
            !(is_numeric(a.kind) && is_numeric(b.kind)))
          return mismatch(symbol);
        node.type = Type{TypeKind::boolean};
        return true;
      }
      case BinaryOp::add:
      case BinaryOp::subtract:
      case BinaryOp::multiply:
      case BinaryOp::divide:
      case BinaryOp::modulo: {
        static constexpr std::array<std::string_view, 5> kSymbols{"+", "-", "*", "/", "%"};
        std::string_view symbol = kSymbols[static_cast<int>(node.op)];
        auto allowed = [&](TypeKind kind) {
          if (node.op == BinaryOp::add)
            return one_of(
                kind, {TypeKind::integer, TypeKind::floating, TypeKind::string, TypeKind::list});
          if (node.op == BinaryOp::modulo) return one_of(kind, {TypeKind::integer});
          return one_of(kind, {TypeKind::integer, TypeKind::floating});
        };
        if (!allowed(a.kind) || !allowed(b.kind)) return mismatch(symbol);
        if (a.kind != TypeKind::dyn && b.kind != TypeKind::dyn && a.kind != b.kind)
          return mismatch(symbol);
        node.type = a.kind == TypeKind::dyn ? Type{b.kind} : a;
        if (a.kind == TypeKind::list && b.kind == TypeKind::list && a.element != b.element)
          node.type.element = TypeKind::dyn;
        return true;
      }
    }
    return false;
  }

  std::vector<Variable> scope_;
  int max_variables_ = 0;
  ExpressionError error_;
};

// ---------------------------------------------------------------- evaluator

// Storage for values built during one evaluation (concatenated strings,
// constructed lists and maps, error messages). Created only when needed.
struct Arena {
  std::deque<std::string> strings;
  std::deque<std::vector<Value>> lists;
};

class Evaluator {
 public:
  explicit Evaluator(const Action& action) : action_(action) {}

  Value evaluate(const Node& node);

 private:
  Arena& arena() {
    if (!arena_) arena_ = std::make_unique<Arena>();
    return *arena_;
  }
  Value error(std::string message) {
    return Value::error(arena().strings.emplace_back(std::move(message)));
  }
  std::vector<Value>& new_list() { return arena().lists.emplace_back(); }

  Value field(const Node& node, const Value& operand);
  Value has_field(const Node& node, const Value& operand);
  Value index(const Value& container, const Value& key);
  Value function(const Node& node);
  Value comprehension(const Node& node);
  Value binary(const Node& node);
  Value arithmetic(BinaryOp op, const Value& a, const Value& b);

  const Action& action_;
  std::array<Value, kMaxVariables> slots_{};
  std::unique_ptr<Arena> arena_;
};

Value Evaluator::evaluate(const Node& node) {
  switch (node.kind) {
    case NodeKind::literal:
      return node.constant;
    case NodeKind::root:
      return Value::record(ValueKind::action, &action_);
    case NodeKind::variable:
      return slots_[node.slot];
    case NodeKind::list:
    case NodeKind::map: {
      auto& elements = new_list();
      elements.reserve(node.children.size());
      for (const auto& child : node.children) {
        Value value = evaluate(*child);
        if (value.is_error()) return value;
        elements.push_back(value);
      }
      if (node.kind == NodeKind::list) return Value::list(Source::values, &elements);
      for (std::size_t i = 0; i < elements.size(); i += 2)
        for (std::size_t j = 0; j < i; j += 2)
          if (equal(elements[i], elements[j])) return error("duplicate key in map literal");
      return Value::map(Source::values, &elements);
    }
    case NodeKind::field: {
      Value operand = evaluate(*node.children[0]);
      if (operand.is_error()) return operand;
      return field(node, operand);
    }
    case NodeKind::select: {
      Value operand = evaluate(*node.children[0]);
      if (operand.is_error()) return operand;
      if (operand.kind != ValueKind::map)
        return error("no field '" + node.name + "' on a value of type " +
                     std::string(kind_name(operand.kind)));
      auto found = map_find(operand, Value::of(std::string_view(node.name)));
      if (!found) return error("no such key: '" + node.name + "'");
      return *found;
    }
    case NodeKind::index: {
      Value container = evaluate(*node.children[0]);
      if (container.is_error()) return container;
      Value key = evaluate(*node.children[1]);
      if (key.is_error()) return key;
      return index(container, key);
    }
    case NodeKind::has_field: {
      Value operand = evaluate(*node.children[0]);
      if (operand.is_error()) return operand;
      return has_field(node, operand);
    }
    case NodeKind::has_key: {
      Value operand = evaluate(*node.children[0]);
      if (operand.is_error()) return operand;
      if (operand.kind != ValueKind::map)
        return error("has() on a value of type " + std::string(kind_name(operand.kind)));
      return Value::of(map_find(operand, Value::of(std::string_view(node.name))).has_value());
    }
    case NodeKind::function:
      return function(node);
    case NodeKind::comprehension:
      return comprehension(node);
    case NodeKind::logical_not: {
      Value operand = evaluate(*node.children[0]);
      if (operand.is_error()) return operand;
      if (operand.kind != ValueKind::boolean)
        return error("'!' applied to " + std::string(kind_name(operand.kind)));
      return Value::of(!operand.boolean);
    }
    case NodeKind::negate: {
      Value operand = evaluate(*node.children[0]);
      if (operand.is_error()) return operand;
      if (operand.kind == ValueKind::integer) {
        if (operand.integer == std::numeric_limits<std::int64_t>::min())
          return error("integer overflow");
        return Value::of(-operand.integer);
      }
      if (operand.kind == ValueKind::floating) return Value::of(-operand.floating);
      return error("unary '-' applied to " + std::string(kind_name(operand.kind)));
    }
    case NodeKind::logical_and:
    case NodeKind::logical_or: {
      // CEL's commutative semantics: a side that decides the result wins
      // even when the other side is an error.
      bool deciding = node.kind == NodeKind::logical_or;
      Value left = evaluate(*node.children[0]);
      if (left.kind == ValueKind::boolean && left.boolean == deciding) return left;
      Value right = evaluate(*node.children[1]);
      if (right.kind == ValueKind::boolean && right.boolean == deciding) return right;
      for (const Value* side : {&left, &right}) {
        if (side->is_error()) return *side;
        if (side->kind != ValueKind::boolean)
          return error(std::string(deciding ? "'||'" : "'&&'") + " applied to " +
                       std::string(kind_name(side->kind)));
      }
      return Value::of(!deciding);
    }
    case NodeKind::conditional: {
      Value condition = evaluate(*node.children[0]);
      if (condition.is_error()) return condition;
      if (condition.kind != ValueKind::boolean)
        return error("'?:' condition is " + std::string(kind_name(condition.kind)) + ", not bool");
      return evaluate(*node.children[condition.boolean ? 1 : 2]);
    }
    case NodeKind::in: {
      Value item = evaluate(*node.children[0]);
      if (item.is_error()) return item;
      Value container = evaluate(*node.children[1]);
      if (container.is_error()) return container;
      if (container.kind == ValueKind::list) {
        std::size_t size = list_size(container);
        for (std::size_t i = 0; i < size; ++i)
          if (equal(item, list_at(container, i))) return Value::of(true);
        return Value::of(false);
      }
      if (container.kind == ValueKind::map) return Value::of(map_find(container, item).has_value());
      return error("'in' applied to " + std::string(kind_name(container.kind)));
    }
    case NodeKind::binary:
      return binary(node);
    case NodeKind::call:
      break;
  }
  return error("internal: unresolved call");
}

Value Evaluator::field(const Node& node, const Value& operand) {
  if (operand.kind == ValueKind::action) {
    const auto& action = *static_cast<const Action*>(operand.pointer);
    switch (node.field) {
      case Field::door:
        return Value::of(std::string_view(action.door));
      case Field::target:
        return Value::of(std::string_view(action.target));
      case Field::verb:
        return Value::of(std::string_view(action.verb));
      case Field::params:
        return from_json(action.params);
      case Field::reason:
        return Value::of(action.reason ? std::string_view(*action.reason) : std::string_view());
      case Field::client_address:
        return Value::of(std::string_view(action.client_address));
      case Field::actor:
        return Value::record(ValueKind::actor, &action.actor);
      default:
        break;
    }
  } else if (operand.kind == ValueKind::actor) {
    const auto& actor = *static_cast<const Identity*>(operand.pointer);
    switch (node.field) {
      case Field::subject:
        return Value::of(std::string_view(actor.subject));
      case Field::issuer:
        return Value::of(std::string_view(actor.issuer));
      case Field::kind:
        return Value::of(identity_kind_name(actor.kind));
      case Field::groups:
        return Value::list(Source::strings, &actor.groups);
      case Field::email:
        return Value::of(actor.email ? std::string_view(*actor.email) : std::string_view());
      case Field::on_behalf_of:
        return Value::of(actor.on_behalf_of ? std::string_view(*actor.on_behalf_of)
                                            : std::string_view());
      default:
        break;
    }
  }
  return error("internal: field '" + node.name + "' on " + std::string(kind_name(operand.kind)));
}

// has() on a typed field: optional fields are present when set, strings and
// lists when non-empty (proto3 semantics, as CEL applies them).
Value Evaluator::has_field(const Node& node, const Value& operand) {
  if (operand.kind == ValueKind::action) {
    const auto& action = *static_cast<const Action*>(operand.pointer);
    switch (node.field) {
      case Field::door:
        return Value::of(!action.door.empty());
      case Field::target:
        return Value::of(!action.target.empty());
      case Field::verb:
        return Value::of(!action.verb.empty());
      case Field::params: {
        const auto& params = action.params;
        if (params.is_object()) return Value::of(!params.get_object().empty());
        return Value::of(!params.is_null());
      }
      case Field::reason:
        return Value::of(action.reason.has_value());
      case Field::client_address:
        return Value::of(!action.client_address.empty());
      case Field::actor:
        return Value::of(true);
      default:
        break;
    }
  } else if (operand.kind == ValueKind::actor) {
    const auto& actor = *static_cast<const Identity*>(operand.pointer);
    switch (node.field) {
      case Field::subject:
        return Value::of(!actor.subject.empty());
      case Field::issuer:
        return Value::of(!actor.issuer.empty());
      case Field::kind:
        return Value::of(true);
      case Field::groups:
        return Value::of(!actor.groups.empty());
      case Field::email:
        return Value::of(actor.email.has_value());
      case Field::on_behalf_of:
        return Value::of(actor.on_behalf_of.has_value());
      default:
        break;
    }
  }
  return error("internal: has() on " + std::string(kind_name(operand.kind)));
}

Value Evaluator::index(const Value& container, const Value& key) {
  if (container.kind == ValueKind::list) {
    if (key.kind != ValueKind::integer)
      return error("list index must be an int, got " + std::string(kind_name(key.kind)));
    std::size_t size = list_size(container);
    if (key.integer < 0 || static_cast<std::uint64_t>(key.integer) >= size)
      return error("index " + std::to_string(key.integer) + " out of range (size " +
                   std::to_string(size) + ")");
    return list_at(container, static_cast<std::size_t>(key.integer));
  }
  if (container.kind == ValueKind::map) {
    auto found = map_find(container, key);
    if (found) return *found;
    if (key.kind == ValueKind::string) return error("no such key: '" + std::string(key.text) + "'");
    return error("no such key");
  }
  return error("cannot index a value of type " + std::string(kind_name(container.kind)));
}

Value Evaluator::function(const Node& node) {
  Value subject = evaluate(*node.children[0]);
  if (subject.is_error()) return subject;
  if (node.function == Function::size) {
    switch (subject.kind) {
      case ValueKind::string:
        return Value::of(utf8_length(subject.text));
      case ValueKind::list:
        return Value::of(static_cast<std::int64_t>(list_size(subject)));
      case ValueKind::map:
        return Value::of(static_cast<std::int64_t>(map_size(subject)));
      default:
        return error("size() applied to " + std::string(kind_name(subject.kind)));
    }
  }
  Value argument = evaluate(*node.children[1]);
  if (argument.is_error()) return argument;
  if (subject.kind != ValueKind::string || argument.kind != ValueKind::string)
    return error(node.name + "() applied to " + std::string(kind_name(subject.kind)) + " and " +
                 std::string(kind_name(argument.kind)));
  switch (node.function) {
    case Function::starts_with:
      return Value::of(subject.text.starts_with(argument.text));
    case Function::ends_with:
      return Value::of(subject.text.ends_with(argument.text));
    case Function::contains:
      return Value::of(subject.text.find(argument.text) != std::string_view::npos);
    case Function::matches: {
      if (node.regex) return Value::of(node.regex->search(subject.text));
      if (argument.text.size() > kMaxRuntimePattern) return error("matches(): pattern too long");
      auto regex = Regex::compile(argument.text);
      if (!regex) return error("matches(): " + regex.error().message);
      return Value::of(regex->search(subject.text));
    }
    case Function::size:
      break;
  }
  return error("internal: unknown function");
}

Value Evaluator::comprehension(const Node& node) {
  Value range = evaluate(*node.children[0]);
  if (range.is_error()) return range;
  bool is_list = range.kind == ValueKind::list;
  if (!is_list && range.kind != ValueKind::map)
    return error(node.name + "() applied to " + std::string(kind_name(range.kind)));
  const std::size_t size = is_list ? list_size(range) : map_size(range);
  const Node& body = *node.children[2];
  std::vector<Value>* results = nullptr;
  if (node.macro == Macro::filter || node.macro == Macro::map) results = &new_list();
  std::optional<Value> first_error;
  int count = 0;
  for (std::size_t i = 0; i < size; ++i) {
    Value element = is_list ? list_at(range, i) : map_key_at(range, i);
    slots_[node.slot] = element;
    Value result = evaluate(body);
    if (node.macro == Macro::map) {
      if (result.is_error()) return result;
      results->push_back(result);
      continue;
    }
    if (result.kind != ValueKind::boolean) {
      Value failure =
          result.is_error()
              ? result
              : error(node.name + "() predicate returned " + std::string(kind_name(result.kind)));
      // exists and all, like && and ||, ignore an error when another element
      // decides the answer; the others cannot.
      if (node.macro == Macro::exists || node.macro == Macro::all) {
        if (!first_error) first_error = failure;
        continue;
      }
      return failure;
    }
    switch (node.macro) {
      case Macro::exists:
        if (result.boolean) return Value::of(true);
        break;
      case Macro::all:
        if (!result.boolean) return Value::of(false);
        break;
      case Macro::exists_one:
        count += result.boolean ? 1 : 0;
        break;
      case Macro::filter:
        if (result.boolean) results->push_back(element);
        break;
      case Macro::map:
        break;
    }
  }
  if (first_error) return *first_error;
  switch (node.macro) {
    case Macro::exists:
      return Value::of(false);
    case Macro::all:
      return Value::of(true);
    case Macro::exists_one:
      return Value::of(count == 1);
    case Macro::filter:
    case Macro::map:
      return Value::list(Source::values, results);
  }
  return error("internal: unknown macro");
}

Value Evaluator::binary(const Node& node) {
  Value a = evaluate(*node.children[0]);
  if (a.is_error()) return a;
  Value b = evaluate(*node.children[1]);
  if (b.is_error()) return b;
  switch (node.op) {
    case BinaryOp::equal:
      return Value::of(equal(a, b));
    case BinaryOp::not_equal:
      return Value::of(!equal(a, b));
    case BinaryOp::less:
    case BinaryOp::less_equal:
    case BinaryOp::greater:
    case BinaryOp::greater_equal: {
      auto order = compare(a, b);
      if (!order)
        return error("cannot compare " + std::string(kind_name(a.kind)) + " with " +
                     std::string(kind_name(b.kind)));
      switch (node.op) {
        case BinaryOp::less:
          return Value::of(*order < 0);
        case BinaryOp::less_equal:
          return Value::of(*order <= 0);
        case BinaryOp::greater:
          return Value::of(*order > 0);
        default:
          return Value::of(*order >= 0);
      }
    }
    default:
      return arithmetic(node.op, a, b);
  }
}

Value Evaluator::arithmetic(BinaryOp op, const Value& a, const Value& b) {
  static constexpr std::array<std::string_view, 5> kSymbols{"+", "-", "*", "/", "%"};
  auto no_operator = [&] {
    return error("no operator '" + std::string(kSymbols[static_cast<int>(op)]) + "' for " +
                 std::string(kind_name(a.kind)) + " and " + std::string(kind_name(b.kind)));
  };
  if (a.kind != b.kind) return no_operator();
  switch (a.kind) {
    case ValueKind::integer: {
      std::int64_t result = 0;
      bool overflow = false;
      switch (op) {
        case BinaryOp::add:
          overflow = __builtin_add_overflow(a.integer, b.integer, &result);
          break;
        case BinaryOp::subtract:
          overflow = __builtin_sub_overflow(a.integer, b.integer, &result);
          break;
        case BinaryOp::multiply:
          overflow = __builtin_mul_overflow(a.integer, b.integer, &result);
          break;
        case BinaryOp::divide:
        case BinaryOp::modulo:
          if (b.integer == 0)
            return error(op == BinaryOp::divide ? "division by zero" : "modulus by zero");
          if (a.integer == std::numeric_limits<std::int64_t>::min() && b.integer == -1)
            return error("integer overflow");
          result = op == BinaryOp::divide ? a.integer / b.integer : a.integer % b.integer;
          break;
        default:
          return no_operator();
      }
      if (overflow) return error("integer overflow");
      return Value::of(result);
    }
    case ValueKind::floating:
      switch (op) {
        case BinaryOp::add:
          return Value::of(a.floating + b.floating);
        case BinaryOp::subtract:
          return Value::of(a.floating - b.floating);
        case BinaryOp::multiply:
          return Value::of(a.floating * b.floating);
        case BinaryOp::divide:
          if (b.floating == 0) return error("division by zero");
          return Value::of(a.floating / b.floating);
        default:
          return no_operator();
      }
    case ValueKind::string: {
      if (op != BinaryOp::add) return no_operator();
      std::string& joined = arena().strings.emplace_back();
      joined.reserve(a.text.size() + b.text.size());
      joined.append(a.text).append(b.text);
      return Value::of(std::string_view(joined));
    }
    case ValueKind::list: {
      if (op != BinaryOp::add) return no_operator();
      auto& joined = new_list();
      for (const Value* side : {&a, &b}) {
        std::size_t size = list_size(*side);
        for (std::size_t i = 0; i < size; ++i) joined.push_back(list_at(*side, i));
      }
      return Value::list(Source::values, &joined);
    }
    default:
      return no_operator();
  }
}

}  // namespace

struct Expression::Program {
  std::string text;
  NodePointer root;
};

std::expected<Expression, ExpressionError> Expression::compile(std::string_view text) {
  auto tokens = Lexer(text).run();
  if (!tokens) return std::unexpected(tokens.error());
  auto root = Parser(std::move(*tokens)).parse();
  if (!root) return std::unexpected(root.error());
  Checker checker;
  if (auto failure = checker.run(**root)) return std::unexpected(*failure);
  auto program = std::make_shared<Program>();
  program->text = std::string(text);
  program->root = std::move(*root);
  return Expression(std::move(program));
}

EvaluationResult Expression::evaluate(const Action& action) const {
  Evaluator evaluator(action);
  Value result = evaluator.evaluate(*program_->root);
  EvaluationResult outcome;
  if (result.kind == ValueKind::boolean) {
    outcome.value = result.boolean;
    return outcome;
  }
  outcome.errored = true;
  outcome.error = result.is_error()
                      ? std::string(result.text)
                      : "result is " + std::string(kind_name(result.kind)) + ", not bool";
  return outcome;
}

const std::string& Expression::text() const { return program_->text; }

}  // namespace countersign::policy
