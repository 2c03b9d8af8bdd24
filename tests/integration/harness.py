"""Starts the real countersign binary on a free loopback port and talks to it.

Each Gateway gets its own temporary directory (config, SQLite database,
secret files), so tests never share state.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("COUNTERSIGN_BINARY", os.path.join(ROOT, "build", "countersign"))
QUICKSTART = os.path.join(ROOT, "examples", "quickstart.yaml")

AGENT = "demo-agent-key"
ALICE = "demo-alice-key"
BOB = "demo-bob-key"
DANA = "demo-dana-key"


def quickstart_config():
    with open(QUICKSTART) as handle:
        return handle.read()


class Gateway:
    """A running gateway; use as a context manager."""

    def __init__(self, config_text=None, directory=None):
        self.owns_directory = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="countersign-test-")
        os.makedirs(os.path.join(self.directory, "secrets"), exist_ok=True)
        shutil.copy(os.path.join(ROOT, "examples", "secrets", "deploy-token"),
                    os.path.join(self.directory, "secrets", "deploy-token"))
        self.config_path = os.path.join(self.directory, "config.yaml")
        with open(self.config_path, "w") as handle:
            handle.write(config_text if config_text is not None else quickstart_config())
        self.process = None
        self.url = None
        self.output = []

    def start(self):
        self.process = subprocess.Popen(
            [BINARY, "serve", "--config", self.config_path, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()
        self.output.append(line)
        match = re.search(r"listening on (http://[0-9.:]+)", line)
        if not match:
            rest = self.process.stdout.read() if self.process.poll() is not None else ""
            raise RuntimeError("gateway did not start: " + line + rest)
        self.url = match.group(1)
        # Keep draining output so the server never blocks on a full pipe.
        self.drainer = threading.Thread(target=self._drain, daemon=True)
        self.drainer.start()
        return self

    def _drain(self):
        for line in self.process.stdout:
            self.output.append(line)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.drainer.join(timeout=5)
            self.process.stdout.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def database(self):
        return os.path.join(self.directory, "quickstart.db")

    def request(self, method, path, token=None, body=None, raw_body=None, headers=None, timeout=30):
        """Returns (status, parsed JSON or text, headers)."""
        data = raw_body if raw_body is not None else (
            json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if token:
            request.add_header("Authorization", "Bearer " + token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, payload, response_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, payload, response_headers = error.code, error.read(), error.headers
        text = payload.decode()
        try:
            return status, json.loads(text), response_headers
        except ValueError:
            return status, text, response_headers

    def act(self, token, target, verb, params=None, reason=None, wait=None):
        body = {"target": target, "verb": verb, "params": params or {}}
        if reason:
            body["reason"] = reason
        path = "/v1/actions" + (f"?wait={wait}" if wait is not None else "")
        return self.request("POST", path, token, body, timeout=(wait or 0) + 30)

    def vote(self, token, review_id, verb, reason=None):
        body = {"reason": reason} if reason is not None else {}
        return self.request("POST", f"/v1/reviews/{review_id}/{verb}", token, body)

    def events(self, **query):
        params = "&".join(f"{key}={value}" for key, value in query.items())
        status, body, _ = self.request("GET", "/v1/audit/events?limit=1000&" + params, ALICE)
        assert status == 200, body
        return body["events"]

    def cli(self, *args, token=None, input_text=None, timeout=60, env=None):
        environment = dict(os.environ)
        environment["COUNTERSIGN_URL"] = self.url or ""
        environment.pop("COUNTERSIGN_TOKEN", None)
        if token:
            environment["COUNTERSIGN_TOKEN"] = token
        environment.update(env or {})
        return subprocess.run([BINARY, *args], capture_output=True, text=True, input=input_text,
                              timeout=timeout, env=environment)

    def cli_background(self, *args, token=None):
        environment = dict(os.environ)
        environment["COUNTERSIGN_URL"] = self.url
        if token:
            environment["COUNTERSIGN_TOKEN"] = token
        return subprocess.Popen([BINARY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=environment)


def run_cli(*args, timeout=60):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)
