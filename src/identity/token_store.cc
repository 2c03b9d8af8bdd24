#include "identity/token_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <boost/json.hpp>

namespace countersign::identity {

std::string token_file_path() {
  if (const char* dir = std::getenv("COUNTERSIGN_CONFIG_DIR"); dir && *dir)
    return (std::filesystem::path(dir) / "token.json").string();
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg)
    return (std::filesystem::path(xdg) / "countersign" / "token.json").string();
  const char* home = std::getenv("HOME");
  return (std::filesystem::path(home && *home ? home : ".") / ".config" / "countersign" /
          "token.json")
      .string();
}

Result<void> save_token(const StoredToken& token, const std::string& path) {
  std::filesystem::path file(path);
  std::error_code error;
  std::filesystem::create_directories(file.parent_path(), error);
  if (error)
    return fail(ErrorCode::unavailable,
                fmt::format("cannot create {}: {}", file.parent_path().string(), error.message()));
  ::chmod(file.parent_path().c_str(), 0700);
  boost::json::object object{{"server", token.server},
                             {"issuer", token.issuer},
                             {"access_token", token.access_token},
                             {"expires_at", token.expires_at}};
  std::string text = boost::json::serialize(object) + "\n";
  std::string temporary = path + ".tmp";
  ::unlink(temporary.c_str());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(ErrorCode::unavailable,
                fmt::format("cannot write {}: {}", temporary, std::strerror(errno)));
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    return fail(ErrorCode::unavailable, fmt::format("cannot write {}", path));
  }
  return {};
}

Result<std::optional<StoredToken>> load_token(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return std::optional<StoredToken>();
  if ((info.st_mode & 077) != 0)
    return fail(
        ErrorCode::failed_precondition,
        fmt::format("{} is readable by other users; refusing to use it (chmod 600 it or run "
                    "countersign login again)",
                    path));
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  boost::system::error_code error;
  auto value = boost::json::parse(content.str(), error);
  if (error || !value.is_object())
    return fail(ErrorCode::failed_precondition, fmt::format("{} is not a token file", path));
  const auto& object = value.as_object();
  auto text = [&](const char* name) {
    auto* member = object.if_contains(name);
    return member && member->is_string() ? std::string(member->get_string()) : std::string();
  };
  StoredToken token;
  token.server = text("server");
  token.issuer = text("issuer");
  token.access_token = text("access_token");
  if (auto* expires = object.if_contains("expires_at"); expires && expires->is_int64())
    token.expires_at = expires->get_int64();
  if (token.access_token.empty())
    return fail(ErrorCode::failed_precondition, fmt::format("{} holds no token", path));
  return std::optional<StoredToken>(std::move(token));
}

Result<void> forget_token(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return fail(ErrorCode::unavailable,
                fmt::format("cannot remove {}: {}", path, std::strerror(errno)));
  return {};
}

}  // namespace countersign::identity
