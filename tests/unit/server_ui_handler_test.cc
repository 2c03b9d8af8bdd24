// The web UI through Api, without a network: pages, login, cookie sessions
// on /v1, CSRF refusals.
#include "server/ui_handler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "config/config.h"
#include "core/hash.h"
#include "server/api.h"
#include "server/ui_assets.h"
#include "store/sqlite/sqlite_store.h"

namespace countersign::server {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr Millis kStart = 1'700'000'000'000;

std::string config_yaml() {
  auto key = [](const std::string& name, const std::string& subject, const std::string& kind,
                const std::string& groups, const std::string& extra = "") {
    return "    - {name: " + name + ", key_sha256: " + sha256_hex(name + "-key") + ", subject: \"" +
           subject + "\", kind: " + kind + ", groups: [" + groups + "]" + extra + "}\n";
  };
  return "storage: {sqlite: ':memory:'}\n"
         "identity:\n"
         "  api_keys:\n" +
         key("agent", "agent:bot", "agent", "agents", ", on_behalf_of: dana@example.com") +
         key("alice", "alice@example.com", "human", "sre") +
         key("dana", "dana@example.com", "human", "sre") +
         "targets:\n"
         "  prod: {hold_timeout: 30s}\n"
         "policy:\n"
         "  rules:\n"
         "    - id: changes\n"
         "      match: {verb: 'exec:*'}\n"
         "      effect: review\n"
         "      review: {steps: [{approvers: [group:sre]}]}\n";
}

std::string header(const ApiResponse& response, const std::string& name) {
  std::string value;
  for (const auto& [key, text] : response.headers)
    if (key == name) value = text;  // the last one wins, as on the wire
  return value;
}

class UiHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = config::parse_config(config_yaml(), "ui-test.yaml");
    ASSERT_TRUE(config.has_value()) << config.error().message;
    auto policy = policy::Policy::compile(config->policy);
    ASSERT_TRUE(policy.has_value()) << policy.error().message;
    auto store = store::SqliteStore::open(":memory:");
    ASSERT_TRUE(store.has_value());
    store_ = std::move(*store);
    gateway_ =
        std::make_unique<gateway::Gateway>(std::move(*config), std::move(*policy), *store_, clock_);
    api_ = std::make_unique<Api>(*gateway_);
    sessions_ = std::make_unique<UiSessionStore>(clock_);
    ui_ = std::make_unique<UiHandler>(*gateway_, *sessions_);
    api_->set_ui(ui_.get());
  }

  ApiResponse call(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& cookie = "", const std::string& csrf = "",
                   const std::string& content_type = "application/json",
                   const std::string& bearer = "") {
    ApiRequest request;
    request.method = method;
    request.path = path;
    request.body = body;
    request.cookie = cookie;
    request.csrf_token = csrf;
    request.content_type = content_type;
    if (!bearer.empty()) request.authorization = "Bearer " + bearer;
    request.client_address = "127.0.0.1";
    auto result = api_->handle(request);
    EXPECT_FALSE(result.hold.has_value());
    return result.response;
  }

  struct Login {
    std::string cookie;  // as the browser sends it back
    std::string csrf;
  };

  Login login(const std::string& key) {
    auto response = call("POST", "/ui/login", R"({"api_key":")" + key + R"("})");
    EXPECT_EQ(response.status, 200u) << response.body;
    std::string set_cookie = header(response, "Set-Cookie");
    auto body = boost::json::parse(response.body).as_object();
    return {set_cookie.substr(0, set_cookie.find(';')),
            std::string(body["csrf_token"].as_string())};
  }

  std::string pending_review() {
    ApiRequest request;
    request.method = "POST";
    request.path = "/v1/actions";
    request.authorization = "Bearer agent-key";
    request.body =
        R"({"target":"prod","verb":"exec:deploy","params":{"api_token":"s3cr3t-value"}})";
    auto result = api_->handle(request);
    EXPECT_EQ(result.response.status, 202u) << result.response.body;
    return std::string(boost::json::parse(result.response.body).at("review_id").as_string());
  }

  std::string state_of(const std::string& id) {
    return std::string(review::state_name(gateway_->get_review(id)->state));
  }

  ManualClock clock_{kStart};
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<UiSessionStore> sessions_;
  std::unique_ptr<UiHandler> ui_;
};

