// Web UI sessions: cookies, expiry, CSRF, without a server.
#include "server/ui_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/hash.h"

namespace countersign::server {
namespace {

using ::testing::HasSubstr;

constexpr Millis kStart = 1'700'000'000'000;

Identity alice() {
  return Identity{"alice@example.com", "api-key", IdentityKind::human, {"sre"}, {}, {}};
}

std::string cookie_header(const NewUiSession& created) {
  // What a browser sends back: name=value, without the attributes.
  return "theme=dark; " + created.set_cookie.substr(0, created.set_cookie.find(';')) + "; other=1";
}

TEST(UiCookies, ParsesCookieHeaders) {
  EXPECT_EQ(cookie_value("a=1; b=2", "b"), "2");
  EXPECT_EQ(cookie_value("a=1;b=2", "a"), "1");
  EXPECT_EQ(cookie_value(" a = \"x y\" ", "a"), "x y");
  EXPECT_EQ(cookie_value("ab=1; b=2", "b"), "2");
  EXPECT_FALSE(cookie_value("ab=1", "b").has_value());
  EXPECT_FALSE(cookie_value("", "b").has_value());
  EXPECT_FALSE(cookie_value("b", "b").has_value());
}

TEST(UiCookies, SafeMethods) {
  EXPECT_TRUE(is_safe_method("GET"));
  EXPECT_TRUE(is_safe_method("HEAD"));
  EXPECT_FALSE(is_safe_method("POST"));
  EXPECT_FALSE(is_safe_method("DELETE"));
  EXPECT_FALSE(is_safe_method("get"));  // methods are case-sensitive: treat as unsafe
}

TEST(UiSessionStore, CookieIsHttpOnlyLaxAndSecureOnlyOverHttps) {
  ManualClock clock(kStart);
  UiSessionStore plain(clock);
  auto created = plain.create(alice(), "api-key");
  EXPECT_THAT(created.set_cookie, HasSubstr("countersign_session=" + created.id));
  EXPECT_THAT(created.set_cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(created.set_cookie, HasSubstr("SameSite=Lax"));
  EXPECT_THAT(created.set_cookie, HasSubstr("Path=/"));
  EXPECT_EQ(created.set_cookie.find("Secure"), std::string::npos);
  EXPECT_EQ(created.id.size(), 64u);
  EXPECT_EQ(created.session.csrf_token.size(), 64u);
  EXPECT_NE(created.id, created.session.csrf_token);

  UiSessionStore secure(clock, UiSessionOptions{.secure = true});
  auto secured = secure.create(alice(), "api-key");
  EXPECT_EQ(secured.set_cookie.rfind("__Host-countersign_session=", 0), 0u);
  EXPECT_THAT(secured.set_cookie, HasSubstr("; Secure"));
  EXPECT_THAT(secure.clear_cookie(), HasSubstr("Max-Age=0"));
  EXPECT_THAT(secure.clear_cookie(), HasSubstr("; Secure"));
}

TEST(UiSessionStore, FindsTheSessionByCookie) {
  ManualClock clock(kStart);
  UiSessionStore store(clock);
  auto created = store.create(alice(), "api-key");
  auto found = store.find(cookie_header(created));
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found->identity.subject, "alice@example.com");
  EXPECT_EQ(found->login_method, "api-key");
  EXPECT_EQ(found->csrf_token, created.session.csrf_token);
}

TEST(UiSessionStore, EveryLoginGetsFreshRandomIds) {
  ManualClock clock(kStart);
  UiSessionStore store(clock);
  auto first = store.create(alice(), "api-key");
  auto second = store.create(alice(), "api-key");
  EXPECT_NE(first.id, second.id);
  EXPECT_NE(first.session.csrf_token, second.session.csrf_token);
  EXPECT_EQ(store.size(), 2u);
}

TEST(UiSessionStore, MissingOrUnknownCookieIsUnauthenticated) {
  ManualClock clock(kStart);
  UiSessionStore store(clock);
  store.create(alice(), "api-key");
  for (const std::string& header :
       {std::string(), std::string("other=1"), std::string("countersign_session="),
        std::string("countersign_session=") + std::string(64, 'a'),
        std::string("countersign_session=../../etc"), std::string("countersign_session=ABC")}) {
    auto found = store.find(header);
    ASSERT_FALSE(found.has_value()) << header;
    EXPECT_EQ(found.error().code, ErrorCode::unauthenticated);
    auto authorized = store.authorize(header, "POST", "whatever");
    ASSERT_FALSE(authorized.has_value());
    EXPECT_EQ(authorized.error().code, ErrorCode::unauthenticated);
  }
}

TEST(UiSessionStore, TheStoreKeepsNoUsableSessionId) {
  // The id is looked up by its hash: a cookie holding the hash is no key.
  ManualClock clock(kStart);
  UiSessionStore store(clock);
  auto created = store.create(alice(), "api-key");
  EXPECT_FALSE(store.find("countersign_session=" + sha256_hex(created.id)).has_value());
}

TEST(UiSessionStore, StateChangingRequestsNeedTheCsrfToken) {
  ManualClock clock(kStart);
  UiSessionStore store(clock);
  auto created = store.create(alice(), "api-key");
  const std::string cookie = cookie_header(created);
  EXPECT_TRUE(store.authorize(cookie, "GET", "").has_value());
  EXPECT_TRUE(store.authorize(cookie, "POST", created.session.csrf_token).has_value());

  auto missing = store.authorize(cookie, "POST", "");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code, ErrorCode::permission_denied);
  EXPECT_THAT(missing.error().message, HasSubstr("CSRF"));

