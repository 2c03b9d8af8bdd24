// Browser login (Authorization Code + PKCE): state, browser binding, nonce,
// audience, replay, expiry and open-redirect protection, without a network.
#include "identity/browser_login.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/hash.h"
#include "identity_test_keys.h"

namespace countersign::identity {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr Millis kNow = 1'800'000'000'000;
const std::string kIssuer = "https://idp.example.com";

std::map<std::string, std::string> parse_query(std::string_view url) {
  std::map<std::string, std::string> out;
  std::string_view query = url.substr(url.find('?') + 1);
  auto decode = [](std::string_view text) {
    std::string value;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '+')
        value += ' ';
      else if (text[i] == '%' && i + 2 < text.size()) {
        value += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
        i += 2;
      } else
        value += text[i];
    }
    return value;
  };
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    auto eq = part.find('=');
    out[decode(part.substr(0, eq))] = decode(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::string cookie_of(const std::string& set_cookie) {
  return set_cookie.substr(0, set_cookie.find(';'));
}

class BrowserLoginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    OidcIssuer issuer;
    issuer.name = "corp";
    issuer.issuer = kIssuer;
    issuer.audiences = {"countersign"};
    issuer.client_id = "web";
    issuer.client_secret = "s3cret:+";
    issuer.claims.groups_claim = "groups";
    jwks = testing::jwks_of({&key});
    auth = std::make_unique<OidcAuthenticator>(
        std::vector<OidcIssuer>{issuer},
        [this](const HttpRequest& request) -> Result<HttpResponse> {
          if (request.url == kIssuer + "/.well-known/openid-configuration")
            return HttpResponse{200,
                                {},
                                boost::json::serialize(boost::json::object{
                                    {"issuer", kIssuer},
                                    {"jwks_uri", kIssuer + "/jwks"},
                                    {"authorization_endpoint", kIssuer + "/auth"},
                                    {"token_endpoint", kIssuer + "/token"},
                                    {"end_session_endpoint", kIssuer + "/logout"}})};
          return HttpResponse{200, {}, jwks};
        },
        clock);
    ASSERT_TRUE(auth->load().has_value());
    BrowserLoginSettings settings;
    settings.issuer_name = "corp";
    login = std::make_unique<OidcLogin>(*auth, "corp", settings,
                                        "https://cs.example.com/auth/callback", true, clock);
  }

  std::string id_token(const std::string& nonce, boost::json::object extra = {}) {
    boost::json::object claims{{"iss", kIssuer},
                               {"sub", "alice"},
                               {"aud", "web"},
                               {"exp", kNow / 1000 + 300},
                               {"iat", kNow / 1000},
                               {"nonce", nonce},
                               {"email", "alice@example.com"},
                               {"email_verified", true},
                               {"groups", {"sre"}}};
    for (auto& [name, value] : extra) claims[name] = value;
    return sign_jwt({{"alg", "ES256"}, {"kid", "k1"}}, claims, key.private_pem).value();
  }
  Result<HttpResponse> token_answer(const std::string& token) {
    return HttpResponse{200, {}, boost::json::serialize(boost::json::object{{"id_token", token}})};
  }

  ManualClock clock{kNow};
  testing::TestKey key = testing::make_key("EC", "k1");
  std::string jwks;
  std::unique_ptr<OidcAuthenticator> auth;
  std::unique_ptr<OidcLogin> login;
};

TEST_F(BrowserLoginTest, FullFlowWithPkce) {
  auto start = login->begin("/ui/reviews/rv_1");
  ASSERT_TRUE(start.has_value()) << start.error().message;
  EXPECT_THAT(start->authorization_url, StartsWith(kIssuer + "/auth?"));
  auto params = parse_query(start->authorization_url);
  EXPECT_EQ(params["response_type"], "code");
  EXPECT_EQ(params["client_id"], "web");
  EXPECT_EQ(params["redirect_uri"], "https://cs.example.com/auth/callback");
  EXPECT_EQ(params["code_challenge_method"], "S256");
  EXPECT_EQ(params["scope"], "openid email profile");
  EXPECT_GE(params["state"].size(), 43u);
  EXPECT_THAT(start->set_cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(start->set_cookie, HasSubstr("SameSite=Lax"));
  EXPECT_THAT(start->set_cookie, HasSubstr("Secure"));
  EXPECT_THAT(start->set_cookie, StartsWith("__Secure-"));

  auto request = login->callback({{"code", "abc"}, {"state", params["state"]}},
                                 "other=1; " + cookie_of(start->set_cookie));
  ASSERT_TRUE(request.has_value()) << request.error().message;
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->url, kIssuer + "/token");
  auto form = parse_query("?" + request->body);
  EXPECT_EQ(form["grant_type"], "authorization_code");
  EXPECT_EQ(form["code"], "abc");
  EXPECT_EQ(pkce_challenge(form["code_verifier"]), params["code_challenge"]);
  bool basic = false;
  for (const auto& [name, value] : request->headers)
    basic = basic || (name == "Authorization" && value.starts_with("Basic "));
  EXPECT_TRUE(basic);

  auto result = login->finish(params["state"], token_answer(id_token(params["nonce"])));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->identity.subject, "alice");
  EXPECT_EQ(result->identity.kind, IdentityKind::human);
  EXPECT_EQ(result->identity.groups, std::vector<std::string>{"sre"});
  EXPECT_EQ(result->return_to, "/ui/reviews/rv_1");
  EXPECT_EQ(login->pending(), 0u);
  EXPECT_THAT(login->logout_url(result->id_token, "https://cs.example.com/"),
              StartsWith(kIssuer + "/logout?client_id=web&id_token_hint="));
}

