"""OIDC bearer tokens against a real identity provider.

oidc-provider (npm, pinned) runs on loopback as the IdP (tests/e2e/oidc).
Agents use client credentials tokens; every bad token is refused with a 401
and an auth.failed audit event; keys rotate while the gateway runs; people
sign in to the web UI with Authorization Code + PKCE and to the CLI with the
device grant.
"""
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "e2e", "oidc"))

from harness import ALICE, BINARY, Gateway, quickstart_config  # noqa: E402
from browser import Browser  # noqa: E402
from idp import Idp, b64url, claims_of, header_of, node_available, wait_until  # noqa: E402


def oidc_config(issuer, extra_issuer_lines=""):
    """The quickstart with an OIDC issuer added under identity."""
    text = quickstart_config()
    oidc = (
        "  oidc:\n"
        "    issuers:\n"
        "      - name: test-idp\n"
        f"        issuer: {issuer}\n"
        "        audience: countersign\n"
        "        clock_skew: 0s\n"
        "        jwks_refresh: 2s\n"
        "        min_refresh_interval: 1s\n"
        "        claims:\n"
        "          kind: {default: agent, clients: {ci-pipeline: service, countersign-cli: human}}\n"
        "          on_behalf_of: launched_by\n" + extra_issuer_lines)
    text = text.replace("\ntargets:\n", "\n" + oidc + "\ntargets:\n", 1)
    text = text.replace(
        "    - id: agents-never-drop\n",
        "    - id: services-no-sql\n"
        "      match: {kind: service, verb: \"sql:*\"}\n"
        "      effect: deny\n"
        "      reason: Services run no SQL\n"
        "    - id: agents-never-drop\n", 1)
    return text


