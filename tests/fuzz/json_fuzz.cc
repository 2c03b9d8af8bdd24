// Fuzz target for the JSON redactor: arbitrary bytes are masked as a body
// (JSON when they parse, text otherwise) without crashing; a secret planted
// in a string value of the parsed document never reaches the output; the
// structure is kept.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "tests/fuzz/planted.h"
#include "mask/mask.h"

namespace {

namespace json = boost::json;

// A broken property: say which, then abort (libFuzzer keeps the input).
void require(bool condition, const char* property) {
  if (condition) return;
  std::fprintf(stderr, "property broken: %s\n", property);
  std::abort();
}

// True when some object key in the document holds the secret (keys are
// kept as they are, so such an input may legitimately echo it).
bool key_holds(const json::value& value, std::string_view secret) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.get_object())
      if (std::string_view(key).find(secret) != std::string_view::npos || key_holds(child, secret))
        return true;
  }
  if (value.is_array())
    for (const auto& child : value.get_array())
      if (key_holds(child, secret)) return true;
  return false;
}

std::size_t count_nodes(const json::value& value) {
  std::size_t n = 1;
  if (value.is_object())
    for (const auto& [key, child] : value.get_object()) n += count_nodes(child);
  if (value.is_array())
    for (const auto& child : value.get_array()) n += count_nodes(child);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const countersign::mask::MaskProfile profile = countersign::mask::default_profile();
  auto plant = countersign::fuzz::split_input(data, size);

  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto body = countersign::mask::mask_body(raw, profile);
  if (body.json) {
    boost::system::error_code error;
    json::parse(body.body, error);
    require(!error, "masked JSON is still JSON");
  }

  // The rest of the input as a document (or as one string when it does not
  // parse), with the planted secret in a string value beside it.
  boost::system::error_code error;
  json::value document = json::parse(plant.after, error);
  if (error) document = json::string(plant.after);
  json::object wrapper;
  wrapper["note"] = countersign::fuzz::planted_text({plant.secret, plant.before, {}});
  wrapper["data"] = document;
  json::value input = wrapper;
  auto masked = countersign::mask::mask_json(input, profile);
  std::string out = json::serialize(masked.value);
  const json::value& note = masked.value.at("note");
  require(note.is_string() &&
              countersign::fuzz::planted_copy_masked({plant.secret, plant.before, {}},
                                                     std::string_view(note.get_string())),
          "planted secret masked");
  // Elsewhere, only an input that held the secret itself may show it (glued
  // to a neighbour it is another token; under a key it is kept).
  if (json::serialize(document).find(plant.secret) == std::string::npos &&
      plant.before.find(plant.secret) == std::string_view::npos && !key_holds(input, plant.secret))
    require(out.find(plant.secret) == std::string::npos, "no secret anywhere in the output");
  require(count_nodes(masked.value) <= count_nodes(input), "no nodes added");
  require(masked.value.is_object() && masked.value.get_object().size() == 2, "structure kept");
  for (const auto& finding : masked.findings) {
    boost::system::error_code pointer_error;
    require(input.find_pointer(finding.path, pointer_error) != nullptr,
            "finding paths point into the input");
  }
  return 0;
}
