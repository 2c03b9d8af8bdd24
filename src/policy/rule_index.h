// An index over the door, target and verb patterns of policy rules, so that a
// decision looks only at rules that can match. For each of the three fields
// it keeps exact patterns in a hash map and the literal prefixes of glob
// patterns ("sql:*" -> "sql:") in a trie; rules with no pattern for a field,
// or a pattern starting with a wildcard, sit at the trie's root. A lookup
// intersects the candidate sets of the two fields that yield the fewest.
// The index only narrows: candidates must still be matched in full. It must
// never drop a rule that matches. Lookups allocate only small scratch lists
// (plus one per-thread mark array, sized once to the largest policy).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "policy/glob.h"

namespace countersign::policy {

using RuleNumber = std::uint32_t;  // position of a rule in file order

class FieldIndex {
 public:
  // Rules must be added in increasing order of number. An empty pattern
  // list means the rule accepts any value of the field.
  void add(RuleNumber rule, const std::vector<Glob>& patterns);

  // Appends to buckets every list of rules that may accept value, and
  // returns the total number of entries in them.
  std::size_t lookup(std::string_view value,
                     std::vector<const std::vector<RuleNumber>*>& buckets) const;

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  struct TrieNode {
    std::vector<std::pair<char, std::uint32_t>> children;
    std::vector<RuleNumber> rules;
  };
  static void add_once(std::vector<RuleNumber>& bucket, RuleNumber rule);

  std::unordered_map<std::string, std::vector<RuleNumber>, Hash, std::equal_to<>> exact_;
  std::vector<TrieNode> trie_{TrieNode{}};  // node 0 is the root (empty prefix)
};

class RuleIndex {
 public:
  void add(RuleNumber rule, const std::vector<Glob>& doors, const std::vector<Glob>& targets,
           const std::vector<Glob>& verbs);

  // Replaces out with the rules that may match, ascending, without duplicates.
  void candidates(std::string_view door, std::string_view target, std::string_view verb,
                  std::vector<RuleNumber>& out) const;

 private:
  FieldIndex doors_, targets_, verbs_;
  std::size_t rule_count_ = 0;
};

}  // namespace countersign::policy
