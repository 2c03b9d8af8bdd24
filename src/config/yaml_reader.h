// Reading YAML with errors that name file:line:column. Shared by the
// configuration sections (core settings here, door-specific target sections
// in their own files). Problems are thrown as ConfigError inside config
// parsing only and turned into an Error by parse_config(); nothing outside
// src/config may see the exception.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "core/clock.h"
#include "core/error.h"

namespace countersign::config {

// Thrown only inside configuration parsing and turned into an Error there.
struct ConfigError {
  std::string message;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  SourceLocation where(const YAML::Node& node) const {
    auto mark = node.Mark();
    if (mark.line < 0) return {file_, 0, 0};
    return {file_, mark.line + 1, mark.column + 1};
  }

  [[noreturn]] void fail_at(const YAML::Node& node, std::string_view message) const {
    throw ConfigError{located(where(node), message)};
  }

  void expect_map(const YAML::Node& node, std::string_view what) const {
    if (!node.IsMap()) fail_at(node, fmt::format("{} must be a mapping", what));
  }

  // Unknown keys are errors: a typo must not silently disable a setting.
  void expect_keys(const YAML::Node& node, std::string_view what,
                   std::initializer_list<std::string_view> allowed) const {
    expect_map(node, what);
    for (const auto& entry : node) {
      std::string key = entry.first.as<std::string>();
      bool known = false;
      for (auto name : allowed) known = known || key == name;
      if (!known) {
        std::string list;
        for (auto name : allowed) list += (list.empty() ? "" : ", ") + std::string(name);
        fail_at(entry.first, fmt::format("unknown key '{}' in {} (allowed: {})", key, what, list));
      }
    }
  }

  std::string text(const YAML::Node& node, std::string_view what) const {
    if (!node.IsScalar()) fail_at(node, fmt::format("{} must be a string", what));
    return node.Scalar();
  }

  long long integer(const YAML::Node& node, std::string_view what, long long min,
                    long long max) const {
    if (!node.IsScalar()) fail_at(node, fmt::format("{} must be an integer", what));
    const std::string& raw = node.Scalar();
    std::size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(raw, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != raw.size())
      fail_at(node, fmt::format("{} must be an integer, got '{}'", what, raw));
    if (value < min || value > max)
      fail_at(node, fmt::format("{} must be between {} and {}, got {}", what, min, max, value));
    return value;
  }

  bool boolean(const YAML::Node& node, std::string_view what) const {
    if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false"))
      return node.Scalar() == "true";
    fail_at(node, fmt::format("{} must be true or false", what));
  }

  Millis duration(const YAML::Node& node, std::string_view what) const {
    std::string raw = text(node, what);
    Millis value = parse_duration(raw);
    if (value < 0)
      fail_at(node, fmt::format("{}: bad duration '{}' (use e.g. 250ms, 30s, 15m, 1h, 2d)", what,
                                raw));
    return value;
  }

  // A single string or a list of strings.
  std::vector<std::string> strings(const YAML::Node& node, std::string_view what) const {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
    } else if (node.IsSequence()) {
      for (const auto& item : node) out.push_back(text(item, what));
    } else {
      fail_at(node, fmt::format("{} must be a string or a list of strings", what));
    }
    return out;
  }

  SecretRef secret(const YAML::Node& node, std::string_view what) const {
    std::string reference = text(node, what);
    if (!reference.starts_with("env:") && !reference.starts_with("file:"))
      fail_at(node, fmt::format("{} must be an env:NAME or file:PATH reference; secrets are never "
                                "written inline",
                                what));
    if (reference.size() <= (reference.starts_with("env:") ? 4u : 5u))
      fail_at(node, fmt::format("{}: empty reference '{}'", what, reference));
    // file: paths are relative to the configuration file, like storage paths.
    if (reference.starts_with("file:")) {
      std::filesystem::path file = reference.substr(5);
      if (file.is_relative()) reference = "file:" + (std::filesystem::path(file_).parent_path() / file).string();
    }
    return {reference, where(node)};
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace countersign::config
