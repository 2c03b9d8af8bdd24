"""Runs tests/e2e/oidc/idp.mjs (oidc-provider) on a loopback port for tests.

Python side of the test IdP: start/restart with a key set, fetch client
credentials tokens, forge tokens the IdP never issued.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))


def node_available():
    """Whether node and the pinned oidc-provider are installed (npm ci).

    scripts/test.sh sets COUNTERSIGN_REQUIRE_PEERS=1: there a missing install
    is an error, not a reason to skip the tests.
    """
    available = shutil.which("node") is not None and os.path.isdir(
        os.path.join(ROOT, "node_modules", "oidc-provider"))
    if not available and os.environ.get("COUNTERSIGN_REQUIRE_PEERS") == "1":
        raise RuntimeError("node and the pinned oidc-provider are missing: run scripts/setup.sh")
    return available


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token):
    return json.loads(b64url_decode(token.split(".")[1]))


def header_of(token):
    return json.loads(b64url_decode(token.split(".")[0]))


class Idp:
    """oidc-provider on 127.0.0.1:port; use as a context manager."""

    def __init__(self, gateway_url="http://127.0.0.1:1", alg="ES256", port=None):
        self.directory = tempfile.mkdtemp(prefix="countersign-idp-")
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.gateway_url = gateway_url
        self.alg = alg
        self.process = None
        self.key_files = {}

    def make_keys(self, label):
        path = os.path.join(self.directory, f"keys-{label}.json")
        subprocess.run(["node", os.path.join(HERE, "keys.mjs"), path, label], check=True, cwd=ROOT)
        self.key_files[label] = path
        return path

    def keys(self, label):
        with open(self.key_files[label]) as handle:
            return json.load(handle)["keys"]

    def start(self, *labels):
        """Serves the private keys of `labels` (the first signs) and waits until ready."""
        keys = []
        for label in labels:
            if label not in self.key_files:
                self.make_keys(label)
            keys += self.keys(label)
        # Put the signing algorithm's key of the first label first.
        jwks_path = os.path.join(self.directory, "jwks.json")
        with open(jwks_path, "w") as handle:
            json.dump({"keys": keys}, handle)
        self.process = subprocess.Popen(
            ["node", os.path.join(HERE, "idp.mjs"), "--port", str(self.port), "--keys", jwks_path,
             "--gateway", self.gateway_url, "--alg", self.alg],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError("test IdP did not start: " + line)
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.process:
            self.process.stdout.close()
        self.process = None

    def restart(self, *labels):
        self.stop()
        return self.start(*labels)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def post_form(self, path, fields, auth=None):
        data = urllib.parse.urlencode(fields).encode()
        request = urllib.request.Request(self.issuer + path, data=data, method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(
                f"{auth[0]}:{auth[1]}".encode()).decode())
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def client_token(self, client, secret, resource=None):
        fields = {"grant_type": "client_credentials"}
        if resource:
            fields["resource"] = resource
        status, body = self.post_form("/token", fields, auth=(client, secret))
        if status != 200:
            raise RuntimeError(f"token request failed: {status} {body}")
        return body["access_token"]

    def forge(self, header, claims, key_file=None):
        """Signs with a fresh key (or a private JWK file) through node."""
        env = dict(os.environ)
        if key_file:
            env["FORGE_KEY"] = key_file
        result = subprocess.run(["node", os.path.join(HERE, "forge.mjs"), json.dumps(header),
                                 json.dumps(claims)], capture_output=True, text=True, check=True,
                                env=env, cwd=ROOT)
        return result.stdout

    def private_key_file(self, label, kid_prefix):
        """Writes one private JWK of a key set to its own file (for forge)."""
        for key in self.keys(label):
            if key["kid"].startswith(kid_prefix):
                path = os.path.join(self.directory, f"{key['kid']}.jwk")
                with open(path, "w") as handle:
                    json.dump(key, handle)
                return path
        raise KeyError(kid_prefix)


def wait_until(predicate, timeout=10.0, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()
