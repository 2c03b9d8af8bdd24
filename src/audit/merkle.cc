#include "audit/merkle.h"

#include <bit>
#include <cstring>

#include <openssl/sha.h>

namespace countersign::audit {
namespace {

bool is_power_of_two(std::uint64_t n) { return n != 0 && (n & (n - 1)) == 0; }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::vector<Hash>> path(std::uint64_t index, std::uint64_t begin, std::uint64_t end,
                               const NodeReader& nodes) {
  std::uint64_t n = end - begin;
  if (n == 1) return std::vector<Hash>();
  std::uint64_t k = split_point(n);
  Result<std::vector<Hash>> inner;
  Result<Hash> sibling;
  if (index < k) {
    inner = path(index, begin, begin + k, nodes);
    sibling = subtree_hash(begin + k, end, nodes);
  } else {
    inner = path(index - k, begin + k, end, nodes);
    sibling = subtree_hash(begin, begin + k, nodes);
  }
  if (!inner) return inner;
  if (!sibling) return std::unexpected(sibling.error());
  inner->push_back(*sibling);
  return inner;
}

Result<std::vector<Hash>> subproof(std::uint64_t m, std::uint64_t begin, std::uint64_t end,
                                   bool complete, const NodeReader& nodes) {
  std::uint64_t n = end - begin;
  if (m == n) {
    if (complete) return std::vector<Hash>();
    auto whole = subtree_hash(begin, end, nodes);
    if (!whole) return std::unexpected(whole.error());
    return std::vector<Hash>{*whole};
  }
  std::uint64_t k = split_point(n);
  Result<std::vector<Hash>> inner;
  Result<Hash> sibling;
  if (m <= k) {
    inner = subproof(m, begin, begin + k, complete, nodes);
    sibling = subtree_hash(begin + k, end, nodes);
  } else {
    inner = subproof(m - k, begin + k, end, false, nodes);
    sibling = subtree_hash(begin, begin + k, nodes);
  }
  if (!inner) return inner;
  if (!sibling) return std::unexpected(sibling.error());
  inner->push_back(*sibling);
  return inner;
}

}  // namespace

Hash hash_leaf(std::string_view data) {
  Hash out;
  // One-shot SHA-256 over 0x00 || data; events are small, so the copy stays on
  // the stack for all but unusual ones.
  unsigned char stack[1024];
  std::string heap;
  unsigned char* buffer = stack;
  if (data.size() + 1 > sizeof stack) {
    heap.resize(data.size() + 1);
    buffer = reinterpret_cast<unsigned char*>(heap.data());
  }
  buffer[0] = 0x00;
  std::memcpy(buffer + 1, data.data(), data.size());
  SHA256(buffer, data.size() + 1, out.data());
  return out;
}

Hash hash_children(const Hash& left, const Hash& right) {
  unsigned char buffer[65];
  buffer[0] = 0x01;
  std::memcpy(buffer + 1, left.data(), 32);
  std::memcpy(buffer + 33, right.data(), 32);
  Hash out;
  SHA256(buffer, sizeof buffer, out.data());
  return out;
}

Hash empty_tree_root() { return sha256(""); }

std::string_view hash_bytes(const Hash& hash) {
  return std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size());
}

Result<Hash> hash_from_bytes(std::string_view bytes) {
  if (bytes.size() != 32) return fail(ErrorCode::invalid_argument, "a hash must be 32 bytes");
  Hash out;
  std::memcpy(out.data(), bytes.data(), 32);
  return out;
}

Result<Hash> hash_from_hex(std::string_view hex) {
  if (hex.size() != 64) return fail(ErrorCode::invalid_argument, "a hash must be 64 hex digits");
  Hash out;
  for (std::size_t i = 0; i < 32; ++i) {
    int high = hex_digit(hex[2 * i]);
    int low = hex_digit(hex[2 * i + 1]);
    if (high < 0 || low < 0)
      return fail(ErrorCode::invalid_argument, "a hash must be 64 hex digits");
    out[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return out;
}

std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

Result<Hash> subtree_hash(std::uint64_t begin, std::uint64_t end, const NodeReader& nodes) {
  std::uint64_t n = end - begin;
  if (end <= begin) return fail(ErrorCode::invalid_argument, "empty subtree");
  if (is_power_of_two(n) && begin % n == 0) {
    unsigned level = static_cast<unsigned>(std::countr_zero(n));
    return nodes(level, begin >> level);
  }
  std::uint64_t k = split_point(n);
  auto left = subtree_hash(begin, begin + k, nodes);
  if (!left) return left;
  auto right = subtree_hash(begin + k, end, nodes);
  if (!right) return right;
  return hash_children(*left, *right);
}

Result<Hash> tree_root(std::uint64_t size, const NodeReader& nodes) {
  if (size == 0) return empty_tree_root();
  return subtree_hash(0, size, nodes);
}

Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size,
                                          const NodeReader& nodes) {
  if (index >= size)
    return fail(ErrorCode::invalid_argument, "the index must be smaller than the tree size");
  return path(index, 0, size, nodes);
}

Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size,
                                            const NodeReader& nodes) {
  if (old_size > new_size)
    return fail(ErrorCode::invalid_argument, "the old size must not exceed the new size");
  if (old_size == 0 || old_size == new_size) return std::vector<Hash>();
  return subproof(old_size, 0, new_size, true, nodes);
}

