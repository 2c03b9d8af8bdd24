#include "config/mcp_target.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "config/yaml_reader.h"

namespace countersign::config {
namespace {

bool is_env_name(const std::string& name) {
  return !name.empty() &&
         name.find_first_not_of(
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             "0123456789_") == std::string::npos &&
         !(name[0] >= '0' && name[0] <= '9');
}

McpStdioUpstream read_stdio(const Reader& reader, const YAML::Node& node,
                            const std::string& target) {
  const std::string what = fmt::format("target '{}': mcp.stdio", target);
  reader.expect_keys(node, what, {"command", "args", "cwd", "env", "inherit_env", "per_session"});
  McpStdioUpstream stdio;
  if (!node["command"]) reader.fail_at(node, what + ": command is required");
  stdio.command = reader.text(node["command"], "command");
  if (stdio.command.empty()) reader.fail_at(node["command"], what + ": command is empty");
  if (node["args"]) {
    if (!node["args"].IsSequence()) reader.fail_at(node["args"], what + ": args must be a list");
    for (const auto& arg : node["args"]) stdio.args.push_back(reader.text(arg, "an argument"));
  }
  if (node["cwd"]) {
    std::filesystem::path cwd = reader.text(node["cwd"], "cwd");
    if (cwd.is_relative()) cwd = std::filesystem::path(reader.file()).parent_path() / cwd;
    stdio.cwd = cwd.string();
  }
  if (node["env"]) {
    reader.expect_map(node["env"], what + ".env");
    for (const auto& entry : node["env"]) {
      std::string name = entry.first.as<std::string>();
      if (!is_env_name(name))
        reader.fail_at(entry.first,
                       fmt::format("{}.env: '{}' is not an environment variable name", what, name));
      stdio.env[name] = reader.secret(entry.second, "env " + name);
    }
  }
  if (node["inherit_env"]) {
    stdio.inherit_env = reader.strings(node["inherit_env"], "inherit_env");
    for (const auto& name : stdio.inherit_env)
      if (!is_env_name(name))
        reader.fail_at(
            node["inherit_env"],
            fmt::format("{}.inherit_env: '{}' is not an environment variable name", what, name));
  } else {
    stdio.inherit_env = default_inherited_env();
  }
  if (node["per_session"]) stdio.per_session = reader.boolean(node["per_session"], "per_session");
  return stdio;
}

McpHttpUpstream read_http(const Reader& reader, const YAML::Node& node, const std::string& target) {
  const std::string what = fmt::format("target '{}': mcp.http", target);
  reader.expect_keys(node, what, {"url", "headers"});
  McpHttpUpstream http;
  if (!node["url"]) reader.fail_at(node, what + ": url is required");
  http.url = reader.text(node["url"], "url");
  if (!http.url.starts_with("http://"))
    reader.fail_at(node["url"],
                   fmt::format("{}: url must start with http:// (put TLS upstreams behind a local "
                               "proxy), got '{}'",
                               what, http.url));
  if (node["headers"]) {
    reader.expect_map(node["headers"], what + ".headers");
    for (const auto& entry : node["headers"]) {
      std::string name = entry.first.as<std::string>();
      if (name.empty() || name.find_first_of(" :\r\n\t") != std::string::npos)
        reader.fail_at(entry.first, fmt::format("{}.headers: bad header name '{}'", what, name));
      http.headers[name] = reader.secret(entry.second, "header " + name);
    }
  }
  return http;
}

}  // namespace

const std::vector<std::string>& default_inherited_env() {
  static const std::vector<std::string> names = {"PATH",   "HOME",   "USER", "LANG",
                                                 "LC_ALL", "TMPDIR", "TZ"};
  return names;
}

McpTarget read_mcp_target(const Reader& reader, const YAML::Node& node,
                          const std::string& target_name) {
  const std::string what = fmt::format("target '{}': mcp", target_name);
  reader.expect_keys(
      node, what,
      {"stdio", "http", "deny_as", "allowed_origins", "progress_interval", "max_message_bytes"});
  McpTarget target;
  target.location = reader.where(node);
  if (node["stdio"] && node["http"]) reader.fail_at(node, what + ": choose one of stdio or http");
  if (node["stdio"]) {
    target.stdio = true;
    target.stdio_upstream = read_stdio(reader, node["stdio"], target_name);
  } else if (node["http"]) {
    target.stdio = false;
    target.http_upstream = read_http(reader, node["http"], target_name);
  } else {
    reader.fail_at(node,
                   what + ": an upstream is required (stdio: {command, args} or http: {url})");
  }
  if (node["deny_as"]) {
    std::string deny_as = reader.text(node["deny_as"], "deny_as");
    if (deny_as == "error")
      target.deny_as = McpDenyAs::error;
    else if (deny_as == "tool_error")
      target.deny_as = McpDenyAs::tool_error;
    else
      reader.fail_at(node["deny_as"], what + ".deny_as must be error or tool_error");
  }
  if (node["allowed_origins"])
    target.allowed_origins = reader.strings(node["allowed_origins"], "allowed_origins");
  if (node["progress_interval"]) {
    target.progress_interval = reader.duration(node["progress_interval"], "progress_interval");
    if (target.progress_interval < 100)
      reader.fail_at(node["progress_interval"], what + ".progress_interval must be at least 100ms");
  }
  if (node["max_message_bytes"])
    target.max_message_bytes = static_cast<std::size_t>(
        reader.integer(node["max_message_bytes"], "max_message_bytes", 1024, 1LL << 30));
  return target;
}

}  // namespace countersign::config
