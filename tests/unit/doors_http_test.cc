// The HTTP door's Beast-free parts: route templates, params, header
// filtering, mask decisions, credential injection and AWS SigV4 signing
// (against AWS's published Signature Version 4 test suite).
#include <cstdlib>

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

#include "config/config.h"
#include "config/http_target.h"
#include "core/hash.h"
#include "doors/http/credentials.h"
#include "doors/http/routing.h"
#include "doors/http/sigv4.h"

namespace countersign::doors::http {
namespace {

config::HttpTarget target_with_routes(
    const std::vector<std::pair<std::string, std::string>>& routes) {
  config::HttpTarget target;
  EXPECT_TRUE(config::parse_upstream("http://127.0.0.1:9000", target));
  for (const auto& [match, verb] : routes) {
    auto route = config::parse_route_match(match);
    EXPECT_TRUE(route) << match << ": " << route.error().message;
    route->verb = verb;
    target.routes.push_back(*route);
  }
  return target;
}

TEST(HttpRouting, SplitsTheRequestTarget) {
  auto split = split_request_target("/http/storage/bucket/a%20key?acl&x=1");
  ASSERT_TRUE(split);
  EXPECT_EQ(split->target, "storage");
  EXPECT_EQ(split->path, "/bucket/a%20key");
  EXPECT_EQ(split->query, "acl&x=1");
  auto root = split_request_target("/http/storage");
  ASSERT_TRUE(root);
  EXPECT_EQ(root->path, "/");
  EXPECT_FALSE(split_request_target("/http/"));
  EXPECT_FALSE(split_request_target("/v1/actions"));
}

TEST(HttpRouting, MatchesMethodPathAndQuerySelectors) {
  auto target = target_with_routes({{"PUT /{bucket}?policy", "http:PutBucketPolicy"},
                                    {"GET /{bucket}?list-type=2", "http:ListObjectsV2"},
                                    {"PUT /{bucket}/{key+}", "http:PutObject"},
                                    {"DELETE /{bucket}", "http:DeleteBucket"},
                                    {"* /admin/{thing}", "http:Admin"}});
  auto policy = match_route(target, "PUT", "/photos", parse_query("policy"));
  EXPECT_EQ(policy.verb, "http:PutBucketPolicy");
  EXPECT_EQ(boost::json::serialize(policy.variables), R"({"bucket":"photos"})");

  EXPECT_EQ(match_route(target, "GET", "/photos", parse_query("list-type=2&prefix=a")).verb,
            "http:ListObjectsV2");
  // A selector with a value must match the value.
  EXPECT_EQ(match_route(target, "GET", "/photos", parse_query("list-type=1")).verb,
            "http:GET /photos");

  auto object = match_route(target, "PUT", "/photos/2024/cat%20one.jpg", {});
  EXPECT_EQ(object.verb, "http:PutObject");
  EXPECT_EQ(object.variables.at("key").as_string(), "2024/cat one.jpg");

  // Without ?policy the bucket PUT is unrouted: the generic verb, still decided by policy.
  EXPECT_EQ(match_route(target, "PUT", "/photos", {}).verb, "http:PUT /photos");
  EXPECT_EQ(match_route(target, "POST", "/admin/x", {}).verb, "http:Admin");
  EXPECT_EQ(match_route(target, "DELETE", "/photos/", {}).verb, "http:DELETE /photos/");
  EXPECT_EQ(match_route(target, "PATCH", "/a%2Fb", {}).verb, "http:PATCH /a/b");
}

TEST(HttpRouting, RejectsBadTemplates) {
  EXPECT_FALSE(config::parse_route_match("/no-method"));
  EXPECT_FALSE(config::parse_route_match("GET no-slash"));
  EXPECT_FALSE(config::parse_route_match("GET /{rest+}/more"));
  EXPECT_FALSE(config::parse_route_match("GET /{a}/{a}"));
  EXPECT_FALSE(config::parse_route_match("GET /{method}"));  // reserved params name
  EXPECT_FALSE(config::parse_route_match("GET /x{a}"));
  EXPECT_TRUE(config::parse_route_match("get /{bucket}/"));
  EXPECT_EQ(config::parse_route_match("get /x")->method, "GET");
}

TEST(HttpRouting, ParsesUpstreams) {
  config::HttpTarget target;
  ASSERT_TRUE(config::parse_upstream("https://s3.example.com/base/", target));
  EXPECT_EQ(target.scheme, "https");
  EXPECT_EQ(target.host, "s3.example.com");
  EXPECT_EQ(target.port, 443);
  EXPECT_EQ(target.base_path, "/base");
  ASSERT_TRUE(config::parse_upstream("http://[::1]:8081", target));
  EXPECT_EQ(target.host, "::1");
  EXPECT_EQ(target.port, 8081);
  EXPECT_FALSE(config::parse_upstream("ftp://x", target));
  EXPECT_FALSE(config::parse_upstream("http://user:pw@x", target));
  EXPECT_FALSE(config::parse_upstream("http://x:99999", target));
  EXPECT_FALSE(config::parse_upstream("http://x/?q=1", target));
}

TEST(HttpParams, CoverPathQueryHeadersAndBody) {
  auto target = target_with_routes({{"PUT /{bucket}?policy", "http:PutBucketPolicy"}});
  target.routes[0].body_fields = {"Statement", "Meta.owner", "missing"};
  auto query = parse_query("policy&tag=a&tag=b");
  auto match = match_route(target, "PUT", "/photos", query);
  std::string body = R"({"Statement":[{"Effect":"Allow"}],"Meta":{"owner":"ops","x":1},"Other":2})";
  BodySummary summary{true, false, body.size(), sha256_hex(body), &body};
  Headers headers = {{"Content-Type", "application/json"},
                     {"Authorization", "Bearer agent-key"},
                     {"X-Amz-Acl", "private"},
                     {"User-Agent", "curl"}};
  auto params = build_params(target, match, "PUT", "/photos", query, headers, summary);
  EXPECT_EQ(params.at("bucket").as_string(), "photos");
  EXPECT_EQ(params.at("method").as_string(), "PUT");
  EXPECT_EQ(params.at("path").as_string(), "/photos");
  EXPECT_EQ(boost::json::serialize(params.at("query")), R"({"policy":"","tag":["a","b"]})");
  EXPECT_EQ(boost::json::serialize(params.at("headers")),
            R"({"content-type":"application/json","x-amz-acl":"private"})");
  EXPECT_EQ(boost::json::serialize(params.at("body")),
            R"({"Statement":[{"Effect":"Allow"}],"Meta":{"owner":"ops"}})");
  EXPECT_EQ(params.at("body_sha256").as_string(), sha256_hex(body));
  EXPECT_EQ(params.at("body_bytes").as_int64(), static_cast<std::int64_t>(body.size()));
  EXPECT_EQ(params.find("Authorization"), params.end());

  // A changed body is a changed action, even where no field is selected.
  std::string other = body + " ";
  BodySummary changed{true, false, other.size(), sha256_hex(other), &other};
  EXPECT_NE(params, build_params(target, match, "PUT", "/photos", query, headers, changed));

  BodySummary streamed{true, true, 5'000'000, "", nullptr};
  auto large = build_params(target, match, "PUT", "/photos", query, {}, streamed);
  EXPECT_TRUE(large.at("body_streamed").as_bool());
  EXPECT_EQ(large.find("body_sha256"), large.end());
}

TEST(HttpHeaders, AgentCredentialsAndHopByHopNeverTravel) {
  config::HttpTarget target;
  for (const char* name :
       {"Authorization", "authorization", "Connection", "Keep-Alive", "Host", "Proxy-Authorization",
        "Transfer-Encoding", "TE", "Upgrade", "X-Countersign-Reason"})
    EXPECT_TRUE(drop_request_header(target, name)) << name;
  EXPECT_FALSE(drop_request_header(target, "Content-Type"));
  EXPECT_FALSE(drop_request_header(target, "X-Amz-Date"));
  target.credentials.kind = config::HttpCredentialSpec::Kind::aws_sigv4;
  EXPECT_TRUE(drop_request_header(target, "X-Amz-Date"));
  EXPECT_TRUE(drop_request_header(target, "x-amz-security-token"));
  EXPECT_FALSE(drop_request_header(target, "x-amz-acl"));
  target.credentials.kind = config::HttpCredentialSpec::Kind::header;
  target.credentials.header_name = "X-Api-Key";
  EXPECT_TRUE(drop_request_header(target, "x-api-key"));
  EXPECT_TRUE(drop_response_header("Transfer-Encoding"));
  EXPECT_FALSE(drop_response_header("Content-Type"));
}

TEST(HttpMasking, OnlyWhenTheDecidingRuleNamesAProfile) {
  policy::PolicySpec spec;
  policy::RuleSpec reads;
  reads.id = "reads";
  reads.effect = Effect::allow;
  reads.mask_profile = "strict";
  policy::RuleSpec writes;
  writes.id = "writes";
  writes.effect = Effect::review;
  spec.rules = {reads, writes};
  Decision allowed;
  allowed.effect = Effect::allow;
  allowed.rules = {"reads"};
  EXPECT_EQ(response_mask_profile(allowed, spec), "strict");
  Decision reviewed;
  reviewed.effect = Effect::review;
  reviewed.rules = {"reads", "writes"};  // reads matched but did not decide
  EXPECT_EQ(response_mask_profile(reviewed, spec), std::nullopt);
  EXPECT_TRUE(maskable_content_type("application/json; charset=utf-8"));
  EXPECT_TRUE(maskable_content_type("text/plain"));
  EXPECT_TRUE(maskable_content_type("application/problem+json"));
  EXPECT_FALSE(maskable_content_type("application/octet-stream"));
  EXPECT_FALSE(maskable_content_type("image/png"));
}

TEST(HttpCredentials, InjectsBearerBasicAndHeader) {
  ::setenv("CS_TEST_UPSTREAM_TOKEN", "upstream-secret", 1);
  config::HttpCredentialSpec bearer;
  bearer.kind = config::HttpCredentialSpec::Kind::bearer;
  bearer.token = {"env:CS_TEST_UPSTREAM_TOKEN", {}};
  CredentialInjector injector(bearer);
  auto headers = injector.headers({}, 0);
  ASSERT_TRUE(headers);
  ASSERT_EQ(headers->size(), 1u);
  EXPECT_EQ((*headers)[0],
            std::make_pair(std::string("Authorization"), std::string("Bearer upstream-secret")));

  config::HttpCredentialSpec basic;
  basic.kind = config::HttpCredentialSpec::Kind::basic;
  basic.username = "Aladdin";
  ::setenv("CS_TEST_UPSTREAM_PASSWORD", "open sesame", 1);
  basic.password = {"env:CS_TEST_UPSTREAM_PASSWORD", {}};
  CredentialInjector basic_injector(basic);
  EXPECT_EQ(basic_injector.headers({}, 0)->at(0).second,
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");  // RFC 7617

  config::HttpCredentialSpec header;
  header.kind = config::HttpCredentialSpec::Kind::header;
  header.header_name = "X-Api-Key";
  header.header_value = {"env:CS_TEST_UPSTREAM_TOKEN", {}};
  CredentialInjector header_injector(header);
  EXPECT_EQ(header_injector.headers({}, 0)->at(0),
            std::make_pair(std::string("X-Api-Key"), std::string("upstream-secret")));

  config::HttpCredentialSpec missing;
  missing.kind = config::HttpCredentialSpec::Kind::bearer;
  missing.token = {"env:CS_TEST_NOT_SET_ANYWHERE", {}};
  CredentialInjector missing_injector(missing);
  auto failed = missing_injector.headers({}, 0);
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("env:CS_TEST_NOT_SET_ANYWHERE"), std::string::npos);
}

TEST(HttpCredentials, Base64) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

// ---- AWS Signature Version 4 test suite ---------------------------------
// Vectors from AWS's published SigV4 test suite (aws-sig-v4-test-suite):
// credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region
// us-east-1, service "service", X-Amz-Date 20150830T123600Z, Host
// example.amazonaws.com.

const sigv4::Credentials kSuiteCredentials{"AKIDEXAMPLE",
                                           "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const sigv4::Scope kSuiteScope{"us-east-1", "service", "20150830T123600Z"};

struct SuiteCase {
  const char* name;
  const char* method;
  const char* path;
  const char* query;
  std::vector<std::pair<std::string, std::string>> extra_headers;
  const char* body;
  const char* signed_headers;
  const char* signature;
};

sigv4::Signed sign_case(const SuiteCase& c) {
  sigv4::Request request;
  request.method = c.method;
  request.path = c.path;
  request.query = c.query;
  request.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  for (const auto& header : c.extra_headers) request.headers.push_back(header);
  request.payload_sha256 = sha256_hex(c.body);
  return sigv4::sign(request, kSuiteCredentials, kSuiteScope);
}

TEST(SigV4, AwsTestSuiteVectors) {
  const std::vector<SuiteCase> cases = {
      {"get-vanilla",
       "GET",
       "/",
       "",
       {},
       "",
       "host;x-amz-date",
       "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
      {"post-vanilla",
       "POST",
       "/",
       "",
       {},
       "",
       "host;x-amz-date",
       "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
      {"get-unreserved",
       "GET",
       "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "",
       {},
       "",
       "host;x-amz-date",
       "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
      {"get-slashes",
       "GET",
       "//example//",
       "",
       {},
       "",
       "host;x-amz-date",
       "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
      {"get-vanilla-query-order-key-case",
       "GET",
       "/",
       "Param2=value2&Param1=value1",
       {},
       "",
       "host;x-amz-date",
       "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
      {"get-vanilla-query-order-value",
       "GET",
       "/",
       "Param1=value2&Param1=value1",
       {},
       "",
       "host;x-amz-date",
       "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"},
      {"get-vanilla-utf8-query",
       "GET",
       "/",
       "\xe1\x88\xb4=bar",
       {},
       "",
       "host;x-amz-date",
       "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
      {"get-header-value-order",
       "GET",
       "/",
       "",
       {{"My-Header1", "value4"},
        {"My-Header1", "value1"},
        {"My-Header1", "value3"},
        {"My-Header1", "value2"}},
       "",
       "host;my-header1;x-amz-date",
       "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
      {"get-header-key-duplicate",
       "GET",
       "/",
       "",
       {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
       "",
       "host;my-header1;x-amz-date",
       "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
      {"get-header-value-trim",
       "GET",
       "/",
       "",
       {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}},
       "",
       "host;my-header1;my-header2;x-amz-date",
       "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
      {"post-x-www-form-urlencoded",
       "POST",
       "/",
       "",
       {{"Content-Type", "application/x-www-form-urlencoded"}},
       "Param1=value1",
       "content-type;host;x-amz-date",
       "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
  };
  for (const auto& c : cases) {
    auto signed_request = sign_case(c);
    EXPECT_EQ(signed_request.signature, c.signature) << c.name << "\n"
                                                     << signed_request.canonical_request;
    EXPECT_EQ(
        signed_request.authorization,
        std::string(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=") +
            c.signed_headers + ", Signature=" + c.signature)
        << c.name;
  }
}

TEST(SigV4, AwsTestSuiteCanonicalRequestAndStringToSign) {
  // get-vanilla: get-vanilla.creq and get-vanilla.sts of the suite.
  auto signed_request = sign_case({"get-vanilla", "GET", "/", "", {}, "", "", ""});
  EXPECT_EQ(signed_request.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signed_request.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  auto trimmed = sign_case({"get-header-value-trim",
                            "GET",
                            "/",
                            "",
                            {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}},
                            "",
                            "",
                            ""});
  EXPECT_NE(trimmed.canonical_request.find("my-header1:value1\nmy-header2:\"a b c\"\n"),
            std::string::npos);
}

TEST(SigV4, AwsTestSuiteSessionToken) {
  // get-vanilla-with-session-token (post-sts-token/post-sts-header-after in the suite).
  sigv4::Request request;
  request.method = "GET";
  request.path = "/";
  const std::string token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
  request.headers = {{"Host", "example.amazonaws.com"},
                     {"X-Amz-Date", "20150830T123600Z"},
                     {"X-Amz-Security-Token", token}};
  request.payload_sha256 = std::string(sigv4::kEmptyPayloadSha256);
  auto signed_request = sigv4::sign(
      request, {"AKIDEXAMPLE", kSuiteCredentials.secret_access_key, token}, kSuiteScope);
  EXPECT_EQ(signed_request.signature,
            "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
  EXPECT_EQ(signed_request.signed_headers, "host;x-amz-date;x-amz-security-token");
}

TEST(SigV4, CanonicalUris) {
  // The suite's get-space / get-utf8 / get-relative / get-slash-dot-slash shapes.
  EXPECT_EQ(sigv4::canonical_uri("/example space/", true, false), "/example%20space/");
  EXPECT_EQ(sigv4::canonical_uri("/\xe1\x88\xb4", true, false), "/%E1%88%B4");
  EXPECT_EQ(sigv4::canonical_uri("/example/..", true, false), "/");
  EXPECT_EQ(sigv4::canonical_uri("/example1/example2/../..", true, false), "/");
  EXPECT_EQ(sigv4::canonical_uri("/./", true, false), "/");
  EXPECT_EQ(sigv4::canonical_uri("/./example", true, false), "/example");
  EXPECT_EQ(sigv4::canonical_uri("//example//", true, false), "/example/");
  // Non-S3 services encode the wire path a second time; S3 keeps it as sent.
  EXPECT_EQ(sigv4::canonical_uri("/a%20b/c", true, true), "/a%2520b/c");
  EXPECT_EQ(sigv4::canonical_uri("/bucket/a%20b//c", false, false), "/bucket/a%20b//c");
  EXPECT_EQ(sigv4::canonical_query("b&a=1&q=a+b"), "a=1&b=&q=a%2Bb");
}

TEST(SigV4, S3GetObjectExampleFromTheS3ApiReference) {
  // "Signature Calculations for the Authorization Header: Transferring
  // Payload in a Single Chunk", GET Object example.
  sigv4::Request request;
  request.method = "GET";
  request.path = "/test.txt";
  request.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                     {"Range", "bytes=0-9"},
                     {"x-amz-content-sha256", std::string(sigv4::kEmptyPayloadSha256)},
                     {"x-amz-date", "20130524T000000Z"}};
  request.payload_sha256 = std::string(sigv4::kEmptyPayloadSha256);
  auto signed_request =
      sigv4::sign(request, {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""},
                  {"us-east-1", "s3", "20130524T000000Z"});
  EXPECT_EQ(signed_request.signature,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, InjectorSignsWhatItSends) {
  ::setenv("CS_TEST_AKID", "AKIDEXAMPLE", 1);
  ::setenv("CS_TEST_SECRET", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", 1);
  config::HttpCredentialSpec spec;
  spec.kind = config::HttpCredentialSpec::Kind::aws_sigv4;
  spec.access_key_id = {"env:CS_TEST_AKID", {}};
  spec.secret_access_key = {"env:CS_TEST_SECRET", {}};
  spec.region = "us-east-1";
  spec.service = "service";
  CredentialInjector injector(spec);
  UpstreamRequest request;
  request.method = "GET";
  request.path = "/";
  request.host = "example.amazonaws.com";
  // 2015-08-30T12:36:00Z
  auto headers = injector.headers(request, 1440938160000LL);
  ASSERT_TRUE(headers);
  std::map<std::string, std::string> by_name(headers->begin(), headers->end());
  EXPECT_EQ(by_name["X-Amz-Date"], "20150830T123600Z");
  EXPECT_EQ(by_name["X-Amz-Content-Sha256"], sigv4::kEmptyPayloadSha256);
  // The suite's get-vanilla plus the signed x-amz-content-sha256 header.
  EXPECT_NE(by_name["Authorization"].find(
                "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="),
            std::string::npos);
  request.has_body = true;  // streamed: S3's UNSIGNED-PAYLOAD
  auto streamed = injector.headers(request, 1440938160000LL);
  std::map<std::string, std::string> streamed_by_name(streamed->begin(), streamed->end());
  EXPECT_EQ(streamed_by_name["X-Amz-Content-Sha256"], "UNSIGNED-PAYLOAD");
}

TEST(HttpConfig, ParsesAnHttpTargetWithFileLineErrors) {
  const std::string good = R"(
storage: {sqlite: ":memory:"}
targets:
  storage:
    door: http
    hold_timeout: 2s
    http:
      upstream: http://127.0.0.1:9000
      credentials: {bearer: env:UPSTREAM_TOKEN}
      timeouts: {connect: 1s, response: 5s, idle: 10s}
      params_body_bytes: 1024
      routes:
        - {match: "PUT /{bucket}?policy", verb: "http:PutBucketPolicy", body: [Statement]}
)";
  auto config = config::parse_config(good, "test.yaml");
  ASSERT_TRUE(config) << config.error().message;
  const auto& target = config->targets.at("storage");
  ASSERT_TRUE(target.http);
  EXPECT_EQ(target.door, "http");
  EXPECT_EQ(target.http->port, 9000);
  EXPECT_EQ(target.http->connect_timeout, 1000);
  EXPECT_EQ(target.http->params_body_bytes, 1024u);
  ASSERT_EQ(target.http->routes.size(), 1u);
  EXPECT_EQ(target.http->routes[0].verb, "http:PutBucketPolicy");
  EXPECT_EQ(target.http->credentials.kind, config::HttpCredentialSpec::Kind::bearer);

  auto bad_route = config::parse_config(
      "storage: {sqlite: \":memory:\"}\ntargets:\n  s:\n    door: http\n    http:\n      upstream: "
      "http://x\n"
      "      routes:\n        - {match: \"GET /{a}/{a}\", verb: v}\n",
      "bad.yaml");
  ASSERT_FALSE(bad_route);
  EXPECT_NE(bad_route.error().message.find("bad.yaml:8:"), std::string::npos)
      << bad_route.error().message;

  auto inline_secret = config::parse_config(
      "storage: {sqlite: \":memory:\"}\ntargets:\n  s:\n    door: http\n    http:\n      upstream: "
      "http://x\n"
      "      credentials: {bearer: hunter2}\n",
      "secret.yaml");
  ASSERT_FALSE(inline_secret);
  EXPECT_EQ(inline_secret.error().message.find("hunter2"), std::string::npos);

  auto missing_section = config::parse_config(
      "storage: {sqlite: \":memory:\"}\ntargets:\n  s:\n    door: http\n", "missing.yaml");
  ASSERT_FALSE(missing_section);
}

}  // namespace
}  // namespace countersign::doors::http