TEST_F(UiHandlerTest, ServesThePageWithAStrictContentSecurityPolicy) {
  auto page = call("GET", "/ui/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(page.body, HasSubstr("<script type=\"module\" src=\"/ui/assets/app.js\">"));
  const std::string csp = header(page, "Content-Security-Policy");
  EXPECT_THAT(csp, HasSubstr("script-src 'self'"));
  EXPECT_THAT(csp, HasSubstr("frame-ancestors 'none'"));
  EXPECT_THAT(csp, Not(HasSubstr("unsafe-inline")));
  EXPECT_EQ(header(page, "X-Frame-Options"), "DENY");
  EXPECT_EQ(header(page, "Referrer-Policy"), "no-referrer");
  // Deep links into the single page get the same page.
  EXPECT_EQ(call("GET", "/ui/reviews/rv_123").body, page.body);
  EXPECT_EQ(call("GET", "/ui/inbox").body, page.body);
}

TEST_F(UiHandlerTest, EmbeddedPagesHaveNoInlineScriptOrStyle) {
  for (const auto& asset : ui_assets()) {
    if (!asset.path.ends_with(".html")) continue;
    std::string text(reinterpret_cast<const char*>(asset.data), asset.size);
    EXPECT_THAT(text, Not(HasSubstr("<script>"))) << asset.path;
    EXPECT_THAT(text, Not(HasSubstr("<style"))) << asset.path;
    EXPECT_THAT(text, Not(HasSubstr("style="))) << asset.path;
    EXPECT_THAT(text, Not(HasSubstr(" onclick="))) << asset.path;
    EXPECT_THAT(text, Not(HasSubstr("http://"))) << asset.path;
    EXPECT_THAT(text, Not(HasSubstr("https://"))) << asset.path;
  }
}

