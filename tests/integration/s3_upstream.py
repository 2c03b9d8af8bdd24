"""A small S3-like HTTP API for the HTTP door's tests, run in a thread.

Buckets hold objects and a policy document. Every request is recorded
(method, path, headers, body size and hash) so tests can check what the
upstream actually saw. When `sigv4_secret` is set, requests must carry a
valid AWS Signature Version 4 (S3 flavour) or get 403, like S3.
Bodies are streamed and hashed, never held whole unless small.
"""
import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
import urllib.parse


def _sign(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text, safe):
    return urllib.parse.quote(text, safe=safe)


def verify_sigv4(method, raw_path, headers, secret, region, service):
    """Recomputes the S3-style SigV4 signature; returns (ok, reason)."""
    auth = headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False, "no SigV4 Authorization header"
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    credential = fields["Credential"].split("/")
    signed_headers = fields["SignedHeaders"].split(";")
    amz_date = headers.get("X-Amz-Date", "")
    if credential[1] != amz_date[:8] or credential[2] != region or credential[3] != service:
        return False, "bad credential scope"
    path, _, query = raw_path.partition("?")
    pairs = []
    for item in query.split("&") if query else []:
        key, _, value = item.partition("=")
        pairs.append((_encode(urllib.parse.unquote(key), "-_.~"), _encode(urllib.parse.unquote(value), "-_.~")))
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
    canonical_headers = "".join(
        f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed_headers)
    payload = headers.get("X-Amz-Content-Sha256", "")
    canonical = "\n".join([method, path, canonical_query, canonical_headers, ";".join(signed_headers), payload])
    scope = "/".join(credential[1:])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (credential[1], region, service, "aws4_request"):
        key = _sign(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        return False, "signature mismatch"
    return True, ""


class Upstream:
    def __init__(self, sigv4_secret=None, region="us-east-1", service="s3"):
        self.sigv4_secret = sigv4_secret
        self.region = region
        self.service = service
        self.requests = []
        self.buckets = {}
        self.lock = threading.Lock()
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                digest = hashlib.sha256()
                size = 0
                kept = bytearray()
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    while True:
                        line = self.rfile.readline()
                        length = int(line.split(b";")[0], 16)
                        if length == 0:
                            self.rfile.readline()
                            break
                        chunk = self.rfile.read(length)
                        self.rfile.readline()
                        digest.update(chunk)
                        size += len(chunk)
                        if len(kept) < 1 << 20:
                            kept += chunk
                else:
                    remaining = int(self.headers.get("Content-Length", "0") or 0)
                    while remaining:
                        chunk = self.rfile.read(min(remaining, 1 << 20))
                        if not chunk:
                            break
                        remaining -= len(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                        if len(kept) < 1 << 20:
                            kept += chunk
                return bytes(kept), size, digest.hexdigest()

            def _send(self, status, body, content_type="application/json", extra=None):
                data = body if isinstance(body, bytes) else (
                    json.dumps(body).encode() if not isinstance(body, str) else body.encode())
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _websocket_echo(self):
                # RFC 6455 handshake, then echo raw bytes (the gateway must pass frames through untouched).
                accept = base64.b64encode(hashlib.sha1(
                    (self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()
                ).digest()).decode()
                self.send_response(101)
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True
                while True:
                    data = self.connection.recv(65536)
                    if not data:
                        return None
                    self.connection.sendall(data)

            def _handle(self):
                body, size, digest = self._body()
                record = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                          "body_bytes": size, "body_sha256": digest, "body": body[:4096]}
                with upstream.lock:
                    upstream.requests.append(record)
                if upstream.sigv4_secret:
                    ok, reason = verify_sigv4(self.command, self.path, self.headers, upstream.sigv4_secret,
                                              upstream.region, upstream.service)
                    if not ok:
                        return self._send(403, {"Code": "SignatureDoesNotMatch", "Message": reason})
                    if self.headers.get("X-Amz-Content-Sha256") not in ("UNSIGNED-PAYLOAD", digest):
                        return self._send(400, {"Code": "XAmzContentSHA256Mismatch"})
                path, _, query = self.path.partition("?")
                parts = [urllib.parse.unquote(p) for p in path.split("/")[1:]]
                params = urllib.parse.parse_qs(query, keep_blank_values=True)
                if parts == ["ws"] and self.headers.get("Upgrade", "").lower() == "websocket":
                    return self._websocket_echo()
                if parts == ["echo"]:
                    return self._send(200, {"headers": dict(self.headers.items()), "body_bytes": size})
                if parts == ["slow"]:
                    time.sleep(3)
                    return self._send(200, {"slow": True})
                if parts == ["pii"]:
                    return self._send(200, {"owner": "jane.doe@example.com", "note": "call 4111 1111 1111 1111"})
                if parts == ["pii.txt"]:
                    return self._send(200, "contact jane.doe@example.com", "text/plain")
                if parts == ["pii.bin"]:
                    return self._send(200, b"\x00jane.doe@example.com", "application/octet-stream")
                if parts == ["chunked"]:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for piece in (b"hello ", b"chunked ", b"world"):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.write(b"0\r\n\r\n")
                    return None
                bucket = parts[0] if parts and parts[0] else None
                key = "/".join(parts[1:]) if len(parts) > 1 else None
                with upstream.lock:
                    if bucket is None:
                        return self._send(200, {"buckets": sorted(upstream.buckets)})
                    state = upstream.buckets.setdefault(bucket, {"objects": {}, "policy": None})
                    if key is None and "policy" in params:
                        if self.command == "PUT":
                            state["policy"] = body.decode()
                            return self._send(204, b"")
                        if self.command == "GET":
                            if state["policy"] is None:
                                return self._send(404, {"Code": "NoSuchBucketPolicy"})
                            return self._send(200, state["policy"])
                    if key is not None:
                        if self.command == "PUT":
                            state["objects"][key] = {"size": size, "sha256": digest, "data": body}
                            return self._send(200, b"", extra={"ETag": '"' + digest[:32] + '"'})
                        if self.command in ("GET", "HEAD"):
                            item = state["objects"].get(key)
                            if item is None:
                                return self._send(404, {"Code": "NoSuchKey"})
                            return self._send(200, item["data"], "application/octet-stream")
                        if self.command == "DELETE":
                            state["objects"].pop(key, None)
                            return self._send(204, b"")
                    return self._send(200, {"bucket": bucket, "objects": sorted(state["objects"])})

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def last(self):
        with self.lock:
            return self.requests[-1] if self.requests else None
