// countersign mask: masks stdin to stdout (JSON-aware when stdin is JSON).
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cli/cli.h"
#include "cli/commands.h"
#include "mask/mask.h"

namespace countersign::cli {
namespace {

int mask_stdin(bool json) {
  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  boost::system::error_code error;
  auto parsed = boost::json::parse(input, error);
  boost::json::value masked;
  std::vector<mask::Finding> findings;
  if (!error) {
    auto result = mask::mask_json(parsed, mask::default_profile());
    masked = std::move(result.value);
    findings = std::move(result.findings);
  } else {
    masked = boost::json::string(mask::mask_text(input, "", &findings));
  }
  if (json) {
    boost::json::array items;
    for (const auto& finding : findings) items.push_back(mask::to_json(finding));
    std::cout << boost::json::serialize(boost::json::object{{"masked", masked}, {"findings", items}})
              << "\n";
  } else if (masked.is_string()) {
    std::cout << masked.get_string().c_str();
  } else {
    std::cout << boost::json::serialize(masked) << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_mask_command(CLI::App& app, int& exit_code) {
  static bool json = false;
  auto* command = app.add_subcommand("mask", "Mask secrets and personal data: stdin to stdout");
  command->add_flag("--json", json, "Print {masked, findings} as JSON");
  command->callback([&] { exit_code = mask_stdin(json); });
}

}  // namespace countersign::cli
