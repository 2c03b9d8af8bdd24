"""The HTTP door end to end: the real binary in front of a small S3-like
upstream (s3_upstream.py). Covers credential injection (bearer and SigV4),
routing to verbs, deny, a reviewed PUT held then approved, a changed retry
refused, one redemption per approval, masking, upstream down (502), upstream
timeout (504), a slowloris client cut off, and a large body streamed in
bounded memory."""
import hashlib
import http.client
import json
import os
import socket
import sys
import threading
import time
import unittest

from harness import AGENT, ALICE, Gateway, quickstart_config
from s3_upstream import Upstream

UPSTREAM_TOKEN = "upstream-secret-token-7f3a"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def identity_block():
    text = quickstart_config()
    return text[text.index("identity:"):text.index("targets:")]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ROUTES = """\
      routes:
        - {match: "PUT /{bucket}?policy", verb: "http:PutBucketPolicy", body: [Statement]}
        - {match: "GET /{bucket}?policy", verb: "http:GetBucketPolicy"}
        - {match: "PUT /{bucket}/{key+}", verb: "http:PutObject"}
        - {match: "GET /{bucket}/{key+}", verb: "http:GetObject"}"""


def http_config(upstream_url, sigv4_url, dead_port):
    return f"""
listen: 127.0.0.1:8080
storage:
  sqlite: quickstart.db
{identity_block()}
targets:
  storage:
    door: http
    hold_timeout: 20s
    http:
      upstream: {upstream_url}
      credentials: {{bearer: env:CS_TEST_UPSTREAM_TOKEN}}
      params_body_bytes: 65536
      timeouts: {{connect: 2s, response: 1500ms, idle: 2s}}
{ROUTES}
  storage-nohold:
    door: http
    hold_timeout: 0s
    http:
      upstream: {upstream_url}
      credentials: {{bearer: env:CS_TEST_UPSTREAM_TOKEN}}
{ROUTES}
  aws:
    door: http
    http:
      upstream: {sigv4_url}
      credentials:
        aws_sigv4: {{access_key_id: env:CS_TEST_AWS_KEY_ID, secret_access_key: env:CS_TEST_AWS_SECRET,
                    region: us-east-1, service: s3}}
      params_body_bytes: 1024
{ROUTES}
  down:
    door: http
    http:
      upstream: http://127.0.0.1:{dead_port}
policy:
  default: deny
  rules:
    - id: reads
      match: {{door: http, verb: ["http:GET *", "http:GetObject", "http:GetBucketPolicy", "http:HEAD *"]}}
      effect: allow
    - id: pii-masked
      match: {{door: http, verb: ["http:GET /pii*"]}}
      effect: allow
      mask: default
    - id: object-writes
      match: {{door: http, verb: "http:PutObject"}}
      effect: allow
    - id: policy-changes
      match: {{door: http, verb: "http:PutBucketPolicy"}}
      when: "!action.params.bucket.startsWith('public-')"
      effect: review
      reason: Bucket policy changes need an SRE
      review:
        steps:
          - {{approvers: [group:sre], quorum: 1}}
        expires_after: 1h
    - id: agents-never-delete
      match: {{door: http, verb: "http:DELETE *"}}
      effect: deny
      reason: Agents may not delete
"""


class HttpDoorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ["CS_TEST_UPSTREAM_TOKEN"] = UPSTREAM_TOKEN
        os.environ["CS_TEST_AWS_KEY_ID"] = "AKIDEXAMPLE"
        os.environ["CS_TEST_AWS_SECRET"] = AWS_SECRET
        cls.upstream = Upstream().__enter__()
        cls.aws = Upstream(sigv4_secret=AWS_SECRET).__enter__()
        cls.gateway = Gateway(http_config(cls.upstream.url, cls.aws.url, free_port())).start()
        host, port = cls.gateway.url[len("http://"):].split(":")
        cls.host, cls.port = host, int(port)

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()
        cls.upstream.__exit__()
        cls.aws.__exit__()

    def call(self, method, path, body=None, token=AGENT, headers=None, timeout=30, connection=None):
        conn = connection or http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = "Bearer " + token
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        if isinstance(body, (dict, list)):
            all_headers.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=all_headers)
        response = conn.getresponse()
        payload = response.read()
        if connection is None:
            conn.close()
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = payload
        return response.status, parsed, response

    def approve(self, review_id):
        status, body, _ = self.gateway.vote(ALICE, review_id, "approve", "ok")
        self.assertEqual(status, 200, body)

    # ---- identity and credentials -------------------------------------

    def test_agent_key_is_checked_and_never_forwarded(self):
        status, body, response = self.call("GET", "/http/storage/echo", token=None)
        self.assertEqual(status, 401)
        self.assertEqual(body["error"]["code"], "unauthenticated")
        status, body, _ = self.call("GET", "/http/storage/echo", token="wrong-key")
        self.assertEqual(status, 401)

        before = len(self.upstream.requests)
        status, body, _ = self.call("GET", "/http/storage/echo?x=1",
                                    headers={"X-Custom": "kept", "Proxy-Authorization": "Basic eA=="})
        self.assertEqual(status, 200, body)
        seen = body["headers"]
        self.assertEqual(seen["Authorization"], "Bearer " + UPSTREAM_TOKEN)
        self.assertEqual(seen["X-Custom"], "kept")
        self.assertNotIn("Proxy-Authorization", seen)
        self.assertEqual(seen["Host"], self.upstream.url[len("http://"):])
        # The agent's key reached no upstream request at all.
        for request in self.upstream.requests[before:]:
            self.assertNotIn(AGENT, json.dumps(request["headers"]))

    def test_sigv4_signed_requests_are_accepted_by_a_verifying_upstream(self):
        status, body, _ = self.call("PUT", "/http/aws/photos/cat.txt", body=b"meow",
                                    headers={"Content-Type": "text/plain", "X-Amz-Date": "19990101T000000Z"})
        self.assertEqual(status, 200, body)
        seen = self.aws.last()
        self.assertTrue(seen["headers"]["Authorization"].startswith(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), seen["headers"])
        self.assertEqual(seen["headers"]["X-Amz-Content-Sha256"], hashlib.sha256(b"meow").hexdigest())
        self.assertNotEqual(seen["headers"]["X-Amz-Date"], "19990101T000000Z")  # the agent's is replaced
        status, body, _ = self.call("GET", "/http/aws/photos/cat.txt?versionId=a%20b&acl")
        self.assertEqual((status, body), (200, b"meow"))
        # Larger than params_body_bytes: streamed, signed as UNSIGNED-PAYLOAD.
        big = os.urandom(300_000)
        status, body, _ = self.call("PUT", "/http/aws/photos/big.bin", body=big)
        self.assertEqual(status, 200, body)
        self.assertEqual(self.aws.last()["headers"]["X-Amz-Content-Sha256"], "UNSIGNED-PAYLOAD")
        self.assertEqual(self.aws.last()["body_sha256"], hashlib.sha256(big).hexdigest())

    # ---- policy --------------------------------------------------------

    def test_deny_names_the_rule_and_unrouted_requests_get_the_generic_verb(self):
        before = len(self.upstream.requests)
        status, body, _ = self.call("DELETE", "/http/storage/photos/cat.jpg")
        self.assertEqual(status, 403)
        self.assertEqual(body["decision"], "deny")
        self.assertIn("agents-never-delete", body["rules"])
        self.assertEqual(body["verb"], "http:DELETE /photos/cat.jpg")
        # Unrouted and unmatched: the default denies.
        status, body, _ = self.call("POST", "/http/storage/photos?restore", body={"days": 1})
        self.assertEqual((status, body["decision"], body["rules"]), (403, "deny", []))
        self.assertEqual(len(self.upstream.requests), before)
        status, body, _ = self.call("GET", "/http/nope/x")
        self.assertEqual(status, 404)

    def test_reviewed_put_is_held_then_approved_and_runs_once(self):
        policy = {"Statement": [{"Effect": "Allow", "Principal": "*"}]}
        result = {}

        def put():
            result["response"] = self.call("PUT", "/http/storage/held-bucket?policy", body=policy,
                                           headers={"X-Countersign-Reason": "open the bucket"})

        thread = threading.Thread(target=put)
        thread.start()
        review = None
        for _ in range(100):
            status, reviews, _ = self.gateway.request("GET", "/v1/reviews?state=pending", ALICE)
            review = next((r for r in reviews["reviews"]
                           if r["action"]["masked_params"].get("bucket") == "held-bucket"), None)
            if review:
                break
            time.sleep(0.1)
        self.assertIsNotNone(review, "the PUT never became a pending review")
        self.assertEqual(review["action"]["verb"], "http:PutBucketPolicy")
        self.assertEqual(review["action"]["masked_params"]["body"], policy)
        self.assertEqual(review["action"]["reason"], "open the bucket")
        self.assertTrue(thread.is_alive(), "the request should be held while pending")
        self.approve(review["id"])
        thread.join(timeout=10)
        status, body, response = result["response"]
        self.assertEqual(status, 204, body)
        self.assertEqual(response.getheader("X-Countersign-Review"), review["id"])
        self.assertEqual(json.loads(self.upstream.buckets["held-bucket"]["policy"]), policy)
        puts = [r for r in self.upstream.requests if r["path"] == "/held-bucket?policy"]
        self.assertEqual(len(puts), 1)

    def test_changed_retry_is_a_new_action_and_an_approval_redeems_once(self):
        policy = {"Statement": [{"Effect": "Deny"}]}
        path = "/http/storage-nohold/retry-bucket?policy"
        status, body, response = self.call("PUT", path, body=policy)
        self.assertEqual(status, 202, body)
        first = body["review_id"]
        self.assertEqual(response.getheader("Location"), f"/v1/reviews/{first}")
        self.assertTrue(response.getheader("Retry-After"))
        self.approve(first)

        # A different body is a different action: a new review, nothing sent.
        changed = {"Statement": [{"Effect": "Allow", "Principal": "*"}]}
        status, body, _ = self.call("PUT", path, body=changed)
        self.assertEqual(status, 202, body)
        self.assertNotEqual(body["review_id"], first)
        # So is the same JSON with different bytes outside the selected fields.
        status, body, _ = self.call("PUT", path, body=json.dumps(policy).encode() + b" ",
                                    headers={"Content-Type": "application/json"})
        self.assertEqual(status, 202, body)
        self.assertNotIn("retry-bucket", self.upstream.buckets)

        # The identical retry redeems the approval, once.
        status, body, _ = self.call("PUT", path, body=policy)
        self.assertEqual(status, 204, body)
        self.assertEqual(json.loads(self.upstream.buckets["retry-bucket"]["policy"]), policy)
        status, body, _ = self.call("PUT", path, body=policy)
        self.assertEqual(status, 202, body)
        self.assertNotIn(body["review_id"], (first,))

    def test_rejected_review_answers_403(self):
        status, body, _ = self.call("PUT", "/http/storage-nohold/rejected?policy", body={"Statement": []})
        self.assertEqual(status, 202)
        review_id = body["review_id"]
        status, _, _ = self.gateway.vote(ALICE, review_id, "reject", "no")
        self.assertEqual(status, 200)
        status, body, _ = self.call("PUT", "/http/storage-nohold/rejected?policy", body={"Statement": []})
        # A rejected digest opens a fresh review rather than replaying the rejection.
        self.assertIn(status, (202, 403), body)

    def test_audit_records_the_decision_and_the_execution(self):
        status, _, _ = self.call("GET", "/http/storage/audited/thing.txt")
        self.assertEqual(status, 404)  # the upstream's answer, passed through
        events = self.gateway.events(type="action.executed")
        self.assertTrue(any(e["details"].get("verb") == "http:GetObject" and e["details"].get("status") == 404
                            for e in events), events[-3:])

    # ---- responses -----------------------------------------------------

    def test_responses_are_masked_when_the_rule_names_a_profile(self):
        status, body, response = self.call("GET", "/http/storage/pii")
        self.assertEqual(status, 200)
        self.assertNotIn("jane.doe@example.com", json.dumps(body))
        self.assertNotIn("4111 1111 1111 1111", json.dumps(body))
        self.assertTrue(response.getheader("X-Countersign-Masked"))
        status, body, _ = self.call("GET", "/http/storage/pii.txt")
        self.assertEqual(status, 200)
        self.assertNotIn(b"jane.doe@example.com", body)
        status, body, _ = self.call("GET", "/http/storage/pii.bin")
        self.assertEqual(status, 502)
        self.assertIn("cannot be masked", body["error"]["message"])
        # Without a mask profile the same data passes untouched.
        status, body, _ = self.call("GET", "/http/storage/echo")
        self.assertEqual(status, 200)

    def test_keep_alive_pipelining_and_chunked_responses(self):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        for i in range(5):
            status, body, _ = self.call("GET", f"/http/storage/echo?i={i}", connection=conn)
            self.assertEqual(status, 200)
        status, body, _ = self.call("GET", "/http/storage/chunked", connection=conn)
        self.assertEqual((status, body), (200, b"hello chunked world"))
        conn.close()
        # Three pipelined requests on one socket, answered in order.
        with socket.create_connection((self.host, self.port), timeout=10) as sock:
            request = (f"GET /http/storage/echo?n={{}} HTTP/1.1\r\nHost: x\r\n"
                       f"Authorization: Bearer {AGENT}\r\n\r\n")
            sock.sendall(b"".join(request.format(n).encode() for n in range(3)))
            data = b""
            deadline = time.time() + 10
            while data.count(b"HTTP/1.1 200") < 3 and time.time() < deadline:
                data += sock.recv(65536)
            self.assertEqual(data.count(b"HTTP/1.1 200"), 3, data[:500])

    def test_websocket_upgrade_is_passed_through(self):
        with socket.create_connection((self.host, self.port), timeout=10) as sock:
            sock.sendall((f"GET /http/storage/ws HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {AGENT}\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(4096)
            self.assertTrue(head.startswith(b"HTTP/1.1 101"), head)
            self.assertIn(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head)  # RFC 6455's example accept value
            frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"  # RFC 6455 masked "Hello"
            sock.sendall(frame)
            echoed = head.split(b"\r\n\r\n", 1)[1]
            while len(echoed) < len(frame):
                echoed += sock.recv(4096)
            self.assertEqual(echoed, frame)
        self.assertEqual(self.upstream.last()["headers"]["Authorization"], "Bearer " + UPSTREAM_TOKEN)

    # ---- failure modes -------------------------------------------------

    def test_upstream_down_is_502_with_json(self):
        status, body, _ = self.call("GET", "/http/down/anything")
        self.assertEqual(status, 502)
        self.assertEqual(body["error"]["code"], "bad_gateway")
        self.assertIn("unreachable", body["error"]["message"])

    def test_upstream_timeout_is_504(self):
        started = time.time()
        status, body, _ = self.call("GET", "/http/storage/slow")
        self.assertEqual(status, 504, body)
        self.assertEqual(body["error"]["code"], "gateway_timeout")
        self.assertLess(time.time() - started, 3)

    def test_slowloris_client_is_cut_off(self):
        with socket.create_connection((self.host, self.port), timeout=10) as sock:
            sock.sendall((f"PUT /http/storage/photos/slow.txt HTTP/1.1\r\nHost: x\r\n"
                          f"Authorization: Bearer {AGENT}\r\nContent-Length: 1000\r\n\r\n").encode())
            started = time.time()
            closed = False
            answer = b""
            try:
                while time.time() - started < 8:
                    sock.sendall(b"x")
                    time.sleep(0.3)
                    sock.setblocking(False)
                    try:
                        chunk = sock.recv(4096)
                        if not chunk:
                            closed = True
                            break
                        answer += chunk
                    except BlockingIOError:
                        pass
                    finally:
                        sock.setblocking(True)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
            self.assertTrue(closed or b"408" in answer, answer)
            self.assertLess(time.time() - started, 6)

    def test_large_body_streams_in_bounded_memory(self):
        size = int(os.environ.get("COUNTERSIGN_HTTP_BIG_MB", "200")) << 20
        pid = self.gateway.process.pid

        def rss_kb():
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            return 0

        baseline = rss_kb()
        peak = [baseline]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss_kb())
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        block = os.urandom(1 << 20)
        digest = hashlib.sha256()

        def chunks():
            for _ in range(size >> 20):
                digest.update(block)
                yield block

        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        conn.request("PUT", "/http/storage/big/blob.bin", body=chunks(),
                     headers={"Authorization": "Bearer " + AGENT, "Content-Length": str(size)})
        response = conn.getresponse()
        response.read()
        conn.close()
        stop.set()
        sampler.join()
        self.assertEqual(response.status, 200)
        stored = self.upstream.buckets["big"]["objects"]["blob.bin"]
        self.assertEqual(stored["size"], size)
        self.assertEqual(stored["sha256"], digest.hexdigest())
        growth_mb = (peak[0] - baseline) / 1024
        print(f"\n  {size >> 20} MB streamed; gateway RSS {baseline // 1024} MB -> peak {peak[0] // 1024} MB",
              file=sys.stderr)
        self.assertLess(growth_mb, 32, f"RSS grew by {growth_mb:.1f} MB for a {size >> 20} MB body")

    def test_large_body_needing_review_is_refused_not_buffered(self):
        big = json.dumps({"Statement": ["x" * 100_000]}).encode()
        status, body, _ = self.call("PUT", "/http/aws/photos?policy", body=big,
                                    headers={"Content-Type": "application/json"})
        self.assertEqual(status, 413, body)
        self.assertIn("params_body_bytes", body["error"]["message"])


if __name__ == "__main__":
    unittest.main()
