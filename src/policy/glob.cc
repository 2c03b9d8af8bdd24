#include "policy/glob.h"

namespace countersign::policy {

Result<Glob> Glob::parse(std::string_view pattern) {
  if (pattern.empty()) return fail(ErrorCode::invalid_argument, "empty pattern");
  Glob glob;
  glob.pattern_ = std::string(pattern);
  int stars = 0, questions = 0;
  size_t first_star = std::string::npos;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return fail(ErrorCode::invalid_argument,
                  "pattern '" + glob.pattern_ + "' contains a control character");
    if (c == '[' || c == ']')
      return fail(ErrorCode::invalid_argument,
                  "pattern '" + glob.pattern_ +
                      "': character classes are not supported (escape with '\\' for a literal)");
    if (c == '\\') {
      if (i + 1 == pattern.size())
        return fail(ErrorCode::invalid_argument,
                    "pattern '" + glob.pattern_ + "' ends with a dangling '\\'");
      glob.tokens_.push_back(pattern[++i]);
      glob.literal_.push_back('1');
      continue;
    }
    if (c == '*') {
      if (first_star == std::string::npos) first_star = glob.tokens_.size();
      ++stars;
    }
    if (c == '?') ++questions;
    glob.tokens_.push_back(c);
    glob.literal_.push_back(c == '*' || c == '?' ? '0' : '1');
  }

  // The literal run before the first wildcard, used by the policy index.
  for (size_t i = 0; i < glob.tokens_.size() && glob.literal_[i] == '1'; ++i)
    glob.prefix_.push_back(glob.tokens_[i]);

  const size_t size = glob.tokens_.size();
  if (stars == 0 && questions == 0) {
    glob.shape_ = Shape::exact;
  } else if (questions == 0 && stars == 1 && first_star == size - 1) {
    glob.shape_ = Shape::prefix;
  } else if (questions == 0 && stars == 1 && first_star == 0) {
    glob.shape_ = Shape::suffix;
    glob.suffix_ = glob.tokens_.substr(1);
  } else if (questions == 0 && stars == static_cast<int>(size)) {
    glob.shape_ = Shape::any;
  } else {
    glob.shape_ = Shape::general;
  }
  return glob;
}

bool Glob::matches(std::string_view value) const {
  switch (shape_) {
    case Shape::exact:
      return value == prefix_;
    case Shape::prefix:
      return value.starts_with(prefix_);
    case Shape::suffix:
      return value.ends_with(suffix_);
    case Shape::any:
      return true;
    case Shape::general:
      break;
  }
  // Greedy scan remembering the last '*': on a mismatch, let that star absorb
  // one more character and retry. Each star restart moves forward, which
  // bounds the work by pattern x value.
  const size_t size = tokens_.size();
  size_t p = 0, v = 0;
  size_t star = std::string::npos, star_value = 0;
  while (v < value.size()) {
    if (p < size && literal_[p] == '0' && tokens_[p] == '*') {
      star = p++;
      star_value = v;
    } else if (p < size && (literal_[p] == '0' ? tokens_[p] == '?' : tokens_[p] == value[v])) {
      ++p;
      ++v;
    } else if (star != std::string::npos) {
      p = star + 1;
      v = ++star_value;
    } else {
      return false;
    }
  }
  while (p < size && literal_[p] == '0' && tokens_[p] == '*') ++p;
  return p == size;
}

}  // namespace countersign::policy