TEST_F(BrowserLoginTest, ReturnToMustBeLocal) {
  for (std::string bad :
       {"https://evil.example.com/", "//evil.example.com/x", "/\\evil", "", "ui"}) {
    auto start = login->begin(bad);
    auto params = parse_query(start->authorization_url);
    auto request =
        login->callback({{"code", "c"}, {"state", params["state"]}}, cookie_of(start->set_cookie));
    auto result = login->finish(params["state"], token_answer(id_token(params["nonce"])));
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(result->return_to, "/ui/") << bad;
  }
}

TEST_F(BrowserLoginTest, CallbackNeedsTheSameBrowserAndIsSingleUse) {
  auto start = login->begin("/ui/");
  auto state = parse_query(start->authorization_url)["state"];
  // Another browser (no cookie or another value) cannot complete it.
  EXPECT_THAT(login->callback({{"code", "c"}, {"state", state}}, "").error().message,
              HasSubstr("another browser"));
  // ... and the attempt used it up.
  EXPECT_THAT(login->callback({{"code", "c"}, {"state", state}}, cookie_of(start->set_cookie))
                  .error()
                  .message,
              HasSubstr("already used"));
  auto second = login->begin("/ui/");
  auto other = login->begin("/ui/");
  auto second_state = parse_query(second->authorization_url)["state"];
  EXPECT_FALSE(
      login->callback({{"code", "c"}, {"state", second_state}}, cookie_of(other->set_cookie))
          .has_value());
  EXPECT_THAT(login->callback({{"code", "c"}, {"state", "forged"}}, cookie_of(other->set_cookie))
                  .error()
                  .message,
              HasSubstr("unknown"));
}

TEST_F(BrowserLoginTest, ExpiredLoginAndIdpErrors) {
  auto start = login->begin("/ui/");
  auto state = parse_query(start->authorization_url)["state"];
  clock.advance(11 * 60'000);
  EXPECT_THAT(login->callback({{"code", "c"}, {"state", state}}, cookie_of(start->set_cookie))
                  .error()
                  .message,
              HasSubstr("too long"));
  start = login->begin("/ui/");
  state = parse_query(start->authorization_url)["state"];
  EXPECT_THAT(
      login->callback({{"error", "access_denied"}, {"state", state}}, cookie_of(start->set_cookie))
          .error()
          .message,
      HasSubstr("access_denied"));
}

TEST_F(BrowserLoginTest, IdTokenChecks) {
  auto attempt = [&](auto make_token) {
    auto start = login->begin("/ui/");
    auto params = parse_query(start->authorization_url);
    EXPECT_TRUE(
        login->callback({{"code", "c"}, {"state", params["state"]}}, cookie_of(start->set_cookie)));
    return login->finish(params["state"], token_answer(make_token(params["nonce"])));
  };
  EXPECT_THAT(attempt([&](auto) { return id_token("another-nonce"); }).error().message,
              HasSubstr("nonce"));
  EXPECT_THAT(attempt([&](auto nonce) {
                return id_token(nonce, {{"aud", "countersign"}});
              })
                  .error()
                  .message,
              HasSubstr("not for this client"));
  EXPECT_THAT(
      attempt([&](auto nonce) {
        return id_token(nonce, {{"aud", boost::json::array{"web", "other"}}, {"azp", "other"}});
      })
          .error()
          .message,
      HasSubstr("azp"));
  EXPECT_TRUE(
      attempt([&](auto nonce) {
        return id_token(nonce, {{"aud", boost::json::array{"web", "other"}}, {"azp", "web"}});
      }).has_value());
  EXPECT_THAT(attempt([&](auto nonce) {
                return id_token(nonce, {{"exp", kNow / 1000 - 600}});
              })
                  .error()
                  .message,
              HasSubstr("expired"));
  auto stranger = testing::make_key("EC", "k1");
  EXPECT_THAT(attempt([&](auto nonce) {
                return sign_jwt({{"alg", "ES256"}, {"kid", "k1"}},
                                {{"iss", kIssuer},
                                 {"sub", "mallory"},
                                 {"aud", "web"},
                                 {"exp", kNow / 1000 + 60},
                                 {"nonce", nonce}},
                                stranger.private_pem)
                    .value();
              })
                  .error()
                  .message,
              HasSubstr("signature"));
  // The token endpoint refusing the code.
  auto start = login->begin("/ui/");
  auto state = parse_query(start->authorization_url)["state"];
  ASSERT_TRUE(login->callback({{"code", "c"}, {"state", state}}, cookie_of(start->set_cookie)));
  auto refused = login->finish(state, HttpResponse{400, {}, R"({"error":"invalid_grant"})"});
  EXPECT_THAT(refused.error().message, HasSubstr("invalid_grant"));
  EXPECT_FALSE(login->finish(state, token_answer("x")).has_value());  // consumed
}

TEST(LocalPaths, OnlyPathsOnThisSite) {
  EXPECT_TRUE(is_local_path("/ui/reviews/rv_1?x=1"));
  EXPECT_FALSE(is_local_path("//evil.com"));
  EXPECT_FALSE(is_local_path("https://evil.com"));
  EXPECT_FALSE(is_local_path("/\\evil.com"));
  EXPECT_FALSE(is_local_path("/ui\r\nSet-Cookie: x"));
}

}  // namespace
}  // namespace countersign::identity
