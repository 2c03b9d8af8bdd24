// The RFC 6962 / RFC 9162 Merkle tree over the audit log's leaves.
//
//   leaf hash   SHA-256(0x00 || data)
//   node hash   SHA-256(0x01 || left || right)
//   MTH({})     SHA-256("")
//   MTH(D[n])   SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two < n
//
// Trees of any size. Proofs are produced over a NodeReader (the hash of a
// complete, aligned subtree, however the caller stores them) and verified
// with the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2, which need
// nothing but the proof, the sizes and the roots.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/hash.h"

namespace countersign::audit {

using Hash = Sha256Digest;

Hash hash_leaf(std::string_view data);
Hash hash_children(const Hash& left, const Hash& right);
Hash empty_tree_root();

std::string_view hash_bytes(const Hash& hash);  // the 32 raw bytes
// Hash from 32 raw bytes; fails on any other length.
Result<Hash> hash_from_bytes(std::string_view bytes);
Result<Hash> hash_from_hex(std::string_view hex);

// The largest power of two strictly less than n (n >= 2).
std::uint64_t split_point(std::uint64_t n);

// The hash of the complete subtree at `level` covering leaves
// [position << level, (position + 1) << level); level 0 is a leaf hash.
using NodeReader = std::function<Result<Hash>(unsigned level, std::uint64_t position)>;

// MTH(D[begin:end]) for end > begin, reading aligned complete subtrees whole.
Result<Hash> subtree_hash(std::uint64_t begin, std::uint64_t end, const NodeReader& nodes);
// MTH(D[0:size]); the empty tree's root for size 0.
Result<Hash> tree_root(std::uint64_t size, const NodeReader& nodes);

// PATH(index, D[size]) of RFC 9162 2.1.3.1, leaf side first.
Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size,
                                          const NodeReader& nodes);
// PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1; empty when old_size is 0
// or equals new_size.
Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size,
                                            const NodeReader& nodes);

// RFC 9162 2.1.3.2: the root an inclusion proof leads to, or an error
// naming why the proof is malformed for this index and size.
Result<Hash> root_from_inclusion_proof(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                                       const std::vector<Hash>& proof);
Result<void> verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                              const std::vector<Hash>& proof, const Hash& root);
// RFC 9162 2.1.4.2.
Result<void> verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                                const Hash& old_root, const Hash& new_root,
                                const std::vector<Hash>& proof);

// The right edge of a growing tree: the roots of the complete subtrees that
// make up [0, size), largest (leftmost) first, one per set bit of size.
// Appending a leaf merges equal-sized neighbours; every merge creates the
// node that a stored tree keeps.
class CompactRange {
 public:
  struct Node {
    unsigned level;
    std::uint64_t position;
    Hash hash;
  };

  CompactRange() = default;
  // Rebuilds the range of a tree of `size` leaves from its subtree roots
  // (as listed by frontier_nodes); fails when the count does not fit.
  static Result<CompactRange> from(std::uint64_t size, std::vector<Hash> hashes);
  // (level, position) of the subtree roots a range of `size` leaves holds.
  static std::vector<std::pair<unsigned, std::uint64_t>> frontier_nodes(std::uint64_t size);

  // Appends a leaf; `created` (if given) receives every interior node completed.
  void append(const Hash& leaf, std::vector<Node>* created = nullptr);
  std::uint64_t size() const { return size_; }
  Hash root() const;
  const std::vector<Hash>& hashes() const { return hashes_; }

 private:
  std::uint64_t size_ = 0;
  std::vector<Hash> hashes_;
};

// A whole tree held in memory, every level kept: for tests, for the offline
// verifier and for checking a stored tree. levels()[0] are the leaf hashes.
class MemoryTree {
 public:
  MemoryTree() = default;
  explicit MemoryTree(std::vector<Hash> leaves);
  std::uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  const std::vector<std::vector<Hash>>& levels() const { return levels_; }
  NodeReader reader() const;
  Hash root() const;

 private:
  std::vector<std::vector<Hash>> levels_;
};

}  // namespace countersign::audit
