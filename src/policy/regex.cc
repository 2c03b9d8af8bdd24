#include "policy/regex.h"

#include <array>
#include <string>

namespace countersign::policy {

namespace {

constexpr size_t kMaxInstructions = 5000;
constexpr int kMaxRepeat = 100;
constexpr int kMaxNesting = 100;

// 256 bits: which bytes one consuming step accepts.
struct ByteSet {
  std::array<std::uint64_t, 4> bits{};
  void add(unsigned char c) { bits[c >> 6] |= std::uint64_t{1} << (c & 63); }
  void add_range(unsigned char low, unsigned char high) {
    for (int c = low; c <= high; ++c) add(static_cast<unsigned char>(c));
  }
  void add_all(const ByteSet& other) {
    for (int i = 0; i < 4; ++i) bits[i] |= other.bits[i];
  }
  void invert() {
    for (auto& word : bits) word = ~word;
  }
  bool contains(unsigned char c) const { return bits[c >> 6] >> (c & 63) & 1; }
};

enum class Opcode : std::uint8_t { bytes, split, jump, assert_begin, assert_end, match };

}  // namespace

struct Regex::Instruction {
  Opcode opcode = Opcode::match;
  int first = 0;   // jump target, or split's preferred branch
  int second = 0;  // split's other branch
  ByteSet set;
};

namespace {

using Instruction = Regex::Instruction;

struct Node {
  enum class Kind { empty, bytes, begin, end, concat, alternate, repeat } kind = Kind::empty;
  ByteSet set;
  std::vector<Node> children;
  int min = 0, max = 0;  // repeat bounds; max < 0 means unbounded
};

Node make_node(Node::Kind kind) {
  Node node;
  node.kind = kind;
  return node;
}

Instruction make_instruction(Opcode opcode, int first = 0) {
  Instruction instruction;
  instruction.opcode = opcode;
  instruction.first = first;
  return instruction;
}

class Parser {
 public:
  explicit Parser(std::string_view pattern) : pattern_(pattern) {}

  Result<Node> parse() {
    auto node = alternation(0);
    if (!node) return node;
    if (position_ < pattern_.size()) return error("unmatched ')'");
    return node;
  }

 private:
  std::unexpected<Error> error(std::string_view message) const {
    return fail(ErrorCode::invalid_argument,
                "bad regex at offset " + std::to_string(position_) + ": " + std::string(message));
  }
  bool at_end() const { return position_ >= pattern_.size(); }
  char peek() const { return pattern_[position_]; }

  Result<Node> alternation(int depth) {
    if (depth > kMaxNesting) return error("groups nest too deeply");
    Node alternate = make_node(Node::Kind::alternate);
    while (true) {
      auto branch = concatenation(depth);
      if (!branch) return branch;
      alternate.children.push_back(std::move(*branch));
      if (at_end() || peek() != '|') break;
      ++position_;
    }
    if (alternate.children.size() == 1) return std::move(alternate.children.front());
    return alternate;
  }

  Result<Node> concatenation(int depth) {
    Node concat = make_node(Node::Kind::concat);
    while (!at_end() && peek() != '|' && peek() != ')') {
      auto atom_node = atom(depth);
      if (!atom_node) return atom_node;
      auto repeated = quantifiers(std::move(*atom_node));
      if (!repeated) return repeated;
      concat.children.push_back(std::move(*repeated));
    }
    if (concat.children.size() == 1) return std::move(concat.children.front());
    return concat;
  }