Result<Hash> root_from_inclusion_proof(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                                       const std::vector<Hash>& proof) {
  if (index >= size) return fail(ErrorCode::invalid_argument, "index is not below the tree size");
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return fail(ErrorCode::invalid_argument, "the inclusion proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      r = hash_children(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = hash_children(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return fail(ErrorCode::invalid_argument, "the inclusion proof is too short");
  return r;
}

Result<void> verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                              const std::vector<Hash>& proof, const Hash& root) {
  auto computed = root_from_inclusion_proof(index, size, leaf, proof);
  if (!computed) return std::unexpected(computed.error());
  if (*computed != root)
    return fail(ErrorCode::invalid_argument, "the inclusion proof does not lead to the root");
  return {};
}

Result<void> verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                                const Hash& old_root, const Hash& new_root,
                                const std::vector<Hash>& proof) {
  if (old_size > new_size)
    return fail(ErrorCode::invalid_argument, "the old tree is larger than the new one");
  if (old_size == new_size) {
    if (!proof.empty())
      return fail(ErrorCode::invalid_argument, "a proof between equal sizes must be empty");
    if (old_root != new_root)
      return fail(ErrorCode::invalid_argument, "two trees of the same size have different roots");
    return {};
  }
  if (old_size == 0) {
    if (!proof.empty())
      return fail(ErrorCode::invalid_argument, "a proof from the empty tree must be empty");
    return {};
  }
  if (proof.empty()) return fail(ErrorCode::invalid_argument, "the consistency proof is empty");

  std::vector<Hash> path = proof;
  if (is_power_of_two(old_size)) path.insert(path.begin(), old_root);
  std::uint64_t fn = old_size - 1;
  std::uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return fail(ErrorCode::invalid_argument, "the consistency proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      fr = hash_children(c, fr);
      sr = hash_children(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = hash_children(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return fail(ErrorCode::invalid_argument, "the consistency proof is too short");
  if (fr != old_root)
    return fail(ErrorCode::invalid_argument, "the consistency proof does not lead to the old root");
  if (sr != new_root)
    return fail(ErrorCode::invalid_argument, "the consistency proof does not lead to the new root");
  return {};
}

// ---------------------------------------------------------------------------

std::vector<std::pair<unsigned, std::uint64_t>> CompactRange::frontier_nodes(std::uint64_t size) {
  std::vector<std::pair<unsigned, std::uint64_t>> nodes;
  std::uint64_t begin = 0;
  for (int level = 63; level >= 0; --level) {
    std::uint64_t width = std::uint64_t{1} << level;
    if ((size & width) == 0) continue;
    nodes.emplace_back(static_cast<unsigned>(level), begin >> level);
    begin += width;
  }
  return nodes;
}

Result<CompactRange> CompactRange::from(std::uint64_t size, std::vector<Hash> hashes) {
  if (hashes.size() != static_cast<std::size_t>(std::popcount(size)))
    return fail(ErrorCode::invalid_argument, "compact range does not fit the tree size");
  CompactRange range;
  range.size_ = size;
  range.hashes_ = std::move(hashes);
  return range;
}

void CompactRange::append(const Hash& leaf, std::vector<Node>* created) {
  hashes_.push_back(leaf);
  std::uint64_t old_size = size_;
  ++size_;
  unsigned level = 0;
  while ((old_size & 1) != 0) {
    Hash right = hashes_.back();
    hashes_.pop_back();
    Hash merged = hash_children(hashes_.back(), right);
    hashes_.back() = merged;
    old_size >>= 1;
    ++level;
    if (created != nullptr) created->push_back({level, (size_ >> level) - 1, merged});
  }
}

Hash CompactRange::root() const {
  if (hashes_.empty()) return empty_tree_root();
  Hash r = hashes_.back();
  for (std::size_t i = hashes_.size() - 1; i-- > 0;) r = hash_children(hashes_[i], r);
  return r;
}

MemoryTree::MemoryTree(std::vector<Hash> leaves) {
  if (leaves.empty()) return;
  levels_.push_back(std::move(leaves));
  while (levels_.back().size() > 1) {
    const std::vector<Hash>& below = levels_.back();
    std::vector<Hash> above;
    above.reserve(below.size() / 2);
    for (std::size_t i = 0; i + 1 < below.size(); i += 2)
      above.push_back(hash_children(below[i], below[i + 1]));
    if (above.empty()) break;
    levels_.push_back(std::move(above));
  }
}

NodeReader MemoryTree::reader() const {
  return [this](unsigned level, std::uint64_t position) -> Result<Hash> {
    if (level >= levels_.size() || position >= levels_[level].size())
      return fail(ErrorCode::not_found, "no such node in the tree");
    return levels_[level][position];
  };
}

Hash MemoryTree::root() const {
  auto root = tree_root(size(), reader());
  return root ? *root : empty_tree_root();
}

}  // namespace countersign::audit