  std::string forged = created.session.csrf_token;
  forged.back() = forged.back() == '0' ? '1' : '0';
  auto wrong = store.authorize(cookie, "POST", forged);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code, ErrorCode::permission_denied);

  // Another session's token is no good either.
  auto other = store.create(alice(), "api-key");
  auto crossed = store.authorize(cookie, "POST", other.session.csrf_token);
  ASSERT_FALSE(crossed.has_value());
  EXPECT_EQ(crossed.error().code, ErrorCode::permission_denied);
  EXPECT_FALSE(store.authorize(cookie, "DELETE", created.session.csrf_token.substr(1)).has_value());
}

TEST(UiSessionStore, IdleSessionsExpireAndUseKeepsThemAlive) {
  ManualClock clock(kStart);
  UiSessionStore store(clock, UiSessionOptions{.idle_timeout = 1000, .absolute_timeout = 10'000});
  auto created = store.create(alice(), "api-key");
  const std::string cookie = cookie_header(created);
  clock.advance(900);
  EXPECT_TRUE(store.find(cookie).has_value());  // refreshes
  clock.advance(900);
  EXPECT_TRUE(store.peek(cookie).has_value());  // does not refresh
  clock.advance(200);
  auto expired = store.find(cookie);
  ASSERT_FALSE(expired.has_value());
  EXPECT_EQ(expired.error().code, ErrorCode::unauthenticated);
  EXPECT_EQ(store.size(), 0u);
}

TEST(UiSessionStore, SessionsEndAtTheAbsoluteTimeoutHoweverBusy) {
  ManualClock clock(kStart);
  UiSessionStore store(clock, UiSessionOptions{.idle_timeout = 1000, .absolute_timeout = 3000});
  auto created = store.create(alice(), "api-key");
  const std::string cookie = cookie_header(created);
  for (int i = 0; i < 5; ++i) {
    clock.advance(500);
    EXPECT_TRUE(store.find(cookie).has_value());
  }
  clock.advance(500);  // 3000 ms after login
  EXPECT_FALSE(store.find(cookie).has_value());
}

TEST(UiSessionStore, LogoutEndsTheSession) {
  ManualClock clock(kStart);
  UiSessionStore store(clock);
  auto created = store.create(alice(), "api-key");
  const std::string cookie = cookie_header(created);
  EXPECT_TRUE(store.destroy(cookie));
  EXPECT_FALSE(store.find(cookie).has_value());
  EXPECT_FALSE(store.authorize(cookie, "POST", created.session.csrf_token).has_value());
  EXPECT_FALSE(store.destroy(cookie));
}

TEST(UiSessionStore, TheOldestSessionsGoBeyondTheLimit) {
  ManualClock clock(kStart);
  UiSessionStore store(clock, UiSessionOptions{.max_sessions = 3});
  std::vector<NewUiSession> created;
  for (int i = 0; i < 5; ++i) {
    created.push_back(store.create(alice(), "api-key"));
    clock.advance(10);
  }
  EXPECT_EQ(store.size(), 3u);
  EXPECT_FALSE(store.find(cookie_header(created[0])).has_value());
  EXPECT_FALSE(store.find(cookie_header(created[1])).has_value());
  EXPECT_TRUE(store.find(cookie_header(created[4])).has_value());
}

}  // namespace
}  // namespace countersign::server