  Result<Node> quantifiers(Node node) {
    bool quantified = false;
    while (!at_end()) {
      char c = peek();
      int min = 0, max = 0;
      if (c == '*') {
        min = 0, max = -1, ++position_;
      } else if (c == '+') {
        min = 1, max = -1, ++position_;
      } else if (c == '?') {
        min = 0, max = 1, ++position_;
      } else if (c == '{') {
        auto bounds = counted(min, max);
        if (!bounds) return std::unexpected(bounds.error());
        if (!*bounds) break;  // not a repetition: '{' is a literal
      } else {
        break;
      }
      if (quantified) return error("bad repetition operator");
      quantified = true;
      if (node.kind == Node::Kind::begin || node.kind == Node::Kind::end)
        return error("repetition of an anchor");
      Node repeat = make_node(Node::Kind::repeat);
      repeat.min = min;
      repeat.max = max;
      repeat.children.push_back(std::move(node));
      node = std::move(repeat);
      if (!at_end() && peek() == '?') ++position_;  // lazy: same answer for a yes/no match
    }
    return node;
  }

  // Parses "{n}", "{n,}" or "{n,m}" at the current position. Returns false
  // (and consumes nothing) when the text is not a repetition, as RE2 does.
  Result<bool> counted(int& min, int& max) {
    size_t i = position_ + 1;
    auto number = [&](int& out) {
      size_t start = i;
      long value = 0;
      while (i < pattern_.size() && pattern_[i] >= '0' && pattern_[i] <= '9' && i - start < 6)
        value = value * 10 + (pattern_[i++] - '0');
      out = static_cast<int>(value);
      return i > start;
    };
    if (!number(min)) return false;
    max = min;
    if (i < pattern_.size() && pattern_[i] == ',') {
      ++i;
      if (!number(max)) max = -1;
    }
    if (i >= pattern_.size() || pattern_[i] != '}') return false;
    position_ = i + 1;
    if (min > kMaxRepeat || max > kMaxRepeat) return error("repetition count above 100");
    if (max >= 0 && max < min) return error("bad repetition range");
    return true;
  }

  Result<Node> atom(int depth) {
    char c = peek();
    switch (c) {
      case '(': {
        ++position_;
        if (pattern_.substr(position_).starts_with("?:")) {
          position_ += 2;
        } else if (!at_end() && peek() == '?') {
          return error("unsupported group syntax '(?'");
        }
        auto inner = alternation(depth + 1);
        if (!inner) return inner;
        if (at_end() || peek() != ')') return error("missing ')'");
        ++position_;
        return inner;
      }
      case ')':
        return error("unmatched ')'");
      case '*':
      case '+':
      case '?':
        return error("missing argument to repetition operator");
      case '[':
        return character_class();
      case '.': {
        ++position_;
        Node node = make_node(Node::Kind::bytes);
        node.set.invert();
        node.set.bits['\n' >> 6] &= ~(std::uint64_t{1} << ('\n' & 63));
        return node;
      }
      case '^':
        ++position_;
        return make_node(Node::Kind::begin);
      case '$':
        ++position_;
        return make_node(Node::Kind::end);
      case '\\': {
        ++position_;
        Node node = make_node(Node::Kind::bytes);
        auto ok = escape(node.set);
        if (!ok) return std::unexpected(ok.error());
        return node;
      }
      default: {
        ++position_;
        Node node = make_node(Node::Kind::bytes);
        node.set.add(static_cast<unsigned char>(c));
        return node;
      }
    }
  }

  // After a '\': adds what the escape stands for to set.
  Result<bool> escape(ByteSet& set) {
    if (at_end()) return error("trailing '\\'");
    char c = pattern_[position_++];
    ByteSet digits, word, space;
    digits.add_range('0', '9');
    word.add_range('a', 'z');
    word.add_range('A', 'Z');
    word.add_all(digits);
    word.add('_');
    for (char s : std::string_view(" \t\n\r\f\v")) space.add(static_cast<unsigned char>(s));
    auto add_inverse = [&](ByteSet other) {
      other.invert();
      set.add_all(other);
    };
    switch (c) {
      case 'd':
        set.add_all(digits);
        return true;
      case 'D':
        add_inverse(digits);
        return true;
      case 'w':
        set.add_all(word);
        return true;
      case 'W':
        add_inverse(word);
        return true;
      case 's':
        set.add_all(space);
        return true;
      case 'S':
        add_inverse(space);
        return true;
      case 'n':
        set.add('\n');
        return true;
      case 't':
        set.add('\t');
        return true;
      case 'r':
        set.add('\r');
        return true;
      case 'f':
        set.add('\f');
        return true;
      case 'v':
        set.add('\v');
        return true;
      case 'x': {
        int value = 0;
        for (int k = 0; k < 2; ++k) {
          if (at_end()) return error("bad \\x escape");
          char h = pattern_[position_++];
          int digit = h >= '0' && h <= '9'   ? h - '0'
                      : h >= 'a' && h <= 'f' ? h - 'a' + 10
                      : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                             : -1;
          if (digit < 0) return error("bad \\x escape");
          value = value * 16 + digit;
        }
        set.add(static_cast<unsigned char>(value));
        return true;
      }
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
          return error(std::string("unsupported escape '\\") + c + "'");
        set.add(static_cast<unsigned char>(c));
        return true;
    }
  }

