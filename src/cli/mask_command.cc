// countersign mask [--profile P] [--config FILE] [--json] [--text]: masks
// stdin to stdout, JSON-aware when stdin is JSON, with the same profiles,
// strategies and hash key as the gateway that uses FILE.
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "cli/cli.h"
#include "cli/commands.h"
#include "config/config.h"
#include "gateway/gateway.h"
#include "mask/mask.h"

namespace countersign::cli {
namespace {

struct MaskOptions {
  std::string profile = "default";
  std::string config_path;
  bool json = false;
  bool text = false;
};

int mask_stdin(const MaskOptions& options) {
  std::map<std::string, mask::MaskProfile> profiles;
  if (!options.config_path.empty()) {
    auto config = config::load_config(options.config_path);
    if (!config) {
      std::cerr << "countersign: " << config.error().message << "\n";
      return kExitUsage;
    }
    try {
      profiles = gateway::build_mask_profiles(*config);
    } catch (const std::exception& error) {
      std::cerr << "countersign: " << error.what() << "\n";
      return kExitUsage;
    }
  } else {
    profiles["default"] = mask::default_profile();
  }
  auto found = profiles.find(options.profile);
  if (found == profiles.end()) {
    std::string known;
    for (const auto& [name, profile] : profiles) known += (known.empty() ? "" : ", ") + name;
    std::cerr << "countersign: unknown mask profile '" << options.profile << "' (known: " << known
              << (options.config_path.empty() ? "; pass --config FILE for configured profiles" : "")
              << ")\n";
    return kExitUsage;
  }
  const mask::MaskProfile& profile = found->second;

  std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  boost::json::value masked;
  std::vector<mask::Finding> findings;
  boost::system::error_code error;
  boost::json::value parsed;
  if (!options.text) parsed = boost::json::parse(input, error);
  if (!options.text && !error) {
    auto result = mask::mask_json(parsed, profile);
    masked = std::move(result.value);
    findings = std::move(result.findings);
  } else {
    masked = boost::json::string(mask::mask_text(input, profile, "", &findings));
  }
  if (options.json) {
    boost::json::array items;
    for (const auto& finding : findings) items.push_back(mask::to_json(finding));
    std::cout << boost::json::serialize(
                     boost::json::object{{"masked", masked}, {"findings", items}})
              << "\n";
  } else if (masked.is_string() && (options.text || error)) {
    const auto& text = masked.get_string();
    std::cout.write(text.data(), static_cast<std::streamsize>(text.size()));
  } else {
    std::cout << boost::json::serialize(masked) << "\n";
  }
  return kExitOk;
}

}  // namespace

void add_mask_command(CLI::App& app, int& exit_code) {
  static MaskOptions options;
  auto* command = app.add_subcommand("mask", "Mask secrets and personal data: stdin to stdout");
  command->add_option("--profile", options.profile, "Mask profile (default: default)");
  command->add_option("--config", options.config_path,
                      "Configuration file with masking profiles and the hash key");
  command->add_flag("--json", options.json, "Print {masked, findings} as JSON");
  command->add_flag("--text", options.text, "Mask stdin as text even when it is JSON");
  command->callback([&] { exit_code = mask_stdin(options); });
}

}  // namespace countersign::cli