@unittest.skipUnless(node_available(), "node and oidc-provider are needed (npm ci)")
class OidcTokens(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.idp = Idp().__enter__()
        cls.idp.start("a")
        cls.g = Gateway(oidc_config(cls.idp.issuer)).start()

    @classmethod
    def tearDownClass(cls):
        cls.g.stop()
        cls.g.__exit__(None, None, None)
        cls.idp.__exit__(None, None, None)

    def agent_token(self):
        return self.idp.client_token("deploy-bot", "deploy-bot-secret")

    def assert_refused(self, token, reason_part):
        before = len(self.g.events(type="auth.failed"))
        status, body, _ = self.g.act(token, "production", "exec:restart", {"service": "web"})
        self.assertEqual(status, 401, body)
        self.assertEqual(body["error"]["code"], "unauthenticated")
        self.assertIn(reason_part, body["error"]["message"])
        events = self.g.events(type="auth.failed")
        self.assertEqual(len(events), before + 1)
        self.assertIn(reason_part, json.dumps(events[-1]))
        # The token itself never reaches the audit log.
        self.assertNotIn(max(token.split("."), key=len), json.dumps(events[-1]))

    def test_client_credentials_token_is_an_agent_acting_for_dana(self):
        token = self.agent_token()
        self.assertEqual(header_of(token)["alg"], "ES256")
        status, body, _ = self.g.act(token, "production", "exec:restart", {"service": "web"})
        self.assertEqual(status, 202, body)
        status, review, _ = self.g.request("GET", f"/v1/reviews/{body['review_id']}", ALICE)
        self.assertEqual(status, 200, review)
        actor = review["action"]["actor"]
        self.assertEqual(actor["subject"], "deploy-bot")
        self.assertEqual(actor["issuer"], self.idp.issuer)
        self.assertEqual(actor["kind"], "agent")
        self.assertEqual(actor["on_behalf_of"], "dana@example.com")
        # An agent token cannot vote, even on another review.
        status, body, _ = self.g.vote(token, body["review_id"], "approve", "ok")
        self.assertEqual(status, 403, body)

    def test_client_id_maps_to_service_kind(self):
        token = self.idp.client_token("ci-pipeline", "ci-pipeline-secret")
        status, body, _ = self.g.act(token, "reports", "sql:select")
        self.assertEqual(status, 403, body)
        self.assertIn("services-no-sql", json.dumps(body))
        status, body, _ = self.g.act(token, "reports", "read:daily")
        self.assertEqual(status, 200, body)

    def test_api_keys_still_work(self):
        status, body, _ = self.g.act("demo-agent-key", "reports", "read:daily")
        self.assertEqual(status, 200, body)

    def test_expired_token_is_refused(self):
        token = self.idp.client_token("short-lived", "short-lived-secret")
        self.assertEqual(self.g.act(token, "reports", "read:daily")[0], 200)
        time.sleep(max(0.0, claims_of(token)["exp"] - time.time()) + 1.2)
        self.assert_refused(token, "expired")

    def test_wrong_audience_is_refused(self):
        token = self.idp.client_token("deploy-bot", "deploy-bot-secret", resource="urn:other")
        self.assertEqual(claims_of(token)["aud"], "someone-else")
        self.assert_refused(token, "audience")

    def test_unknown_key_is_refused(self):
        claims = claims_of(self.agent_token())
        forged = self.idp.forge({"alg": "ES256", "kid": "ec-attacker", "typ": "at+jwt"}, claims)
        self.assert_refused(forged, "unknown key")
        # Same kid as the IdP's key, different key: the signature fails.
        forged = self.idp.forge({"alg": "ES256", "kid": "ec-a"}, claims)
        self.assert_refused(forged, "invalid token signature")

    def test_alg_none_is_refused(self):
        claims = claims_of(self.agent_token())
        unsigned = b64url(json.dumps({"alg": "none"})) + "." + b64url(json.dumps(claims)) + "."
        self.assert_refused(unsigned, "alg none")

    def test_hs256_signed_with_the_public_key_is_refused(self):
        claims = claims_of(self.agent_token())
        with urllib.request.urlopen(self.idp.issuer + "/jwks", timeout=10) as response:
            jwks = response.read()
        for secret in (jwks, json.dumps(json.loads(jwks)["keys"][0]).encode()):
            header = b64url(json.dumps({"alg": "HS256", "kid": "ec-a"}))
            payload = b64url(json.dumps(claims))
            mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
            self.assert_refused(f"{header}.{payload}.{b64url(mac)}", "HMAC")

    def test_key_of_the_wrong_type_is_refused(self):
        # Signed with the IdP's own RSA key, but naming its EC key's kid.
        claims = claims_of(self.agent_token())
        rsa_key = self.idp.private_key_file("a", "rsa-")
        forged = self.idp.forge({"alg": "RS256", "kid": "ec-a"}, claims, key_file=rsa_key)
        self.assert_refused(forged, "cannot verify RS256")

    def test_unknown_critical_header_is_refused(self):
        claims = claims_of(self.agent_token())
        ec_key = self.idp.private_key_file("a", "ec-")
        forged = self.idp.forge({"alg": "ES256", "kid": "ec-a", "crit": ["exp"], "exp": 1}, claims,
                                key_file=ec_key)
        self.assert_refused(forged, "crit")
        # The same key without crit is accepted: only the header made the difference.
        good = self.idp.forge({"alg": "ES256", "kid": "ec-a"}, claims, key_file=ec_key)
        self.assertEqual(self.g.act(good, "reports", "read:daily")[0], 200)

    def test_unconfigured_issuer_is_refused(self):
        claims = claims_of(self.agent_token())
        claims["iss"] = "https://elsewhere.example.com"
        ec_key = self.idp.private_key_file("a", "ec-")
        forged = self.idp.forge({"alg": "ES256", "kid": "ec-a"}, claims, key_file=ec_key)
        self.assert_refused(forged, "not configured")


@unittest.skipUnless(node_available(), "node and oidc-provider are needed (npm ci)")
class OidcKeyRotation(unittest.TestCase):
    def test_keys_rotate_while_the_gateway_runs(self):
        with Idp() as idp:
            idp.start("a")
            with Gateway(oidc_config(idp.issuer)) as g:
                old = idp.client_token("deploy-bot", "deploy-bot-secret")
                self.assertEqual(header_of(old)["kid"], "ec-a")
                self.assertEqual(g.act(old, "reports", "read:daily")[0], 200)

                # The IdP publishes key set b next to a and signs with b.
                idp.restart("b", "a")
                new = idp.client_token("deploy-bot", "deploy-bot-secret")
                self.assertEqual(header_of(new)["kid"], "ec-b")
                # An unknown kid makes the gateway refresh (rate limited); the
                # new key is accepted moments later without a restart.
                self.assertTrue(wait_until(lambda: g.act(new, "reports", "read:daily")[0] == 200,
                                           timeout=10, interval=0.3))
                self.assertEqual(g.act(old, "reports", "read:daily")[0], 200)

                # Key set a is retired: after the periodic refresh its tokens fail.
                idp.restart("b")
                self.assertTrue(wait_until(lambda: g.act(old, "reports", "read:daily")[0] == 401,
                                           timeout=10, interval=0.3))
                self.assertEqual(g.act(new, "reports", "read:daily")[0], 200)

                # The IdP going away keeps the cached keys in use.
                idp.stop()
                time.sleep(2.5)
                self.assertEqual(g.act(new, "reports", "read:daily")[0], 200)


@unittest.skipUnless(node_available(), "node and oidc-provider are needed (npm ci)")
class OidcStartUp(unittest.TestCase):
    def test_unreachable_idp_fails_start_up_clearly(self):
        with Idp() as idp:  # never started: nothing listens on its port
            g = Gateway(oidc_config(idp.issuer))
            try:
                with self.assertRaises(RuntimeError) as raised:
                    g.start()
                self.assertIn("OIDC issuer 'test-idp'", str(raised.exception))
                self.assertIn("discovery failed", str(raised.exception))
            finally:
                if g.process:
                    g.process.wait(timeout=10)
                    g.process.stdout.close()
                g.process = None
                g.__exit__(None, None, None)


@unittest.skipUnless(node_available(), "node and oidc-provider are needed (npm ci)")
class OidcDeviceLogin(unittest.TestCase):
    """countersign login: device authorization grant, then the CLI acts as the person."""

    def test_login_stores_a_private_token_that_the_cli_uses(self):
        with Idp() as idp:
            idp.start("a")
            with Gateway(oidc_config(idp.issuer)) as g:
                config_dir = os.path.join(g.directory, "user-config")
                env = dict(os.environ, COUNTERSIGN_URL=g.url, COUNTERSIGN_CONFIG_DIR=config_dir)
                env.pop("COUNTERSIGN_TOKEN", None)
                login = subprocess.Popen(
                    [BINARY, "login", "--issuer", idp.issuer, "--client-id", "countersign-cli",
                     "--resource", "urn:countersign", "--scope", "openid email groups",
                     "--timeout", "60"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                try:
                    first = login.stderr.readline()
                    second = login.stderr.readline()
                    self.assertIn("To sign in, open", first)
                    url = first.split("open ", 1)[1].strip()
                    self.assertIn("confirm the code", second)
                    page = Browser("alice").complete(url)
                    self.assertIn("Sign-in Success", page)
                    out, err = login.communicate(timeout=60)
                finally:
                    if login.poll() is None:
                        login.kill()
                        login.wait()
                self.assertEqual(login.returncode, 0, err)
                self.assertIn("signed in as alice", out)
                token_file = os.path.join(config_dir, "token.json")
                self.assertEqual(os.stat(token_file).st_mode & 0o777, 0o600)
                self.assertEqual(os.stat(config_dir).st_mode & 0o777, 0o700)

                # An agent asks; alice, signed in through the IdP, approves with the stored token.
                status, body, _ = g.act("demo-agent-key", "production", "exec:restart", {"service": "web"})
                self.assertEqual(status, 202, body)
                result = subprocess.run([BINARY, "reviews", "approve", body["review_id"], "--reason", "ok"],
                                        capture_output=True, text=True, env=env, timeout=60)
                self.assertEqual(result.returncode, 0, result.stderr)
                status, review, _ = g.request("GET", f"/v1/reviews/{body['review_id']}", ALICE)
                self.assertEqual(review["state"], "approved", review)
                self.assertEqual(review["votes"][0]["approver"], "alice")

                # A token file others can read is refused.
                os.chmod(token_file, 0o644)
                result = subprocess.run([BINARY, "reviews", "list"], capture_output=True, text=True,
                                        env=env, timeout=60)
                self.assertNotEqual(result.returncode, 0)
                self.assertIn("readable by other users", result.stderr)
                result = subprocess.run([BINARY, "login", "--forget"], capture_output=True, text=True,
                                        env=env, timeout=60)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertFalse(os.path.exists(token_file))


@unittest.skipUnless(node_available(), "node and oidc-provider are needed (npm ci)")
class OidcBrowserLogin(unittest.TestCase):
    """The web UI's sign-in: Authorization Code + PKCE through the IdP's pages."""

    def test_code_flow_signs_a_person_in_to_the_web_ui(self):
        with Idp() as idp:
            idp.start("a")
            secret_file = os.path.join(idp.directory, "web-client-secret")
            with open(secret_file, "w") as handle:
                handle.write("web-secret\n")
            login_lines = (
                "        login:\n"
                "          client_id: countersign-web\n"
                f"          client_secret: file:{secret_file}\n"
                "          scopes: [openid, email, profile, groups]\n"
                "    login:\n"
                "      issuer: test-idp\n"
                "      session_lifetime: 1h\n")
            with Gateway(oidc_config(idp.issuer, login_lines)) as g:
                # The IdP registers the gateway's callback: start it again
                # (same keys, same port) now that the gateway's URL is known.
                idp.gateway_url = g.url
                idp.restart("a")

                status, methods, _ = g.request("GET", "/ui/login-methods")
                self.assertEqual(status, 200, methods)
                self.assertEqual(methods["oidc"], {"name": "test-idp", "login_url": "/auth/login"})

                browser = Browser("alice")
                browser.complete(g.url + "/auth/login?return_to=/ui/mine")
                self.assertEqual(browser.url, g.url + "/ui/mine")
                cookies = {cookie.name: cookie for cookie in browser.cookies}
                self.assertIn("countersign_session", cookies)
                self.assertTrue(cookies["countersign_session"].has_nonstandard_attr("HttpOnly"))
                self.assertNotIn("countersign_session_login", cookies)  # cleared after use

                status = browser.open(g.url + "/ui/session")
                self.assertEqual(status, 200, browser.page)
                session = json.loads(browser.page)
                self.assertEqual(session["subject"], "alice")
                self.assertEqual(session["kind"], "human")
                self.assertEqual(session["login_method"], "oidc")
                self.assertEqual(session["groups"], ["sre"])

                # She decides with her session: only with the CSRF token.
                status, body, _ = g.act("demo-agent-key", "production", "exec:restart", {"service": "web"})
                self.assertEqual(status, 202, body)
                approve = f"{g.url}/v1/reviews/{body['review_id']}/approve"

                def post(url, csrf=None):
                    request = urllib.request.Request(url, data=b"{}", method="POST")
                    request.add_header("Content-Type", "application/json")
                    if csrf:
                        request.add_header("X-CSRF-Token", csrf)
                    try:
                        with browser.opener.open(request, timeout=15) as response:
                            return response.status
                    except urllib.error.HTTPError as error:
                        return error.code

                self.assertEqual(post(approve), 403)
                self.assertEqual(post(approve, session["csrf_token"]), 200)
                status, review, _ = g.request("GET", f"/v1/reviews/{body['review_id']}", ALICE)
                self.assertEqual(review["state"], "approved", review)
                self.assertEqual(review["votes"][0]["approver"], "alice")

                self.assertEqual(post(g.url + "/auth/logout", session["csrf_token"]), 200)
                self.assertEqual(browser.open(g.url + "/ui/session"), 401)


class OidcConfig(unittest.TestCase):
    """Configuration mistakes are load errors with file:line (no IdP needed)."""

    def check(self, config_text):
        g = Gateway(config_text)
        try:
            return subprocess.run([BINARY, "check", "--config", g.config_path], capture_output=True,
                                  text=True, timeout=30)
        finally:
            g.__exit__(None, None, None)

    def test_good_config_checks_without_network(self):
        result = self.check(oidc_config("https://login.example.com"))
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_example_checks(self):
        example = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                               "examples", "oidc.yaml")
        result = subprocess.run([BINARY, "check", "--config", example], capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_mistakes_name_file_and_line(self):
        cases = [
            (oidc_config("http://login.example.com"), "must be an https:// URL"),
            (oidc_config("https://login.example.com").replace("        audience: countersign\n", ""),
             "audience is required"),
            (oidc_config("https://login.example.com", "        algorithms: [HS256]\n"),
             "algorithm 'HS256' is not supported"),
            (oidc_config("https://login.example.com", "        algorithms: [none]\n"),
             "algorithm 'none' is not supported"),
            (oidc_config("https://login.example.com", "        colck_skew: 1m\n"),
             "unknown key 'colck_skew'"),
            (oidc_config("https://login.example.com").replace("ci-pipeline: service", "ci-pipeline: robot"),
             "kind must be agent, human or service"),
        ]
        for text, message in cases:
            result = self.check(text)
            self.assertEqual(result.returncode, 1, (message, result.stdout))
            self.assertRegex(result.stderr, r"config\.yaml:\d+:\d+: ")
            self.assertIn(message, result.stderr)


if __name__ == "__main__":
    unittest.main()
