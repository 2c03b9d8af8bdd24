"""Fake third-party services for the channel tests (no tests in this file).

FakeSlack implements the documented shapes of Slack's Web API methods the
gateway calls (https://api.slack.com/methods): chat.postMessage, chat.update,
chat.postEphemeral, views.open, users.info, users.lookupByEmail. Every method
requires "Authorization: Bearer <bot token>"; replies are HTTP 200 with
{"ok": true, ...} or {"ok": false, "error": "..."}; rate limits are HTTP 429
with Retry-After. It also plays Slack's side of interactivity: it builds
block_actions and view_submission payloads, form-encodes them as
`payload=<json>` and signs them exactly as Slack does (X-Slack-Signature v0 =
HMAC-SHA256 over "v0:{timestamp}:{body}", X-Slack-Request-Timestamp).

FakeTeams is a Teams Workflows webhook: it accepts a message with one Adaptive
Card attachment, checks the card against the schema's required fields, and
answers 202 Accepted.

WebhookReceiver verifies countersign's webhook signatures.
"""
import hashlib
import hmac
import http.server
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

BOT_TOKEN = "xoxb-test-0000000000-countersign"
SIGNING_SECRET = "test-signing-secret-5f0c1e2d3a4b"
TEAM = "T0TEST0001"


class _Server:
    """A ThreadingHTTPServer on a free loopback port, run in a daemon thread."""

    def __init__(self, handler):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, payload = handler(self.path, self.headers, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Type" not in headers:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeSlack:
    def __init__(self, users=None):
        # Slack users: id -> {email, deleted, is_bot, is_email_confirmed}
        self.users = users or {}
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.calls = []          # (time, method, body dict)
        self.messages = {}       # (channel, ts) -> message dict
        self.replies = []        # thread replies
        self.ephemeral = []      # chat.postEphemeral bodies
        self.views = []          # views.open bodies
        self.triggers = {}       # trigger_id -> issued at
        self.rate_limits = []    # queued (method, retry_after) answers
        self.down = False        # answer 503 to everything
        self._ts = itertools.count(1)
        self.server = _Server(self._handle)
        self.api_url = self.server.url + "/api"

    def close(self):
        self.server.close()

    # -- the Web API --------------------------------------------------------

    def _handle(self, path, headers, body):
        if not path.startswith("/api/"):
            return 404, {}, {"ok": False, "error": "unknown_method"}
        method = path[len("/api/"):].split("?")[0]
        if self.down:
            return 503, {}, b"service unavailable"
        with self.lock:
            for i, (limited, retry_after) in enumerate(self.rate_limits):
                if limited == method:
                    del self.rate_limits[i]
                    self.calls.append((time.monotonic(), method + ":429", {}))
                    self.changed.notify_all()
                    return 429, {"Retry-After": str(retry_after)}, {"ok": False, "error": "ratelimited"}
        if headers.get("Authorization") != "Bearer " + BOT_TOKEN:
            return 200, {}, {"ok": False, "error": "not_authed" if not headers.get("Authorization") else "invalid_auth"}
        content_type = headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            try:
                args = json.loads(body)
            except ValueError:
                return 200, {}, {"ok": False, "error": "invalid_json"}
        else:
            args = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        with self.lock:
            self.calls.append((time.monotonic(), method, args))
            result = handler(args)
            self.changed.notify_all()
        return 200, {}, result

    def _next_ts(self):
        return "%d.%06d" % (int(time.time()), next(self._ts))

    def _chat_postMessage(self, args):
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if "blocks" in args and not _valid_blocks(args["blocks"]):
            return {"ok": False, "error": "invalid_blocks"}
        if channel.startswith("U"):  # a DM: Slack answers with the IM channel
            channel = "D" + channel[1:]
        ts = self._next_ts()
        message = {"type": "message", "text": args.get("text", ""), "ts": ts,
                   "blocks": args.get("blocks", []), "bot_id": "B0COUNTERSIGN"}
        if args.get("thread_ts"):
            if (channel, args["thread_ts"]) not in self.messages:
                return {"ok": False, "error": "thread_not_found"}
            message["thread_ts"] = args["thread_ts"]
            self.replies.append(dict(message, channel=channel))
        else:
            self.messages[(channel, ts)] = dict(message, channel=channel, metadata=args.get("metadata"))
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args):
        key = (args.get("channel"), args.get("ts"))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        if "blocks" in args and not _valid_blocks(args["blocks"]):
            return {"ok": False, "error": "invalid_blocks"}
        message = self.messages[key]
        message["text"] = args.get("text", message["text"])
        message["blocks"] = args.get("blocks", message["blocks"])
        message["edited"] = True
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message["text"],
                "message": {"text": message["text"], "blocks": message["blocks"]}}

    def _chat_postEphemeral(self, args):
        if not args.get("channel") or not args.get("user"):
            return {"ok": False, "error": "channel_not_found" if not args.get("channel") else "user_not_in_channel"}
        self.ephemeral.append(args)
        return {"ok": True, "message_ts": self._next_ts()}

    def _views_open(self, args):
        trigger = args.get("trigger_id")
        issued = self.triggers.get(trigger)
        if issued is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if time.monotonic() - issued > 3:
            return {"ok": False, "error": "expired_trigger_id"}
        view = args.get("view") or {}
        if view.get("type") != "modal" or not view.get("title") or not view.get("blocks"):
            return {"ok": False, "error": "invalid_arguments"}
        if len(view["title"]["text"]) > 24:
            return {"ok": False, "error": "invalid_arguments"}
        self.views.append(args)
        return {"ok": True, "view": dict(view, id="V%06d" % len(self.views), team_id=TEAM)}

    def _users_info(self, args):
        user = self.users.get(args.get("user"))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self._user(args["user"])}

    def _users_lookupByEmail(self, args):
        for user_id, user in self.users.items():
            if user.get("email", "").lower() == (args.get("email") or "").lower():
                return {"ok": True, "user": self._user(user_id)}
        return {"ok": False, "error": "users_not_found"}

    def _user(self, user_id):
        user = self.users[user_id]
        return {"id": user_id, "team_id": TEAM, "name": user.get("name", user_id.lower()),
                "deleted": user.get("deleted", False), "is_bot": user.get("is_bot", False),
                "is_email_confirmed": user.get("is_email_confirmed", True),
                "profile": {"email": user.get("email"), "real_name": user.get("name", "")}}

    # -- waiting for the gateway --------------------------------------------

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for the fake Slack")
                self.changed.wait(remaining)

    def message_for(self, review_id, timeout=10):
        """The channel message (not a reply) that mentions the review."""
        def find():
            for message in self.messages.values():
                if review_id in json.dumps(message.get("blocks")):
                    return message
            return None
        return self.wait_for(find, timeout)

    def calls_of(self, method):
        with self.lock:
            return [args for _, name, args in self.calls if name == method]

    # -- Slack's side of interactivity --------------------------------------

    def sign(self, body, timestamp=None, secret=SIGNING_SECRET):
        timestamp = str(int(time.time()) if timestamp is None else timestamp)
        base = ("v0:%s:" % timestamp).encode() + body
        signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded"}

    def new_trigger(self):
        trigger = "%d.%d.%s" % (int(time.time()), next(self._ts), hashlib.md5(str(time.time()).encode()).hexdigest())
        with self.lock:
            self.triggers[trigger] = time.monotonic()
        return trigger

    def click_payload(self, user_id, action_id, review_id, channel="C0APPROVALS", message_ts="1.1",
                      claimed_name=None):
        name = claimed_name or user_id.lower()
        return {
            "type": "block_actions",
            "user": {"id": user_id, "username": name, "name": name, "team_id": TEAM},
            "api_app_id": "A0COUNTERSIGN",
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                          "is_ephemeral": False},
            "trigger_id": self.new_trigger(),
            "team": {"id": TEAM, "domain": "acme"},
            "channel": {"id": channel, "name": "approvals"},
            "message": {"type": "message", "ts": message_ts},
            "response_url": self.server.url + "/actions/T0TEST0001/1/xyz",
            "actions": [{"action_id": action_id, "block_id": "countersign_actions", "value": review_id,
                         "type": "button", "action_ts": "%.6f" % time.time()}],
        }

    def view_payload(self, user_id, callback_id, private_metadata, reason):
        return {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM},
            "api_app_id": "A0COUNTERSIGN",
            "trigger_id": self.new_trigger(),
            "view": {"id": "V000001", "type": "modal", "callback_id": callback_id,
                     "private_metadata": private_metadata,
                     "state": {"values": {"reason": {"reason": {"type": "plain_text_input", "value": reason}}}}},
        }

    @staticmethod
    def form(payload):
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    def send(self, gateway_url, payload, headers=None, body=None, timestamp=None, secret=SIGNING_SECRET):
        """POSTs a signed interaction; returns (status, body text, seconds taken)."""
        body = body if body is not None else self.form(payload)
        request = urllib.request.Request(gateway_url + "/integrations/slack/interactions", data=body,
                                         method="POST")
        for name, value in (headers or self.sign(body, timestamp, secret)).items():
            request.add_header(name, value)
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode(), time.monotonic() - started
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), time.monotonic() - started


