"""TLS on the listener (server.tls) and mutual TLS service identities.

Certificates are made with the openssl command in each test run: a CA, a
server certificate for 127.0.0.1, a client certificate from the same CA and
one from a stranger CA.
"""
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

from harness import ALICE, BINARY, Gateway, quickstart_config


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory):
    def ca(name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
                cwd=directory)

    def leaf(name, issuer, subject, extension):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=directory)
        with open(os.path.join(directory, f"{name}.ext"), "w") as handle:
            handle.write(extension)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey",
                f"{issuer}.key", "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                "-extfile", f"{name}.ext", cwd=directory)

    ca("ca")
    ca("stranger-ca")
    leaf("server", "ca", "/CN=countersign", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    leaf("client", "ca", "/CN=ci-runner",
         "subjectAltName=URI:spiffe://corp/ci\nextendedKeyUsage=clientAuth\n")
    leaf("stranger", "stranger-ca", "/CN=intruder",
         "subjectAltName=URI:spiffe://corp/ci\nextendedKeyUsage=clientAuth\n")


class TlsGateway(Gateway):
    def start(self):
        self.process = subprocess.Popen(
            [BINARY, "serve", "--config", self.config_path, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()
        self.output.append(line)
        match = re.search(r"listening on (https://[0-9.:]+)", line)
        if not match:
            rest = self.process.stdout.read() if self.process.poll() is not None else ""
            raise RuntimeError("gateway did not start: " + line + rest)
        self.url = match.group(1)
        self.drainer = threading.Thread(target=self._drain, daemon=True)
        self.drainer.start()
        return self


def tls_config(pki, extra=""):
    text = quickstart_config()
    tls = (
        "server:\n"
        "  tls:\n"
        f"    cert_file: {pki}/server.pem\n"
        f"    key_file: {pki}/server.key\n" + extra)
    return text.replace("\nstorage:\n", "\n" + tls + "\nstorage:\n", 1)


class TlsListener(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pki = tempfile.mkdtemp(prefix="countersign-pki-")
        make_pki(cls.pki)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pki, ignore_errors=True)

    def context(self, client=None, maximum=None):
        context = ssl.create_default_context(cafile=os.path.join(self.pki, "ca.pem"))
        if client:
            context.load_cert_chain(os.path.join(self.pki, f"{client}.pem"),
                                    os.path.join(self.pki, f"{client}.key"))
        if maximum:
            context.maximum_version = maximum
        return context

    def request(self, g, method, path, token=None, body=None, context=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(g.url + path, data=data, method=method)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=15, context=context or self.context()) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def test_https_with_api_keys_and_the_cli(self):
        with TlsGateway(tls_config(self.pki)) as g:
            self.assertTrue(g.url.startswith("https://127.0.0.1:"))
            status, body = self.request(g, "POST", "/v1/actions", "demo-agent-key",
                                        {"target": "reports", "verb": "read:daily", "params": {}})
            self.assertEqual(status, 200, body)
            status, body = self.request(g, "POST", "/v1/actions", "demo-agent-key",
                                        {"target": "production", "verb": "exec:restart", "params": {}})
            self.assertEqual(status, 202, body)
            self.assertTrue(body["review_url"].startswith("https://127.0.0.1:"), body)
            # Several requests on one kept-alive TLS connection.
            connection = __import__("http.client").client.HTTPSConnection(
                "127.0.0.1", int(g.url.rsplit(":", 1)[1]), context=self.context(), timeout=15)
            for _ in range(3):
                connection.request("GET", "/v1/reviews?state=pending",
                                   headers={"Authorization": "Bearer " + ALICE})
                response = connection.getresponse()
                self.assertEqual(response.status, 200)
                response.read()
            connection.close()
            # The CLI speaks https, trusting the CA through $COUNTERSIGN_CA_FILE.
            result = g.cli("reviews", "list", "--json", token=ALICE,
                           env={"COUNTERSIGN_CA_FILE": os.path.join(self.pki, "ca.pem")})
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertEqual(len(json.loads(result.stdout)["reviews"]), 1)
            # Without trusting the CA the CLI refuses the connection.
            result = g.cli("reviews", "list", token=ALICE)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("TLS handshake", result.stderr)

    def test_plain_http_on_the_tls_port_gets_nothing(self):
        with TlsGateway(tls_config(self.pki)) as g:
            port = int(g.url.rsplit(":", 1)[1])
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                data = sock.recv(4096)
                self.assertNotIn(b"HTTP/1.1 200", data)
            # And the gateway still serves TLS afterwards.
            self.assertEqual(self.request(g, "GET", "/healthz")[0], 200)

    def test_minimum_version(self):
        with TlsGateway(tls_config(self.pki, "    min_version: \"1.3\"\n")) as g:
            self.assertEqual(self.request(g, "GET", "/healthz")[0], 200)
            with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
                self.request(g, "GET", "/healthz", context=self.context(maximum=ssl.TLSVersion.TLSv1_2))
        with TlsGateway(tls_config(self.pki)) as g:
            status, _ = self.request(g, "GET", "/healthz", context=self.context(maximum=ssl.TLSVersion.TLSv1_2))
            self.assertEqual(status, 200)

    def test_client_certificate_is_a_service_identity(self):
        extra = (f"    client_ca_file: {self.pki}/ca.pem\n"
                 "    client_groups: [mtls-services]\n")
        with TlsGateway(tls_config(self.pki, extra)) as g:
            context = self.context(client="client")
            status, body = self.request(g, "POST", "/v1/actions", None,
                                        {"target": "production", "verb": "exec:restart", "params": {}},
                                        context=context)
            self.assertEqual(status, 202, body)
            status, review = self.request(g, "GET", f"/v1/reviews/{body['review_id']}", ALICE)
            actor = review["action"]["actor"]
            self.assertEqual(actor["subject"], "cert:spiffe://corp/ci")
            self.assertEqual(actor["kind"], "service")
            self.assertEqual(actor["groups"], ["mtls-services"])
            # A bearer credential wins over the certificate.
            status, body = self.request(g, "POST", "/v1/actions", "demo-agent-key",
                                        {"target": "production", "verb": "exec:restart", "params": {}},
                                        context=context)
            status, review = self.request(g, "GET", f"/v1/reviews/{body['review_id']}", ALICE)
            self.assertEqual(review["action"]["actor"]["subject"], "agent:deploy-bot")
            # No certificate, no bearer: 401 (certificates are optional here).
            status, body = self.request(g, "GET", "/v1/reviews", None)
            self.assertEqual(status, 401, body)
            # A certificate from another CA does not get in at all.
            with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
                self.request(g, "GET", "/v1/reviews", None, context=self.context(client="stranger"))

    def test_required_client_certificate(self):
        extra = (f"    client_ca_file: {self.pki}/ca.pem\n"
                 "    require_client_certificate: true\n")
        with TlsGateway(tls_config(self.pki, extra)) as g:
            self.assertEqual(self.request(g, "GET", "/healthz", context=self.context(client="client"))[0], 200)
            with self.assertRaises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
                self.request(g, "GET", "/healthz")

    def test_tls_mistakes_are_load_errors(self):
        cases = [
            (tls_config(self.pki).replace("server.key", "missing.key"), "key_file: cannot read"),
            (tls_config(self.pki, "    min_version: \"1.1\"\n"), "min_version must be"),
            (tls_config(self.pki, "    require_client_certificate: true\n"),
             "require_client_certificate needs client_ca_file"),
        ]
        for text, message in cases:
            g = Gateway(text)
            try:
                result = subprocess.run([BINARY, "check", "--config", g.config_path],
                                        capture_output=True, text=True, timeout=30)
            finally:
                g.__exit__(None, None, None)
            self.assertEqual(result.returncode, 1, message)
            self.assertRegex(result.stderr, r"config\.yaml:\d+:\d+: ")
            self.assertIn(message, result.stderr)
        # A key that does not match the certificate fails start-up clearly.
        g = TlsGateway(tls_config(self.pki).replace("server.key", "client.key"))
        try:
            with self.assertRaises(RuntimeError) as raised:
                g.start()
            self.assertIn("server.tls: key_file", str(raised.exception))
            self.assertIn("mismatch", str(raised.exception))
        finally:
            if g.process:
                g.process.wait(timeout=10)
                g.process.stdout.close()
            g.process = None
            g.__exit__(None, None, None)


if __name__ == "__main__":
    unittest.main()
