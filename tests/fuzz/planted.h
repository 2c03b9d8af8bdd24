// Secrets the fuzz targets plant into arbitrary bytes: whatever surrounds
// them, masking must remove them from the output.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace countersign::fuzz {

inline constexpr std::array<std::string_view, 10> kPlanted = {
    "ghp_Zq3xR8vL1mN5bT7yW2cK9dF4hJ6pS0aE1uGi",
    "ann.lee@example.com",
    "4111 1111 1111 1111",
    "AKIAQWERTYUIOP234567",
    "GB82 WEST 1234 5698 7654 32",
    "sk-ant-api03-Zq3xR8vL1mN5bT7yW2cK9dF4hJ6pS0aE1uGiZq3xR8vL1mN5bT7yW2cK9dF4",
    "123-45-6780",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.c2lnbmF0dXJlLXZhbHVlLWhlcmU",
    "xoxb-2087634511-4012837451-Zq3xR8vL1mN5bT7yW2cK9dF4",
    "+44 20 7946 0958",
};

// The input split into: which secret (first byte), where to cut (second
// byte, as a share of the rest), and the bytes before and after the cut.
struct Plant {
  std::string_view secret;
  std::string_view before;
  std::string_view after;
};

inline Plant split_input(const std::uint8_t* data, std::size_t size) {
  Plant plant{kPlanted[0], {}, {}};
  if (size == 0) return plant;
  plant.secret = kPlanted[data[0] % kPlanted.size()];
  if (size == 1) return plant;
  std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);
  std::size_t cut = rest.size() * data[1] / 256;
  plant.before = rest.substr(0, cut);
  plant.after = rest.substr(cut);
  return plant;
}

// The planted text: the secret stands apart from its neighbours by a space
// on each side (glued to letters or digits it is, rightly, another token).
inline std::string planted_text(const Plant& plant) {
  std::string text(plant.before);
  text += ' ';
  text += plant.secret;
  text += ' ';
  text += plant.after;
  return text;
}

// How often `needle` occurs in `text` (overlapping occurrences count).
inline std::size_t occurrences(std::string_view text, std::string_view needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string_view::npos;
       at = text.find(needle, at + 1))
    ++count;
  return count;
}

// The masked planted text may show the secret only where the fuzzed bytes
// themselves held it (glued to a neighbour, "example.4111 1111 1111 1111"
// is another token and rightly kept): the planted copy must be gone.
inline bool planted_copy_masked(const Plant& plant, std::string_view masked) {
  return occurrences(masked, plant.secret) <=
         occurrences(plant.before, plant.secret) + occurrences(plant.after, plant.secret);
}

}  // namespace countersign::fuzz