  Result<Node> character_class() {
    ++position_;  // '['
    Node node = make_node(Node::Kind::bytes);
    bool negated = false;
    if (!at_end() && peek() == '^') {
      negated = true;
      ++position_;
    }
    bool first = true;
    while (true) {
      if (at_end()) return error("missing ']'");
      char c = peek();
      if (c == ']' && !first) {
        ++position_;
        break;
      }
      first = false;
      if (c == '[' && pattern_.substr(position_).starts_with("[:"))
        return error("named character classes are not supported");
      // One endpoint: an escape (possibly a whole set such as \d) or a byte.
      ByteSet single;
      int low = -1;
      if (c == '\\') {
        ++position_;
        auto ok = escape(single);
        if (!ok) return std::unexpected(ok.error());
        int count = 0;
        for (int b = 0; b < 256; ++b)
          if (single.contains(static_cast<unsigned char>(b))) ++count, low = b;
        if (count != 1) low = -1;  // a set such as \d cannot start a range
      } else {
        ++position_;
        low = static_cast<unsigned char>(c);
        single.add(static_cast<unsigned char>(c));
      }
      if (low >= 0 && position_ + 1 < pattern_.size() && peek() == '-' &&
          pattern_[position_ + 1] != ']') {
        ++position_;  // '-'
        char h = peek();
        int high;
        if (h == '\\') {
          ++position_;
          ByteSet end;
          auto ok = escape(end);
          if (!ok) return std::unexpected(ok.error());
          high = -1;
          int count = 0;
          for (int b = 0; b < 256; ++b)
            if (end.contains(static_cast<unsigned char>(b))) ++count, high = b;
          if (count != 1) return error("bad character class range");
        } else {
          ++position_;
          high = static_cast<unsigned char>(h);
        }
        if (high < low) return error("bad character class range");
        node.set.add_range(static_cast<unsigned char>(low), static_cast<unsigned char>(high));
      } else {
        node.set.add_all(single);
      }
    }
    if (negated) node.set.invert();
    return node;
  }

  std::string_view pattern_;
  size_t position_ = 0;
};

class Compiler {
 public:
  Result<std::vector<Instruction>> compile(const Node& root) {
    if (!emit(root)) return too_big();
    if (!add(make_instruction(Opcode::match))) return too_big();
    return std::move(program_);
  }

 private:
  static std::unexpected<Error> too_big() {
    return fail(ErrorCode::invalid_argument, "regex too large after expanding repetitions");
  }

  bool add(Instruction instruction) {
    if (program_.size() >= kMaxInstructions) return false;
    program_.push_back(instruction);
    return true;
  }
  int here() const { return static_cast<int>(program_.size()); }

