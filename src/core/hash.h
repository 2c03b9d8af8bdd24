// Hashing and randomness used across modules (OpenSSL underneath).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace countersign {

using Sha256Digest = std::array<std::uint8_t, 32>;

Sha256Digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);  // lowercase hex
std::string to_hex(std::string_view bytes);
std::string to_hex(const Sha256Digest& digest);

// Compares without an early exit, so timing does not reveal where two secrets differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// Cryptographically random bytes (RAND_bytes); aborts start-up if the RNG fails.
std::string random_bytes(std::size_t count);

// A random identifier with a readable prefix: new_id("rv") -> "rv_3f9a...".
// 16 random bytes, so ids are unguessable as well as unique.
std::string new_id(std::string_view prefix);

}  // namespace countersign
