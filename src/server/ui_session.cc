#include "server/ui_session.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "core/hash.h"

namespace countersign::server {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool well_formed_id(std::string_view id) {
  return id.size() == 64 && id.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

std::optional<std::string> cookie_value(std::string_view cookie_header, std::string_view name) {
  while (!cookie_header.empty()) {
    std::size_t end = cookie_header.find(';');
    std::string_view pair = trim(cookie_header.substr(0, end));
    cookie_header =
        end == std::string_view::npos ? std::string_view() : cookie_header.substr(end + 1);
    std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    if (trim(pair.substr(0, equals)) != name) continue;
    std::string_view value = trim(pair.substr(equals + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return std::string(value);
  }
  return std::nullopt;
}

bool is_safe_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

UiSessionStore::UiSessionStore(const Clock& clock, UiSessionOptions options)
    : clock_(clock), options_(options) {}

std::string UiSessionStore::cookie_name() const {
  // __Host- makes the browser refuse the cookie unless it is Secure, has
  // Path=/ and no Domain: nothing on another host or path can plant it.
  return options_.secure ? "__Host-" + options_.cookie_name : options_.cookie_name;
}

std::string UiSessionStore::clear_cookie() const {
  return fmt::format("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}", cookie_name(),
                     options_.secure ? "; Secure" : "");
}

NewUiSession UiSessionStore::create(const Identity& identity, std::string login_method) {
  const Millis now = clock_.now();
  NewUiSession created;
  created.id = to_hex(random_bytes(32));
  created.session.identity = identity;
  created.session.login_method = std::move(login_method);
  created.session.csrf_token = to_hex(random_bytes(32));
  created.session.created_at = now;
  created.session.last_seen = now;
  created.session.expires_at =
      std::min(now + options_.idle_timeout, now + options_.absolute_timeout);
  // No Max-Age: a browser session cookie; the server decides expiry.
  created.set_cookie = fmt::format("{}={}; Path=/; HttpOnly; SameSite=Lax{}", cookie_name(),
                                   created.id, options_.secure ? "; Secure" : "");
  std::lock_guard lock(mutex_);
  evict_locked(now);
  sessions_[sha256_hex(created.id)] = created.session;
  return created;
}

void UiSessionStore::evict_locked(Millis now) {
  std::erase_if(sessions_, [now](const auto& entry) { return entry.second.expires_at <= now; });
  if (sessions_.size() < options_.max_sessions) return;
  std::vector<std::pair<Millis, std::string>> by_age;
  by_age.reserve(sessions_.size());
  for (const auto& [key, session] : sessions_) by_age.emplace_back(session.last_seen, key);
  std::sort(by_age.begin(), by_age.end());
  const std::size_t excess = sessions_.size() - options_.max_sessions + 1;
  for (std::size_t i = 0; i < excess && i < by_age.size(); ++i) sessions_.erase(by_age[i].second);
}

std::optional<std::string> UiSessionStore::key_for(std::string_view cookie_header) const {
  auto id = cookie_value(cookie_header, cookie_name());
  if (!id || !well_formed_id(*id)) return std::nullopt;
  // Looked up by hash: the map never holds a usable id, and a lookup's
  // timing says nothing about stored ids.
  return sha256_hex(*id);
}

bool UiSessionStore::has_session_cookie(std::string_view cookie_header) const {
  return cookie_value(cookie_header, cookie_name()).has_value();
}

Result<UiSession> UiSessionStore::peek(std::string_view cookie_header) const {
  auto key = key_for(cookie_header);
  if (!key) return fail(ErrorCode::unauthenticated, "not signed in: no session cookie");
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(*key);
  if (found == sessions_.end() || found->second.expires_at <= clock_.now())
    return fail(ErrorCode::unauthenticated, "the session has expired or ended: sign in again");
  return found->second;
}

Result<UiSession> UiSessionStore::find(std::string_view cookie_header) {
  auto key = key_for(cookie_header);
  if (!key) return fail(ErrorCode::unauthenticated, "not signed in: no session cookie");
  const Millis now = clock_.now();
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(*key);
  if (found == sessions_.end())
    return fail(ErrorCode::unauthenticated, "the session has expired or ended: sign in again");
  if (found->second.expires_at <= now) {
    sessions_.erase(found);
    return fail(ErrorCode::unauthenticated, "the session has expired or ended: sign in again");
  }
  UiSession& session = found->second;
  session.last_seen = now;
  session.expires_at =
      std::min(now + options_.idle_timeout, session.created_at + options_.absolute_timeout);
  return session;
}

Result<UiSession> UiSessionStore::authorize(std::string_view cookie_header, std::string_view method,
                                            std::string_view csrf_header) {
  auto session = find(cookie_header);
  if (!session) return session;
  if (is_safe_method(method)) return session;
  if (csrf_header.empty())
    return fail(ErrorCode::permission_denied,
                "missing CSRF token: send the session's token as X-CSRF-Token");
  if (!constant_time_equal(csrf_header, session->csrf_token))
    return fail(ErrorCode::permission_denied, "the CSRF token does not match this session");
  return session;
}

bool UiSessionStore::destroy(std::string_view cookie_header) {
  auto key = key_for(cookie_header);
  if (!key) return false;
  std::lock_guard lock(mutex_);
  return sessions_.erase(*key) > 0;
}

std::size_t UiSessionStore::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace countersign::server