TEST_F(UiHandlerTest, ServesAssetsAndNothingElse) {
  auto script = call("GET", "/ui/assets/app.js");
  EXPECT_EQ(script.status, 200u);
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(call("GET", "/ui/assets/app.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(call("GET", "/ui/assets/missing.js").status, 404u);
  EXPECT_EQ(call("GET", "/ui/assets/../index.html").status, 404u);
  EXPECT_EQ(call("GET", "/ui/elsewhere").status, 404u);
  EXPECT_EQ(call("POST", "/ui/assets/app.js").status, 405u);
  auto bare = call("GET", "/ui");
  EXPECT_EQ(bare.status, 308u);
  EXPECT_EQ(header(bare, "Location"), "/ui/");
}

TEST_F(UiHandlerTest, LoginSetsALaxHttpOnlyCookieAndNeverEchoesTheKey) {
  auto response = call("POST", "/ui/login", R"({"api_key":"alice-key"})");
  ASSERT_EQ(response.status, 200u) << response.body;
  const std::string cookie = header(response, "Set-Cookie");
  EXPECT_THAT(cookie, HasSubstr("countersign_session="));
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Lax"));
  EXPECT_THAT(cookie, Not(HasSubstr("alice-key")));
  EXPECT_THAT(response.body, Not(HasSubstr("alice-key")));
  auto body = boost::json::parse(response.body).as_object();
  EXPECT_EQ(body["subject"], "alice@example.com");
  EXPECT_EQ(body["csrf_token"].as_string().size(), 64u);
}

TEST_F(UiHandlerTest, LoginRefusesWrongKeysFormsAndAgents) {
  EXPECT_EQ(call("POST", "/ui/login", R"({"api_key":"nope"})").status, 401u);
  EXPECT_EQ(call("POST", "/ui/login", R"({"api_key":""})").status, 400u);
  EXPECT_EQ(call("POST", "/ui/login", R"({"key":"alice-key"})").status, 400u);
  EXPECT_EQ(call("POST", "/ui/login", "not json").status, 400u);
  // A cross-site HTML form can only send these content types.
  EXPECT_EQ(
      call("POST", "/ui/login", "api_key=alice-key", "", "", "application/x-www-form-urlencoded")
          .status,
      400u);
  EXPECT_EQ(call("POST", "/ui/login", R"({"api_key":"alice-key"})", "", "", "text/plain").status,
            400u);
  auto agent = call("POST", "/ui/login", R"({"api_key":"agent-key"})");
  EXPECT_EQ(agent.status, 403u);
  EXPECT_THAT(agent.body, HasSubstr("agent"));
  EXPECT_EQ(sessions_->size(), 0u);
  // Failed logins are audited like any failed authentication.
  EXPECT_GE(gateway_->counters().authentication_failures.load(), 1u);
}

TEST_F(UiHandlerTest, SessionEndpointNeedsTheCookie) {
  EXPECT_EQ(call("GET", "/ui/session").status, 401u);
  EXPECT_EQ(call("GET", "/ui/session", "", "countersign_session=" + std::string(64, '0')).status,
            401u);
  auto alice = login("alice-key");
  auto session = call("GET", "/ui/session", "", alice.cookie);
  ASSERT_EQ(session.status, 200u);
  EXPECT_EQ(boost::json::parse(session.body).at("csrf_token").as_string(), alice.csrf);
}

TEST_F(UiHandlerTest, TheCookieSignsInV1Requests) {
  auto alice = login("alice-key");
  auto whoami = call("GET", "/v1/whoami", "", alice.cookie);
  ASSERT_EQ(whoami.status, 200u) << whoami.body;
  EXPECT_EQ(boost::json::parse(whoami.body).at("subject"), "alice@example.com");
  EXPECT_THAT(header(whoami, "Content-Security-Policy"), HasSubstr("default-src 'none'"));
  const std::string id = pending_review();
  auto listed = call("GET", "/v1/reviews", "", alice.cookie);
  ASSERT_EQ(listed.status, 200u);
  EXPECT_THAT(listed.body, HasSubstr(id));
  EXPECT_THAT(listed.body, Not(HasSubstr("s3cr3t-value")));
  EXPECT_THAT(listed.body, HasSubstr(R"("may_vote":true)"));
}

TEST_F(UiHandlerTest, MissingCookieIsUnauthenticated) {
  const std::string id = pending_review();
  auto response = call("POST", "/v1/reviews/" + id + "/approve", "{}", "", "anything");
  EXPECT_EQ(response.status, 401u);
  auto other = call("POST", "/v1/reviews/" + id + "/approve", "{}", "theme=dark", "anything");
  EXPECT_EQ(other.status, 401u);
  EXPECT_EQ(state_of(id), "pending");
}

TEST_F(UiHandlerTest, StateChangingRequestsWithoutTheCsrfTokenAreRefused) {
  auto alice = login("alice-key");
  const std::string id = pending_review();
  auto missing = call("POST", "/v1/reviews/" + id + "/approve", "{}", alice.cookie, "");
  EXPECT_EQ(missing.status, 403u);
  EXPECT_THAT(missing.body, HasSubstr("CSRF"));
  std::string forged = alice.csrf;
  forged[0] = forged[0] == 'a' ? 'b' : 'a';
  EXPECT_EQ(call("POST", "/v1/reviews/" + id + "/approve", "{}", alice.cookie, forged).status,
            403u);
  EXPECT_EQ(
      call("POST", "/v1/reviews/" + id + "/reject", R"({"reason":"x"})", alice.cookie, "").status,
      403u);
  EXPECT_EQ(state_of(id), "pending");

  auto approved = call("POST", "/v1/reviews/" + id + "/approve", "{}", alice.cookie, alice.csrf);
  EXPECT_EQ(approved.status, 200u) << approved.body;
  EXPECT_EQ(state_of(id), "approved");
}

TEST_F(UiHandlerTest, TheRequestersOwnSessionCannotApprove) {
  auto dana = login("dana-key");  // the agent acts on Dana's behalf
  const std::string id = pending_review();
  auto review = call("GET", "/v1/reviews/" + id, "", dana.cookie);
  ASSERT_EQ(review.status, 200u);
  EXPECT_THAT(review.body, HasSubstr(R"("may_vote":false)"));
  auto forged = call("POST", "/v1/reviews/" + id + "/approve", "{}", dana.cookie, dana.csrf);
  EXPECT_EQ(forged.status, 403u);
  EXPECT_THAT(forged.body, HasSubstr("permission_denied"));
  EXPECT_EQ(state_of(id), "pending");
  // What the requester may do: cancel.
  EXPECT_EQ(call("POST", "/v1/reviews/" + id + "/cancel", "", dana.cookie, dana.csrf).status, 200u);
  EXPECT_EQ(state_of(id), "cancelled");
}

TEST_F(UiHandlerTest, AnAuthorizationHeaderTakesPrecedenceOverTheCookie) {
  auto alice = login("alice-key");
  auto whoami = call("GET", "/v1/whoami", "", alice.cookie, "", "application/json", "dana-key");
  ASSERT_EQ(whoami.status, 200u);
  EXPECT_EQ(boost::json::parse(whoami.body).at("subject"), "dana@example.com");
}

TEST_F(UiHandlerTest, LogoutNeedsTheTokenAndEndsTheSession) {
  auto alice = login("alice-key");
  EXPECT_EQ(call("POST", "/ui/logout", "", alice.cookie, "").status, 403u);
  EXPECT_EQ(call("GET", "/v1/whoami", "", alice.cookie).status, 200u);
  auto out = call("POST", "/ui/logout", "", alice.cookie, alice.csrf);
  EXPECT_EQ(out.status, 200u);
  EXPECT_THAT(header(out, "Set-Cookie"), HasSubstr("Max-Age=0"));
  EXPECT_EQ(call("GET", "/v1/whoami", "", alice.cookie).status, 401u);
  EXPECT_EQ(call("GET", "/ui/session", "", alice.cookie).status, 401u);
  EXPECT_EQ(call("GET", "/ui/logout").status, 405u);
}

TEST_F(UiHandlerTest, ExpiredSessionsAreRefused) {
  auto alice = login("alice-key");
  clock_.advance(sessions_->options().idle_timeout + 1);
  EXPECT_EQ(call("GET", "/v1/whoami", "", alice.cookie).status, 401u);
}

TEST_F(UiHandlerTest, ALoginReplacesTheBrowsersPreviousSession) {
  auto first = login("alice-key");
  auto response = call("POST", "/ui/login", R"({"api_key":"dana-key"})", first.cookie);
  ASSERT_EQ(response.status, 200u);
  EXPECT_EQ(call("GET", "/v1/whoami", "", first.cookie).status, 401u);
  EXPECT_EQ(sessions_->size(), 1u);
}

TEST_F(UiHandlerTest, WithoutAnIdentityProviderOnlyApiKeysAreOffered) {
  auto methods = call("GET", "/ui/login-methods");
  ASSERT_EQ(methods.status, 200u) << methods.body;
  auto body = boost::json::parse(methods.body).as_object();
  EXPECT_EQ(body["api_key"], true);
  EXPECT_TRUE(body["oidc"].is_null());
  EXPECT_EQ(ui_->oidc_login(), nullptr);

  // /auth/* belongs to the UI; sign-in says plainly that it is not set up.
  EXPECT_TRUE(UiHandler::owns("/auth/login"));
  auto login = call("GET", "/auth/login");
  EXPECT_EQ(login.status, 404u);
  EXPECT_EQ(login.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(login.body, HasSubstr("identity.oidc.login"));
  EXPECT_THAT(header(login, "Content-Security-Policy"), HasSubstr("script-src 'self'"));
  EXPECT_EQ(call("GET", "/auth/elsewhere").status, 404u);
  EXPECT_EQ(call("POST", "/auth/login").status, 405u);

  ApiRequest request;
  request.method = "GET";
  request.path = "/auth/callback";
  request.query = {{"code", "c"}, {"state", "<script>"}};
  auto callback = ui_->begin_callback(request);
  EXPECT_FALSE(callback.token_request.has_value());
  EXPECT_EQ(callback.response.status, 404u);
  EXPECT_THAT(callback.response.body, Not(HasSubstr("<script>")));
}

TEST_F(UiHandlerTest, AuthLogoutEndsTheSessionLikeUiLogout) {
  Login alice = login("alice-key");
  EXPECT_EQ(call("POST", "/auth/logout", "", alice.cookie).status, 403u);  // no CSRF token
  EXPECT_EQ(call("GET", "/ui/session", "", alice.cookie).status, 200u);
  auto out = call("POST", "/auth/logout", "", alice.cookie, alice.csrf);
  EXPECT_EQ(out.status, 200u) << out.body;
  EXPECT_THAT(header(out, "Set-Cookie"), HasSubstr("Max-Age=0"));
  EXPECT_EQ(call("GET", "/ui/session", "", alice.cookie).status, 401u);
  EXPECT_EQ(call("GET", "/auth/logout").status, 405u);
}

TEST(UiSessionOptionsFromConfig, BrowserLoginSetsLifetimeAndCookieName) {
  config::Config config;
  config.public_url = "https://countersign.example.com";
  EXPECT_TRUE(ui_session_options(config).secure);
  EXPECT_EQ(ui_session_options(config).cookie_name, "countersign_session");
  config.browser_login.issuer_name = "corp";
  config.browser_login.session_lifetime = 3'600'000;
  config.browser_login.cookie_name = "cs";
  auto options = ui_session_options(config);
  EXPECT_EQ(options.absolute_timeout, 3'600'000);
  EXPECT_EQ(options.cookie_name, "cs");
  ManualClock clock(kStart);
  UiSessionStore store(clock, options);
  EXPECT_EQ(store.cookie_name(), "__Host-cs");
  EXPECT_EQ(store.create(Identity{}, "oidc").set_cookie.rfind("__Host-cs=", 0), 0u);
}

}  // namespace
}  // namespace countersign::server
