// The RFC 6962/9162 Merkle tree against the Certificate Transparency test
// vectors (the 8-leaf tree of transparency-dev/merkle and
// certificate-transparency-go), plus exhaustive cross-checks of proofs for
// every size and index up to 70 and adversarial variations of each proof.
#include "audit/merkle.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace countersign::audit {
namespace {

Hash h(std::string_view hex) { return *hash_from_hex(hex); }

std::string unhex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

// The eight leaves of the reference tree.
const std::vector<std::string>& reference_leaves() {
  static const std::vector<std::string> leaves = {unhex(""),
                                                  unhex("00"),
                                                  unhex("10"),
                                                  unhex("2021"),
                                                  unhex("3031"),
                                                  unhex("40414243"),
                                                  unhex("5051525354555657"),
                                                  unhex("606162636465666768696a6b6c6d6e6f")};
  return leaves;
}

// MTH of the first 1..8 leaves.
const std::vector<Hash>& reference_roots() {
  static const std::vector<Hash> roots = {
      h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
      h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
      h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
      h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
      h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
      h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
      h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
      h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
  };
  return roots;
}

MemoryTree tree_of(std::size_t size) {
  std::vector<Hash> leaves;
  for (std::size_t i = 0; i < size; ++i) leaves.push_back(hash_leaf(reference_leaves()[i]));
  return MemoryTree(leaves);
}

MemoryTree synthetic_tree(std::size_t size) {
  std::vector<Hash> leaves;
  for (std::size_t i = 0; i < size; ++i) leaves.push_back(hash_leaf("leaf " + std::to_string(i)));
  return MemoryTree(leaves);
}

struct InclusionVector {
  std::uint64_t index;
  std::uint64_t size;
  std::vector<Hash> proof;
};

struct ConsistencyVector {
  std::uint64_t old_size;
  std::uint64_t new_size;
  std::vector<Hash> proof;
};

const std::vector<InclusionVector>& inclusion_vectors() {
  static const std::vector<InclusionVector> vectors = {
      {0,
       8,
       {h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
      {5,
       8,
       {h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
      {2, 3, {h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")}},
      {1,
       5,
       {h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
      {0, 1, {}},
  };
  return vectors;
}

const std::vector<ConsistencyVector>& consistency_vectors() {
  static const std::vector<ConsistencyVector> vectors = {
      {1, 1, {}},
      {1,
       8,
       {h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
      {6,
       8,
       {h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
      {2,
       5,
       {h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
      {6,
       7,
       {h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
  };
  return vectors;
}

TEST(MerkleTest, EmptyTreeRootIsTheHashOfNothing) {
  EXPECT_EQ(to_hex(empty_tree_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(MemoryTree().root(), empty_tree_root());
  EXPECT_EQ(CompactRange().root(), empty_tree_root());
}

TEST(MerkleTest, DomainSeparationOfLeavesAndNodes) {
  // A leaf over 64 bytes must not collide with the node over the same bytes.
  Hash a = hash_leaf("a");
  Hash b = hash_leaf("b");
  std::string concatenated(hash_bytes(a));
  concatenated.append(hash_bytes(b));
  EXPECT_NE(hash_leaf(concatenated), hash_children(a, b));
  EXPECT_NE(hash_children(a, b), hash_children(b, a));
}

TEST(MerkleTest, RootsOfTheReferenceTreeForEverySize) {
  for (std::size_t size = 1; size <= 8; ++size) {
    MemoryTree tree = tree_of(size);
    EXPECT_EQ(tree.root(), reference_roots()[size - 1]) << "size " << size;
    CompactRange range;
    for (std::size_t i = 0; i < size; ++i) range.append(hash_leaf(reference_leaves()[i]));
    EXPECT_EQ(range.root(), reference_roots()[size - 1]) << "compact range, size " << size;
  }
}

TEST(MerkleTest, InclusionProofsMatchTheReferenceVectors) {
  for (const InclusionVector& vector : inclusion_vectors()) {
    MemoryTree tree = tree_of(vector.size);
    auto proof = inclusion_proof(vector.index, vector.size, tree.reader());
    ASSERT_TRUE(proof) << proof.error().message;
    EXPECT_EQ(*proof, vector.proof) << vector.index << " in " << vector.size;
    Hash leaf = hash_leaf(reference_leaves()[vector.index]);
    EXPECT_TRUE(verify_inclusion(vector.index, vector.size, leaf, vector.proof,
                                 reference_roots()[vector.size - 1]));
  }
}

TEST(MerkleTest, ConsistencyProofsMatchTheReferenceVectors) {
  for (const ConsistencyVector& vector : consistency_vectors()) {
    MemoryTree tree = tree_of(vector.new_size);
    auto proof = consistency_proof(vector.old_size, vector.new_size, tree.reader());
    ASSERT_TRUE(proof) << proof.error().message;
    EXPECT_EQ(*proof, vector.proof) << vector.old_size << " -> " << vector.new_size;
    EXPECT_TRUE(verify_consistency(vector.old_size, vector.new_size,
                                   reference_roots()[vector.old_size - 1],
                                   reference_roots()[vector.new_size - 1], vector.proof));
  }
}

// Every corruption the reference test suite tries must be refused.
TEST(MerkleTest, CorruptedInclusionProofsAreRefused) {
  const Hash some = h("abacaba000000000000000000000000000000000000000000060061e00123456");
  for (const InclusionVector& vector : inclusion_vectors()) {
    if (vector.proof.empty()) continue;
    const Hash leaf = hash_leaf(reference_leaves()[vector.index]);
    const Hash root = reference_roots()[vector.size - 1];
    auto refused = [&](std::uint64_t index, std::uint64_t size, const Hash& leaf_hash,
                       const std::vector<Hash>& proof, const Hash& expected_root,
                       const char* what) {
      EXPECT_FALSE(verify_inclusion(index, size, leaf_hash, proof, expected_root))
          << what << " (" << vector.index << " in " << vector.size << ")";
    };
    refused(vector.index - 1, vector.size, leaf, vector.proof, root, "index - 1");
    refused(vector.index + 1, vector.size, leaf, vector.proof, root, "index + 1");
    refused(vector.index ^ 2, vector.size, leaf, vector.proof, root, "index ^ 2");
    refused(vector.index, vector.size * 2, leaf, vector.proof, root, "size * 2");
    refused(vector.index, vector.size / 2, leaf, vector.proof, root, "size / 2");
    refused(vector.index, vector.size, hash_leaf("WrongLeaf"), vector.proof, root, "wrong leaf");
    refused(vector.index, vector.size, leaf, vector.proof, empty_tree_root(), "empty root");
    refused(vector.index, vector.size, leaf, vector.proof, some, "random root");
    auto longer = vector.proof;
    longer.push_back(root);
    refused(vector.index, vector.size, leaf, longer, root, "trailing root");
    auto prefixed = vector.proof;
    prefixed.insert(prefixed.begin(), root);
    refused(vector.index, vector.size, leaf, prefixed, root, "preceding root");
    for (std::size_t i = 0; i < vector.proof.size(); ++i) {
      auto flipped = vector.proof;
      flipped[i][0] ^= 8;
      refused(vector.index, vector.size, leaf, flipped, root, "flipped bit");
    }
    auto shorter = vector.proof;
    shorter.pop_back();
    refused(vector.index, vector.size, leaf, shorter, root, "removed component");
    if (vector.proof.size() > 1) {
      auto inserted = vector.proof;
      inserted.insert(inserted.begin() + 1, some);
      refused(vector.index, vector.size, leaf, inserted, root, "inserted component");
    }
  }
}

TEST(MerkleTest, CorruptedConsistencyProofsAreRefused) {
  for (const ConsistencyVector& vector : consistency_vectors()) {
    if (vector.proof.empty()) continue;
    const std::uint64_t m = vector.old_size;
    const std::uint64_t n = vector.new_size;
    const Hash r1 = reference_roots()[m - 1];
    const Hash r2 = reference_roots()[n - 1];
    auto refused = [&](std::uint64_t a, std::uint64_t b, const Hash& x, const Hash& y,
                       const std::vector<Hash>& proof, const char* what) {
      EXPECT_FALSE(verify_consistency(a, b, x, y, proof))
          << what << " (" << m << " -> " << n << ")";
    };
    refused(m - 1, n, r1, r2, vector.proof, "size1 - 1");
    refused(m + 1, n, r1, r2, vector.proof, "size1 + 1");
    refused(m ^ 2, n, r1, r2, vector.proof, "size1 ^ 2");
    refused(m, n * 2, r1, r2, vector.proof, "size2 * 2");
    refused(m, n / 2, r1, r2, vector.proof, "size2 / 2");
    refused(m, n, hash_leaf("WrongRoot"), r2, vector.proof, "wrong root1");
    refused(m, n, r1, hash_leaf("WrongRoot"), vector.proof, "wrong root2");
    refused(m, n, r2, r1, vector.proof, "swapped roots");
    refused(m, n, r1, r2, {}, "empty proof");
    for (const Hash& extra : {r1, r2}) {
      auto longer = vector.proof;
      longer.push_back(extra);
      refused(m, n, r1, r2, longer, "trailing root");
      auto prefixed = vector.proof;
      prefixed.insert(prefixed.begin(), extra);
      refused(m, n, r1, r2, prefixed, "preceding root");
    }
    auto prefixed = vector.proof;
    prefixed.insert(prefixed.begin(), vector.proof[0]);
    refused(m, n, r1, r2, prefixed, "preceding proof[0]");
    auto shorter = vector.proof;
    shorter.pop_back();
    refused(m, n, r1, r2, shorter, "truncated proof");
    for (std::size_t i = 0; i < vector.proof.size(); ++i) {
      auto flipped = vector.proof;
      flipped[i][0] ^= 16;
      refused(m, n, r1, r2, flipped, "flipped bit");
    }
  }
}

TEST(MerkleTest, TrivialConsistencyCases) {
  const Hash a = hash_leaf("a");
  const Hash b = hash_leaf("b");
  EXPECT_TRUE(verify_consistency(0, 0, a, a, {}));
  EXPECT_TRUE(verify_consistency(0, 5, a, b, {}));  // the empty tree precedes every tree
  EXPECT_TRUE(verify_consistency(3, 3, b, b, {}));
  EXPECT_FALSE(verify_consistency(3, 3, a, b, {}));   // same size, two roots
  EXPECT_FALSE(verify_consistency(3, 3, a, a, {a}));  // proof where none belongs
  EXPECT_FALSE(verify_consistency(0, 5, a, b, {a}));
  EXPECT_FALSE(verify_consistency(2, 1, a, b, {}));  // time travel
  EXPECT_FALSE(verify_consistency(1, 2, a, b, {}));  // missing proof
  EXPECT_FALSE(verify_inclusion(0, 0, a, {}, a));
  EXPECT_FALSE(verify_inclusion(1, 1, a, {}, a));
  EXPECT_TRUE(verify_inclusion(0, 1, a, {}, a));
  EXPECT_FALSE(verify_inclusion(0, 1, a, {}, b));
}

// Every size, every index, every pair of sizes up to 70: generated proofs
// verify, and lead to the root computed independently by the compact range.
TEST(MerkleTest, ProofsForEverySizeAndIndexVerify) {
  const MemoryTree full = synthetic_tree(70);
  CompactRange range;
  std::vector<Hash> roots = {empty_tree_root()};
  std::vector<CompactRange::Node> created;
  for (std::size_t i = 0; i < 70; ++i) {
    range.append(full.levels()[0][i], &created);
    roots.push_back(range.root());
  }
  // Every interior node the compact range completed is the tree's node.
  for (const auto& node : created) {
    ASSERT_LT(node.level, full.levels().size());
    ASSERT_LT(node.position, full.levels()[node.level].size());
    EXPECT_EQ(node.hash, full.levels()[node.level][node.position]);
  }
  std::size_t interior = 0;
  for (std::size_t level = 1; level < full.levels().size(); ++level)
    interior += full.levels()[level].size();
  EXPECT_EQ(created.size(), interior);

  for (std::uint64_t size = 1; size <= 70; ++size) {
    auto root = tree_root(size, full.reader());
    ASSERT_TRUE(root);
    EXPECT_EQ(*root, roots[size]) << size;
    for (std::uint64_t index = 0; index < size; ++index) {
      auto proof = inclusion_proof(index, size, full.reader());
      ASSERT_TRUE(proof);
      EXPECT_TRUE(verify_inclusion(index, size, full.levels()[0][index], *proof, roots[size]))
          << index << " in " << size;
      // The same proof does not prove a neighbour.
      const std::uint64_t other = (index + 1) % size;
      if (other != index) {
        EXPECT_FALSE(verify_inclusion(index, size, full.levels()[0][other], *proof, roots[size]));
      }
    }
    for (std::uint64_t old_size = 0; old_size <= size; ++old_size) {
      auto proof = consistency_proof(old_size, size, full.reader());
      ASSERT_TRUE(proof);
      EXPECT_TRUE(verify_consistency(old_size, size, roots[old_size], roots[size], *proof))
          << old_size << " -> " << size;
      if (old_size > 0 && old_size < size) {
        // A different history of the same size is refused.
        EXPECT_FALSE(verify_consistency(old_size, size, hash_leaf("other"), roots[size], *proof));
      }
    }
  }
}

TEST(MerkleTest, CompactRangeRoundTripsThroughItsFrontier) {
  const MemoryTree full = synthetic_tree(45);
  CompactRange range;
  for (std::size_t i = 0; i < 45; ++i) range.append(full.levels()[0][i]);
  auto nodes = CompactRange::frontier_nodes(45);  // 32 + 8 + 4 + 1
  ASSERT_EQ(nodes.size(), 4u);
  std::vector<Hash> hashes;
  for (auto [level, position] : nodes) hashes.push_back(full.levels()[level][position]);
  EXPECT_EQ(hashes, range.hashes());
  auto rebuilt = CompactRange::from(45, hashes);
  ASSERT_TRUE(rebuilt);
  rebuilt->append(hash_leaf("next"));
  range.append(hash_leaf("next"));
  EXPECT_EQ(rebuilt->root(), range.root());
  EXPECT_FALSE(CompactRange::from(47, hashes));  // 47 has five set bits
}

TEST(MerkleTest, ProofsOutsideTheTreeAreErrors) {
  const MemoryTree tree = synthetic_tree(5);
  EXPECT_FALSE(inclusion_proof(5, 5, tree.reader()));
  EXPECT_FALSE(consistency_proof(6, 5, tree.reader()));
  EXPECT_FALSE(tree_root(6, tree.reader()));  // needs nodes the tree does not have
}

}  // namespace
}  // namespace countersign::audit