def _valid_blocks(blocks):
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in (
                "section", "header", "actions", "context", "divider", "input"):
            return False
        if block["type"] == "section":
            text = block.get("text")
            fields = block.get("fields")
            if text is None and fields is None:
                return False
            if text is not None and len(text.get("text", "")) > 3000:
                return False
            if fields is not None and len(fields) > 10:
                return False
        if block["type"] == "actions":
            for element in block.get("elements", []):
                if element.get("type") != "button" or len(element.get("value", "")) > 2000:
                    return False
                if not element.get("action_id") or element.get("style") not in (None, "primary", "danger"):
                    return False
    return True


class FakeTeams:
    """A Teams Workflows webhook ("When a Teams webhook request is received")."""

    REQUIRED_ELEMENT_FIELDS = {"TextBlock": ["text"], "FactSet": ["facts"], "Image": ["url"],
                               "Container": ["items"], "ColumnSet": []}

    def __init__(self):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.cards = []
        self.rejected = []
        self.server = _Server(self._handle)
        self.url = self.server.url + "/workflows/abc/triggers/manual/paths/invoke?api-version=1&sig=s3cret"

    def close(self):
        self.server.close()

    def _handle(self, path, headers, body):
        problem = self._check(path, headers, body)
        with self.lock:
            if problem:
                self.rejected.append(problem)
                self.changed.notify_all()
                return 400, {}, {"error": {"code": "InvalidRequestContent", "message": problem}}
            self.cards.append(json.loads(body)["attachments"][0]["content"])
            self.changed.notify_all()
        return 202, {}, b""

    def _check(self, path, headers, body):
        if "sig=s3cret" not in path:
            return "bad signature in the URL"
        if not headers.get("Content-Type", "").startswith("application/json"):
            return "content type must be JSON"
        try:
            message = json.loads(body)
        except ValueError:
            return "not JSON"
        if message.get("type") != "message":
            return "type must be message"
        attachments = message.get("attachments")
        if not isinstance(attachments, list) or len(attachments) != 1:
            return "exactly one attachment"
        attachment = attachments[0]
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return "contentType must be application/vnd.microsoft.card.adaptive"
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return "content.type must be AdaptiveCard"
        if card.get("version") != "1.5":
            return "version must be 1.5"
        for element in card.get("body", []):
            kind = element.get("type")
            if kind not in self.REQUIRED_ELEMENT_FIELDS:
                return "unknown element type %r" % kind
            for field in self.REQUIRED_ELEMENT_FIELDS[kind]:
                if field not in element:
                    return "%s needs %s" % (kind, field)
            if kind == "FactSet":
                for fact in element["facts"]:
                    if not isinstance(fact.get("title"), str) or not isinstance(fact.get("value"), str):
                        return "a Fact needs title and value strings"
        for action in card.get("actions", []):
            if action.get("type") == "Action.OpenUrl" and not action.get("url"):
                return "Action.OpenUrl needs url"
            if not action.get("type", "").startswith("Action."):
                return "bad action type"
        return None

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for the fake Teams webhook")
                self.changed.wait(remaining)


