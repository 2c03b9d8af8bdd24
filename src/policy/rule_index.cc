#include "policy/rule_index.h"

#include <algorithm>
#include <array>

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
  rule_count_ = std::max<std::size_t>(rule_count_, rule + 1);
  doors_.add(rule, doors);
  targets_.add(rule, targets);
  verbs_.add(rule, verbs);
}

void RuleIndex::candidates(std::string_view door, std::string_view target, std::string_view verb,
                           std::vector<RuleNumber>& out) const {
  out.clear();
  // The three lookups share one per-thread scratch list of buckets, so a
  // lookup does not allocate once the list has grown.
  thread_local std::vector<const std::vector<RuleNumber>*> buckets;
  buckets.clear();
  struct Field {
    std::size_t begin, end, count;
  };
  std::array<Field, 3> fields;
  const FieldIndex* indexes[3] = {&doors_, &targets_, &verbs_};
  const std::string_view values[3] = {door, target, verb};
  for (int i = 0; i < 3; ++i) {
    std::size_t begin = buckets.size();
    std::size_t count = indexes[i]->lookup(values[i], buckets);
    if (count == 0) return;  // no rule accepts this value
    fields[i] = Field{begin, buckets.size(), count};
  }
  std::sort(fields.begin(), fields.end(),
            [](const Field& a, const Field& b) { return a.count < b.count; });

  // Every matching rule is in all three candidate sets. Take the smallest;
  // when it is not tiny, keep only the rules also in the second smallest,
  // marking that set in a per-thread scratch array (O(|smallest| + |second|)).
  const Field& smallest = fields[0];
  const Field& second = fields[1];
  out.reserve(smallest.count);
  if (smallest.count <= 8) {
    for (std::size_t i = smallest.begin; i < smallest.end; ++i)
      out.insert(out.end(), buckets[i]->begin(), buckets[i]->end());
  } else {
    thread_local std::vector<std::uint32_t> marks;
    thread_local std::uint32_t generation = 0;
    if (marks.size() < rule_count_) marks.resize(rule_count_, 0);
    if (generation >= 0xFFFF'FFF0u) {  // wrapped: old marks could collide
      std::fill(marks.begin(), marks.end(), 0);
      generation = 0;
    }
    generation += 2;
    const std::uint32_t in_second = generation, taken = generation + 1;
    for (std::size_t i = second.begin; i < second.end; ++i)
      for (RuleNumber rule : *buckets[i]) marks[rule] = in_second;
    for (std::size_t i = smallest.begin; i < smallest.end; ++i) {
      for (RuleNumber rule : *buckets[i]) {
        if (marks[rule] != in_second) continue;
        marks[rule] = taken;  // a rule listed in several buckets is taken once
        out.push_back(rule);
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

}  // namespace countersign::policy