  bool emit(const Node& node) {
    switch (node.kind) {
      case Node::Kind::empty:
        return true;
      case Node::Kind::bytes: {
        Instruction instruction = make_instruction(Opcode::bytes);
        instruction.set = node.set;
        return add(instruction);
      }
      case Node::Kind::begin:
        return add(make_instruction(Opcode::assert_begin));
      case Node::Kind::end:
        return add(make_instruction(Opcode::assert_end));
      case Node::Kind::concat:
        for (const auto& child : node.children)
          if (!emit(child)) return false;
        return true;
      case Node::Kind::alternate: {
        // split L1, next; L1: a; jump end; next: split L2, ... ; last branch
        std::vector<int> jumps;
        for (size_t i = 0; i < node.children.size(); ++i) {
          if (i + 1 < node.children.size()) {
            int split = here();
            if (!add(make_instruction(Opcode::split))) return false;
            program_[split].first = here();
            if (!emit(node.children[i])) return false;
            jumps.push_back(here());
            if (!add(make_instruction(Opcode::jump))) return false;
            program_[split].second = here();
          } else if (!emit(node.children[i])) {
            return false;
          }
        }
        for (int jump : jumps) program_[jump].first = here();
        return true;
      }
      case Node::Kind::repeat: {
        const Node& body = node.children.front();
        for (int i = 0; i < node.min; ++i)
          if (!emit(body)) return false;
        if (node.max < 0) {
          // loop: split body, out; body; jump loop
          int loop = here();
          if (!add(make_instruction(Opcode::split))) return false;
          program_[loop].first = here();
          if (!emit(body)) return false;
          if (!add(make_instruction(Opcode::jump, loop))) return false;
          program_[loop].second = here();
          return true;
        }
        std::vector<int> splits;
        for (int i = node.min; i < node.max; ++i) {
          splits.push_back(here());
          if (!add(make_instruction(Opcode::split))) return false;
          program_[splits.back()].first = here();
          if (!emit(body)) return false;
        }
        for (int split : splits) program_[split].second = here();
        return true;
      }
    }
    return false;
  }

  std::vector<Instruction> program_;
};

}  // namespace

Result<Regex> Regex::compile(std::string_view pattern) {
  Parser parser(pattern);
  auto root = parser.parse();
  if (!root) return std::unexpected(root.error());
  Compiler compiler;
  auto program = compiler.compile(*root);
  if (!program) return std::unexpected(program.error());
  Regex regex;
  regex.program_ = std::make_shared<const std::vector<Instruction>>(std::move(*program));
  return regex;
}

bool Regex::search(std::string_view text) const {
  const auto& program = *program_;
  const size_t size = program.size();
  std::vector<int> current, next, stack;
  current.reserve(size);
  next.reserve(size);
  std::vector<size_t> mark(size, 0);  // generation in which a state was last added
  size_t generation = 0;

  // Adds pc and everything reachable from it without consuming input.
  // Returns true when that reaches the match state.
  auto add = [&](std::vector<int>& list, int start, size_t position) {
    stack.clear();
    stack.push_back(start);
    while (!stack.empty()) {
      int pc = stack.back();
      stack.pop_back();
      if (mark[pc] == generation) continue;
      mark[pc] = generation;
      const Instruction& instruction = program[pc];
      switch (instruction.opcode) {
        case Opcode::bytes:
          list.push_back(pc);
          break;
        case Opcode::jump:
          stack.push_back(instruction.first);
          break;
        case Opcode::split:
          stack.push_back(instruction.second);
          stack.push_back(instruction.first);
          break;
        case Opcode::assert_begin:
          if (position == 0) stack.push_back(pc + 1);
          break;
        case Opcode::assert_end:
          if (position == text.size()) stack.push_back(pc + 1);
          break;
        case Opcode::match:
          return true;
      }
    }
    return false;
  };

  ++generation;
  if (add(current, 0, 0)) return true;
  for (size_t position = 0; position < text.size(); ++position) {
    ++generation;
    next.clear();
    const auto byte = static_cast<unsigned char>(text[position]);
    for (int pc : current)
      if (program[pc].set.contains(byte) && add(next, pc + 1, position + 1)) return true;
    // A match may start at any position (unanchored search).
    if (add(next, 0, position + 1)) return true;
    current.swap(next);
  }
  return false;
}

}  // namespace countersign::policy
