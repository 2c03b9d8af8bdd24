#include "policy/rule_index.h"

#include <algorithm>

namespace countersign::policy {

void FieldIndex::add_once(std::vector<RuleNumber>& bucket, RuleNumber rule) {
  // Rules arrive in order, so a repeat can only be the last entry.
  if (bucket.empty() || bucket.back() != rule) bucket.push_back(rule);
}

void FieldIndex::add(RuleNumber rule, const std::vector<Glob>& patterns) {
  if (patterns.empty()) {
    add_once(trie_[0].rules, rule);
    return;
  }
  for (const Glob& pattern : patterns) {
    if (pattern.shape() == Glob::Shape::exact) {
      add_once(exact_[pattern.literal_prefix()], rule);
      continue;
    }
    std::uint32_t node = 0;
    for (char c : pattern.literal_prefix()) {
      auto& children = trie_[node].children;
      auto found = std::find_if(children.begin(), children.end(),
                                [c](const auto& child) { return child.first == c; });
      if (found != children.end()) {
        node = found->second;
      } else {
        auto child = static_cast<std::uint32_t>(trie_.size());
        children.emplace_back(c, child);
        trie_.emplace_back();  // invalidates `children`; not used after this
        node = child;
      }
    }
    add_once(trie_[node].rules, rule);
  }
}

std::size_t FieldIndex::lookup(std::string_view value,
                               std::vector<const std::vector<RuleNumber>*>& buckets) const {
  std::size_t total = 0;
  auto take = [&](const std::vector<RuleNumber>& bucket) {
    if (bucket.empty()) return;
    buckets.push_back(&bucket);
    total += bucket.size();
  };
  if (!exact_.empty()) {
    auto found = exact_.find(value);
    if (found != exact_.end()) take(found->second);
  }
  std::uint32_t node = 0;
  take(trie_[0].rules);
  for (char c : value) {
    const auto& children = trie_[node].children;
    if (children.empty()) break;
    auto found = std::find_if(children.begin(), children.end(),
                              [c](const auto& child) { return child.first == c; });
    if (found == children.end()) break;
    node = found->second;
    take(trie_[node].rules);
  }
  return total;
}

void RuleIndex::add(RuleNumber rule, const std::vector<Glob>& doors,
                    const std::vector<Glob>& targets, const std::vector<Glob>& verbs) {
  doors_.add(rule, doors);
  targets_.add(rule, targets);
  verbs_.add(rule, verbs);
}

void RuleIndex::candidates(std::string_view door, std::string_view target, std::string_view verb,
                           std::vector<RuleNumber>& out) const {
  out.clear();
  // The three lookups share one scratch list of buckets.
  std::vector<const std::vector<RuleNumber>*> buckets;
  buckets.reserve(24);
  std::size_t door_count = doors_.lookup(door, buckets);
  if (door_count == 0) return;
  std::size_t door_end = buckets.size();
  std::size_t target_count = targets_.lookup(target, buckets);
  if (target_count == 0) return;
  std::size_t target_end = buckets.size();
  std::size_t verb_count = verbs_.lookup(verb, buckets);
  if (verb_count == 0) return;

  // Every matching rule is in all three candidate sets, so the smallest one
  // is enough.
  std::size_t begin = 0, end = door_end, count = door_count;
  if (target_count < count) begin = door_end, end = target_end, count = target_count;
  if (verb_count < count) begin = target_end, end = buckets.size(), count = verb_count;

  out.reserve(count);
  for (std::size_t i = begin; i < end; ++i)
    out.insert(out.end(), buckets[i]->begin(), buckets[i]->end());
  if (end - begin > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
}

}  // namespace countersign::policy