class WebhookReceiver:
    """Receives countersign webhooks; verifies signatures; can fail on purpose."""

    def __init__(self, secret):
        self.secret = secret
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.events = []        # verified bodies
        self.deliveries = []    # (time, delivery id, status answered)
        self.failures = 0       # answer 500 to this many requests first
        self.server = _Server(self._handle)
        self.url = self.server.url + "/hooks/countersign"

    def close(self):
        self.server.close()

    def _handle(self, path, headers, body):
        timestamp = headers.get("X-Countersign-Timestamp", "")
        expected = "v1=" + hmac.new(self.secret.encode(), ("v1:%s:" % timestamp).encode() + body,
                                    hashlib.sha256).hexdigest()
        with self.lock:
            delivery = headers.get("X-Countersign-Delivery")
            if not hmac.compare_digest(expected, headers.get("X-Countersign-Signature", "")):
                self.deliveries.append((time.monotonic(), delivery, 401))
                self.changed.notify_all()
                return 401, {}, {"error": "bad signature"}
            if abs(time.time() - int(timestamp)) > 300:
                return 401, {}, {"error": "stale"}
            if self.failures > 0:
                self.failures -= 1
                self.deliveries.append((time.monotonic(), delivery, 500))
                self.changed.notify_all()
                return 500, {}, {"error": "try again"}
            self.deliveries.append((time.monotonic(), delivery, 200))
            event = json.loads(body)
            if event["id"] != delivery or event["type"] != headers.get("X-Countersign-Event"):
                return 400, {}, {"error": "headers do not match the body"}
            if all(e["id"] != event["id"] for e in self.events):  # idempotent by delivery id
                self.events.append(event)
            self.changed.notify_all()
        return 200, {}, {"ok": True}

    def wait_for(self, predicate, timeout=15):
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("timed out waiting for webhooks: %r" % [e["type"] for e in self.events])
                self.changed.wait(remaining)
