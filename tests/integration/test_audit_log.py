"""The Merkle audit log end to end: signed checkpoints, proofs over HTTP and
the CLI, offline proof verification, and tamper detection on real database
files edited behind the gateway's back.

The tree and the proofs are recomputed here in Python from the events, so
the gateway is checked against an independent RFC 6962 implementation.
Forged checkpoints are signed with the openssl command line tool.
"""
import base64
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import tempfile
import time
import unittest

from harness import AGENT, ALICE, BOB, Gateway, quickstart_config, run_cli

ORIGIN = "test.example/audit"


# --- an independent RFC 6962 / 9162 implementation -------------------------

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def jcs(value):
    # Sorted compact JSON equals RFC 8785 for the strings, integers, lists
    # and objects audit events hold.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_leaf(event):
    body = {k: v for k, v in event.items() if k not in ("previous_hash", "hash")}
    return leaf_hash(jcs(body))


# --- keys: countersign keygen, and openssl for signatures made outside ------

def keygen(name, path):
    result = run_cli("audit", "keygen", "--name", name, "--out", path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def sign_with(skey_line, text, directory):
    """Signs `text` as a C2SP note with a PRIVATE+KEY+... key, using openssl."""
    name, key_hash, encoded = skey_line.strip().split("+", 4)[2:]
    seed = base64.b64decode(encoded)[1:]
    der = bytes.fromhex("302e020100300506032b657004220420") + seed  # PKCS#8 Ed25519
    key_path = os.path.join(directory, "forger.der")
    message_path = os.path.join(directory, "message.txt")
    with open(key_path, "wb") as handle:
        handle.write(der)
    with open(message_path, "wb") as handle:
        handle.write(text.encode())
    signature = subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key_path, "-keyform", "DER",
         "-in", message_path], capture_output=True, check=True).stdout
    assert len(signature) == 64
    blob = base64.b64encode(bytes.fromhex(key_hash) + signature).decode()
    return f"{text}\n\u2014 {name} {blob}\n"


def checkpoint_text(origin, size, root):
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def audit_config(events=5, interval="200ms", key_file="secrets/audit-key"):
    text = re.sub(r"^audit:\n(?:[ #].*\n|\n)*", "", quickstart_config(), flags=re.M)
    text += "\naudit:\n"
    if key_file:
        text += f"  signing_key: file:{key_file}\n"
    text += f"  checkpoint_every: {{events: {events}, interval: {interval}}}\n"
    return text


class AuditGateway(Gateway):
    """A quickstart gateway with a fresh audit key and fast checkpoints."""

    def __init__(self, signed=True, **options):
        directory = tempfile.mkdtemp(prefix="countersign-audit-test-")
        os.makedirs(os.path.join(directory, "secrets"), exist_ok=True)
        self.key_path = os.path.join(directory, "secrets", "audit-key")
        self.vkey = keygen(ORIGIN, self.key_path) if signed else None
        super().__init__(audit_config(key_file="secrets/audit-key" if signed else None, **options),
                         directory=directory)
        self.owns_directory = True

    def activity(self, rounds=2):
        """A reviewed deploy (decided, created, voted, approved, granted,
        redeemed, executed) plus allowed and denied actions, per round."""
        for n in range(rounds):
            status, body, _ = self.act(AGENT, "production", "exec:deploy", {"n": n, "who": "é"})
            assert status == 202, body
            self.vote(ALICE, body["review_id"], "approve", "ok")
            self.act(AGENT, "production", "exec:deploy", {"n": n, "who": "é"})
            self.act(AGENT, "reports", "read:daily")
            self.act(AGENT, "production", "sql:DROP TABLE x")

    def all_events(self):
        events, cursor = [], None
        while True:
            query = "/v1/audit/events?limit=1000" + (f"&cursor={cursor}" if cursor else "")
            status, body, _ = self.request("GET", query, ALICE)
            assert status == 200, body
            events += body["events"]
            cursor = body.get("next_cursor")
            if not cursor:
                return events

    def checkpoint(self, size=None, timeout=10):
        """The latest checkpoint (JSON), waiting until it covers `size` events."""
        deadline = time.time() + timeout
        while True:
            status, body, _ = self.request("GET", "/v1/audit/checkpoint?format=json", ALICE)
            if status == 200 and (size is None or body["size"] >= size):
                return body
            if time.time() > deadline:
                raise AssertionError(f"no checkpoint covering {size} events: {status} {body}")
            time.sleep(0.1)

    def verify(self, *args):
        result = run_cli("audit", "verify", "--config", self.config_path, "--json", *args)
        return result.returncode, json.loads(result.stdout), result

    def write_file(self, name, text):
        path = os.path.join(self.directory, name)
        with open(path, "w") as handle:
            handle.write(text)
        return path


class CheckpointAndProofTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.g = AuditGateway().start()
        cls.g.activity()
        cls.events = cls.g.all_events()
        cls.cp = cls.g.checkpoint(len(cls.events))

    @classmethod
    def tearDownClass(cls):
        cls.g.__exit__(None, None, None)

    def test_checkpoint_is_a_signed_note_over_the_rfc6962_root(self):
        status, text, headers = self.g.request("GET", "/v1/audit/checkpoint", ALICE)
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        body, signatures = text.split("\n\n")
        origin, size, root = body.split("\n")
        self.assertEqual(origin, ORIGIN)
        size = int(size)
        self.assertGreaterEqual(size, len(self.events))
        leaves = [event_leaf(e) for e in self.g.all_events()[:size]]
        self.assertEqual(base64.b64decode(root), mth(leaves))  # independent tree
        line = signatures.rstrip("\n")
        self.assertTrue(line.startswith(f"\u2014 {ORIGIN} "), line)
        blob = base64.b64decode(line.split(" ")[2])
        self.assertEqual(len(blob), 4 + 64)
        self.assertEqual(blob[:4].hex(), self.g.vkey.split("+")[1])  # key hash per C2SP
        self.assertEqual(self.cp["verifier_key"], self.g.vkey)

    def test_leaf_hashes_are_jcs_of_the_event(self):
        for event in self.events[:5]:
            status, bundle, _ = self.g.request("GET", f"/v1/audit/proof?index={event['index']}", ALICE)
            self.assertEqual(status, 200, bundle)
            self.assertEqual(bundle["leaf_hash"], event_leaf(event).hex())

    def test_inclusion_proofs_verify_independently_for_every_event(self):
        size = self.cp["size"]
        root = bytes.fromhex(self.cp["root"])
        for event in self.events[:size]:
            status, bundle, _ = self.g.request(
                "GET", f"/v1/audit/proof?index={event['index']}&size={size}", ALICE)
            self.assertEqual(status, 200, bundle)
            proof = [bytes.fromhex(h) for h in bundle["proof"]]
            self.assertTrue(verify_inclusion(event["index"], size, event_leaf(event), proof, root))
            self.assertEqual(bundle["checkpoint"], self.cp["note"])
            # The proof of one event does not prove its neighbour.
            other = self.events[(event["index"] + 1) % size]
            self.assertFalse(verify_inclusion(event["index"], size, event_leaf(other), proof, root))

    def test_verify_proof_offline(self):
        status, bundle, _ = self.g.request("GET", f"/v1/audit/proof?index=2&size={self.cp['size']}", ALICE)
        self.assertEqual(status, 200, bundle)
        proof_path = self.g.write_file("proof.json", json.dumps(bundle))
        ok = run_cli("audit", "verify-proof", "--proof", proof_path, "--pubkey", self.g.vkey)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("event 2", ok.stdout)
        checkpoint_path = self.g.write_file("checkpoint.txt", self.cp["note"])
        ok = run_cli("audit", "verify-proof", "--proof", proof_path, "--pubkey",
                     "file:" + self.g.write_file("vkey", self.g.vkey + "\n"),
                     "--checkpoint", checkpoint_path)
        self.assertEqual(ok.returncode, 0, ok.stderr)

        # The event was changed after the proof was made.
        changed = json.loads(json.dumps(bundle))
        changed["event"]["actor"] = "bob@example.com"
        path = self.g.write_file("changed.json", json.dumps(changed))
        bad = run_cli("audit", "verify-proof", "--proof", path, "--pubkey", self.g.vkey)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("does not lead to the root", bad.stderr)

        # A hash in the proof was changed.
        flipped = json.loads(json.dumps(bundle))
        first = flipped["proof"][0]
        flipped["proof"][0] = ("0" if first[0] != "0" else "1") + first[1:]
        path = self.g.write_file("flipped.json", json.dumps(flipped))
        bad = run_cli("audit", "verify-proof", "--proof", path, "--pubkey", self.g.vkey)
        self.assertEqual(bad.returncode, 1)

        # Another index claimed for the same event.
        moved = json.loads(json.dumps(bundle))
        moved["index"] = 3
        path = self.g.write_file("moved.json", json.dumps(moved))
        bad = run_cli("audit", "verify-proof", "--proof", path, "--pubkey", self.g.vkey)
        self.assertEqual(bad.returncode, 1)

        # The checkpoint is not signed by the key the auditor trusts.
        with tempfile.TemporaryDirectory() as directory:
            other = keygen(ORIGIN, os.path.join(directory, "other"))
        bad = run_cli("audit", "verify-proof", "--proof", proof_path, "--pubkey", other)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("not signed by", bad.stderr)

    def test_prove_from_the_cli_via_server_and_database(self):
        via_server = self.g.cli("audit", "prove", "4", token=ALICE)
        self.assertEqual(via_server.returncode, 0, via_server.stderr)
        via_database = run_cli("audit", "prove", "4", "--config", self.g.config_path,
                               "--size", str(self.cp["size"]))
        self.assertEqual(via_database.returncode, 0, via_database.stderr)
        self.assertEqual(json.loads(via_server.stdout)["proof"], json.loads(via_database.stdout)["proof"])
        path = self.g.write_file("cli-proof.json", via_database.stdout)
        ok = run_cli("audit", "verify-proof", "--proof", path, "--pubkey", self.g.vkey)
        self.assertEqual(ok.returncode, 0, ok.stderr)

    def test_errors_and_access(self):
        self.assertEqual(self.g.request("GET", "/v1/audit/checkpoint", AGENT)[0], 403)
        self.assertEqual(self.g.request("GET", "/v1/audit/proof?index=0", AGENT)[0], 403)
        self.assertEqual(self.g.request("GET", "/v1/audit/checkpoint")[0], 401)
        self.assertEqual(self.g.request("POST", "/v1/audit/checkpoint", ALICE, {})[0], 405)
        self.assertEqual(self.g.request("GET", "/v1/audit/proof", ALICE)[0], 400)
        self.assertEqual(self.g.request("GET", "/v1/audit/proof?index=-1", ALICE)[0], 400)
        status, body, _ = self.g.request("GET", "/v1/audit/proof?index=5&size=99999", ALICE)
        self.assertEqual(status, 404, body)
        status, body, _ = self.g.request("GET", "/v1/audit/proof?index=7&size=7", ALICE)
        self.assertEqual(status, 400, body)
        status, body, _ = self.g.request("GET", "/v1/audit/consistency?from=9&to=3", ALICE)
        self.assertEqual(status, 400, body)
        self.assertEqual(self.g.request("GET", "/v1/audit/nothing", ALICE)[0], 404)


class ConsistencyTest(unittest.TestCase):
    def test_checkpoints_are_consistent_and_the_log_extends_a_saved_one(self):
        with AuditGateway() as g:
            g.activity(1)
            first = g.checkpoint(len(g.all_events()))
            saved = g.write_file("saved.txt", first["note"])
            g.activity(1)
            second = g.checkpoint(len(g.all_events()))
            self.assertGreater(second["size"], first["size"])
            status, bundle, _ = g.request(
                "GET", f"/v1/audit/consistency?from={first['size']}&to={second['size']}", ALICE)
            self.assertEqual(status, 200, bundle)
            self.assertEqual(bundle["from_checkpoint"], first["note"])
            path = g.write_file("consistency.json", json.dumps(bundle))
            ok = run_cli("audit", "verify-proof", "--proof", path, "--pubkey", g.vkey)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertIn("extends", ok.stdout)
            # A proof with a hash changed, or claimed between other sizes, fails.
            bad_bundle = dict(bundle, proof=bundle["proof"][1:])
            path = g.write_file("bad-consistency.json", json.dumps(bad_bundle))
            self.assertEqual(run_cli("audit", "verify-proof", "--proof", path, "--pubkey", g.vkey).returncode, 1)

            g.stop()
            code, report, result = g.verify("--checkpoint", saved)
            self.assertEqual(code, 0, result.stderr)
            self.assertTrue(report["intact"])
            self.assertEqual(report["external_checkpoint"]["size"], first["size"])
            self.assertGreaterEqual(report["checkpoints"], 2)
            self.assertEqual(report["signed_checkpoints"], report["checkpoints"])
            text = run_cli("audit", "verify", "--config", g.config_path, "--pubkey", g.vkey)
            self.assertEqual(text.returncode, 0, text.stderr)
            self.assertIn("audit log intact", text.stdout)

    def test_checkpoints_every_n_events_without_waiting_for_the_interval(self):
        with AuditGateway(events=3, interval="1h") as g:
            g.activity(1)  # 11 events
            cp = g.checkpoint(3)
            self.assertGreaterEqual(cp["size"], 3)

    def test_unsigned_checkpoints_without_a_key(self):
        with AuditGateway(signed=False) as g:
            g.activity(1)
            cp = g.checkpoint(len(g.all_events()))
            self.assertEqual(cp["signed_by"], [])
            self.assertNotIn("verifier_key", cp)
            self.assertNotIn("\n\n", cp["note"])
            g.stop()
            code, report, result = g.verify()
            self.assertEqual(code, 0, result.stderr)
            self.assertIsNone(report["key"])


class SearchTest(unittest.TestCase):
    """GET /v1/audit/events and `countersign audit search`: every filter and paging."""

    @classmethod
    def setUpClass(cls):
        cls.g = AuditGateway().start()
        cls.g.activity(3)
        status, body, _ = cls.g.act(AGENT, "production", "exec:deploy", {"n": 99},
                                    reason="Weekly Release window")
        assert status == 202, body
        cls.review = body["review_id"]
        cls.events = cls.g.all_events()

    @classmethod
    def tearDownClass(cls):
        cls.g.__exit__(None, None, None)

    def indexes(self, **query):
        return [e["index"] for e in self.g.events(**query)]

    def expected(self, keep):
        return [e["index"] for e in self.events if keep(e)]

    def test_each_filter_matches_a_scan_of_every_event(self):
        d = lambda e, k: e["details"].get(k)
        cases = [
            ({"actor": "alice@example.com"}, lambda e: e["actor"] == "alice@example.com"),
            ({"type": "review.approved"}, lambda e: e["type"] == "review.approved"),
            ({"verb": "read:daily"}, lambda e: d(e, "verb") == "read:daily"),
            ({"target": "reports"}, lambda e: d(e, "target") == "reports"),
            ({"review": self.review}, lambda e: e["review_id"] == self.review),
            ({"review_id": self.review}, lambda e: e["review_id"] == self.review),
            ({"target": "production", "type": "action.decided"},
             lambda e: d(e, "target") == "production" and e["type"] == "action.decided"),
        ]
        for query, keep in cases:
            with self.subTest(query=query):
                expected = self.expected(keep)
                self.assertTrue(expected)
                self.assertEqual(self.indexes(**query), expected)

    def test_time_range(self):
        times = sorted(e["time"] for e in self.events)
        low, high = times[len(times) // 3], times[2 * len(times) // 3]
        self.assertEqual(self.indexes(**{"from": low, "to": high}),
                         self.expected(lambda e: low <= e["time"] < high))
        self.assertEqual(self.indexes(**{"from": high}), self.expected(lambda e: e["time"] >= high))

    def test_free_text_over_the_masked_details(self):
        self.assertEqual(self.indexes(q="release%20WINDOW"),
                         self.expected(lambda e: "Weekly Release window" in json.dumps(e["details"])))
        self.assertTrue(self.indexes(q="release%20WINDOW"))
        self.assertEqual(self.indexes(q="relea"), [])
        self.assertEqual(self.indexes(q="relea*"), self.indexes(q="release%20WINDOW"))
        # The actor is a filter of its own, not details text.
        self.assertEqual(self.indexes(q="deploy-bot", type="review.voted"), [])

    def test_cursor_pages_through_everything_once(self):
        seen, cursor = [], None
        while True:
            query = "/v1/audit/events?limit=4&target=production" + (f"&cursor={cursor}" if cursor else "")
            status, body, _ = self.g.request("GET", query, ALICE)
            self.assertEqual(status, 200, body)
            self.assertLessEqual(len(body["events"]), 4)
            seen += [e["index"] for e in body["events"]]
            cursor = body.get("next_cursor")
            if not cursor:
                break
        self.assertEqual(seen, self.expected(lambda e: e["details"].get("target") == "production"))

    def test_cli_search_filters_json_and_cursor(self):
        result = self.g.cli("audit", "search", "--target", "reports", "--json", token=ALICE)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual([e["index"] for e in json.loads(result.stdout)["events"]],
                         self.expected(lambda e: e["details"].get("target") == "reports"))
        expected = self.expected(lambda e: e["review_id"] == self.review)
        result = self.g.cli("audit", "search", "--review", self.review, "--limit", "1", token=ALICE)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.strip().split("\n")
        self.assertEqual(int(lines[0].split()[0]), expected[0])
        self.assertEqual(lines[-1], f"more: --cursor {expected[0]}")
        result = self.g.cli("audit", "search", "--review", self.review, "--limit", "1",
                            "--cursor", str(expected[0]), "--json", token=ALICE)
        self.assertEqual([e["index"] for e in json.loads(result.stdout)["events"]], expected[1:2])
        result = self.g.cli("audit", "search", "--q", "release window", "--json", token=ALICE)
        self.assertEqual([e["index"] for e in json.loads(result.stdout)["events"]],
                         self.indexes(q="release%20window"))


class TamperTest(unittest.TestCase):
    """Each test edits the database of a stopped gateway and runs verify."""

    def setUp(self):
        self.g = AuditGateway().__enter__()
        self.g.activity(2)
        self.events = self.g.all_events()
        self.n = len(self.events)
        # A filtered search brings the search index (audit_search) up to date.
        status, body, _ = self.g.request("GET", "/v1/audit/events?type=review.approved", ALICE)
        self.assertEqual(status, 200, body)
        self.cp = self.g.checkpoint(self.n)
        self.saved = self.g.write_file("saved-checkpoint.txt", self.cp["note"])
        self.g.stop()
        code, report, result = self.g.verify("--checkpoint", self.saved)
        self.assertEqual(code, 0, result.stderr)

    def tearDown(self):
        self.g.__exit__(None, None, None)

    def db(self):
        return sqlite3.connect(self.g.database)

    def assert_detected(self, index, *words, args=()):
        code, report, result = self.g.verify(*args)
        self.assertEqual(code, 1, result.stdout)
        self.assertFalse(report["intact"])
        if isinstance(index, tuple):  # a lower bound: at or before the changed event
            self.assertIsNotNone(report["first_bad_index"], report)
            self.assertTrue(index[0] <= report["first_bad_index"] <= index[1], report)
            index = report["first_bad_index"]
        else:
            self.assertEqual(report["first_bad_index"], index, report)
        for word in words:
            self.assertIn(word, report["problem"])
        text = run_cli("audit", "verify", "--config", self.g.config_path, *args)
        self.assertEqual(text.returncode, 1)
        if index is not None:
            self.assertIn(f"event {index}:", text.stderr)
        return report

    def rewrite_everything(self, connection):
        """What an attacker with the database but not the key can do: make
        every leaf, chain hash and tree node match the edited events."""
        rows = connection.execute("SELECT idx, body FROM audit_events ORDER BY idx").fetchall()
        previous = bytes(32)
        leaves = []
        for idx, body in rows:
            leaf = leaf_hash(body.encode())
            chained = hashlib.sha256(previous + leaf).digest()
            connection.execute("UPDATE audit_events SET leaf_hash = ?, previous_hash = ?, hash = ? "
                               "WHERE idx = ?", (leaf, previous.hex(), chained.hex(), idx))
            previous = chained
            leaves.append(leaf)
        connection.execute("DELETE FROM audit_tree")
        level, nodes = 0, leaves
        while len(nodes) > 1:
            level += 1
            nodes = [node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
            for position, node in enumerate(nodes):
                connection.execute("INSERT INTO audit_tree VALUES (?, ?, ?)", (level, position, node))

    def test_one_changed_byte_in_an_event(self):
        index = next(e["index"] for e in self.events if e["type"] == "review.voted")
        with self.db() as connection:
            body = connection.execute("SELECT body FROM audit_events WHERE idx = ?", (index,)).fetchone()[0]
            changed = body.replace('"vote":"approve"', '"vote":"apprOve"')
            self.assertNotEqual(changed, body)
            connection.execute("UPDATE audit_events SET body = ? WHERE idx = ?", (changed, index))
        self.assert_detected(index, "changed")

    def test_one_changed_byte_with_every_hash_recomputed(self):
        index = 3
        with self.db() as connection:
            body = connection.execute("SELECT body FROM audit_events WHERE idx = ?", (index,)).fetchone()[0]
            connection.execute("UPDATE audit_events SET body = ? WHERE idx = ?",
                               (body.replace("alice@example.com", "bob@example.com"), index))
            self.rewrite_everything(connection)
        self.assert_detected((0, index), "does not match the checkpoint")

    def test_deleted_middle_event(self):
        with self.db() as connection:
            connection.execute("DELETE FROM audit_events WHERE idx = 4")
        self.assert_detected(4, "missing")

    def test_deleted_middle_event_renumbered_and_rehashed(self):
        with self.db() as connection:
            rows = connection.execute("SELECT idx, body FROM audit_events WHERE idx > 4 ORDER BY idx").fetchall()
            connection.execute("DELETE FROM audit_events WHERE idx >= 4")
            for idx, body in rows:
                event = json.loads(body)
                event["index"] = idx - 1
                # Careful: the search columns say what the bodies say.
                connection.execute(
                    "INSERT INTO audit_events (idx, time, type, actor, review_id, action_digest, "
                    "verb, body, previous_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', '')",
                    (idx - 1, event["time"], event["type"], event["actor"],
                     event["review_id"] or None, event["action_digest"] or None,
                     event["details"].get("verb"), jcs(event).decode()))
            # ... and so does the search index's copy of them.
            connection.execute("DELETE FROM audit_search WHERE idx >= 4")
            connection.execute("INSERT INTO audit_search (idx, type, actor, review_id, verb, target) "
                               "SELECT idx, type, actor, review_id, verb, target FROM audit_events "
                               "WHERE idx >= 4")
            self.rewrite_everything(connection)
        # The stored checkpoints, which the attacker cannot re-sign, no
        # longer fit: the damage is at or before event 4.
        self.assert_detected((0, 4), "removed")
        self.assert_detected((0, 4), args=("--checkpoint", self.saved))
        # Deleting those checkpoints too leaves a self-consistent log, which
        # a checkpoint saved elsewhere still exposes.
        with self.db() as connection:
            connection.execute("DELETE FROM audit_checkpoints WHERE size > 4")
        code, report, result = self.g.verify()
        self.assertEqual(code, 0, result.stdout)
        self.assert_detected((0, 4), "cut", args=("--checkpoint", self.saved))

    def test_deleted_last_events_detected_against_a_saved_checkpoint(self):
        keep = self.n - 3
        with self.db() as connection:
            # A careful attacker: a clean prefix, its tree, its checkpoints.
            connection.execute("DELETE FROM audit_events WHERE idx >= ?", (keep,))
            connection.execute("DELETE FROM audit_checkpoints WHERE size > ?", (keep,))
            for level, position in connection.execute("SELECT level, position FROM audit_tree").fetchall():
                if (position + 1) << level > keep:
                    connection.execute("DELETE FROM audit_tree WHERE level = ? AND position = ?", (level, position))
        # On its own the shortened log is a consistent log...
        code, report, result = self.g.verify()
        self.assertEqual(code, 0, result.stdout)
        self.assertEqual(report["events"], keep)
        # ...but not one that extends the checkpoint saved before the cut.
        report = self.assert_detected((0, keep), "cut", f"events {keep}..{self.n - 1} are missing",
                                      args=("--checkpoint", self.saved))
        self.assertEqual(report["checkpoint_size"], self.cp["size"])

    def test_deleted_last_events_leaving_their_checkpoint(self):
        keep = self.n - 2
        with self.db() as connection:
            connection.execute("DELETE FROM audit_events WHERE idx >= ?", (keep,))
        self.assert_detected((0, keep), "removed", f"events {keep}..{self.n - 1} are missing")

    def test_swapped_events(self):
        with self.db() as connection:
            connection.execute("UPDATE audit_events SET idx = -1 WHERE idx = 2")
            connection.execute("UPDATE audit_events SET idx = 2 WHERE idx = 5")
            connection.execute("UPDATE audit_events SET idx = 5 WHERE idx = -1")
        self.assert_detected(2, "reordered")

    def test_forged_checkpoint_with_another_key(self):
        with tempfile.TemporaryDirectory() as directory:
            forger_path = os.path.join(directory, "forger")
            keygen(ORIGIN, forger_path)  # same name, different key
            with open(forger_path) as handle:
                forger = handle.read()
            with self.db() as connection:
                size, = connection.execute("SELECT max(size) FROM audit_checkpoints").fetchone()
                leaves = [r[0] for r in connection.execute(
                    "SELECT leaf_hash FROM audit_events WHERE idx < ? ORDER BY idx", (size,))]
                forged = sign_with(forger, checkpoint_text(ORIGIN, size, mth(leaves)), directory)
                connection.execute("UPDATE audit_checkpoints SET note = ? WHERE size = ?", (forged, size))
            report = self.assert_detected(None, "not signed by the audit key", "forged")
            self.assertEqual(report["checkpoint_size"], size)

            # A forged external checkpoint, claiming a longer log.
            with self.db() as connection:
                connection.execute("UPDATE audit_checkpoints SET note = ? WHERE size = ?",
                                   (self.cp["note"], self.cp["size"]))
            fake = sign_with(forger, checkpoint_text(ORIGIN, self.n + 5, hashlib.sha256(b"x").digest()), directory)
            path = self.g.write_file("forged.txt", fake)
            report = self.assert_detected(None, "not signed by", args=("--checkpoint", path))

    def test_forged_checkpoints_hiding_a_rewrite(self):
        # Rewrite an event, recompute everything and re-sign every checkpoint
        # with the attacker's own key: the signatures give it away.
        with tempfile.TemporaryDirectory() as directory:
            forger_path = os.path.join(directory, "forger")
            keygen(ORIGIN, forger_path)
            with open(forger_path) as handle:
                forger = handle.read()
            with self.db() as connection:
                body = connection.execute("SELECT body FROM audit_events WHERE idx = 1").fetchone()[0]
                connection.execute("UPDATE audit_events SET body = ? WHERE idx = 1",
                                   (body.replace("agent:deploy-bot", "agent:other-bot"),))
                self.rewrite_everything(connection)
                leaves = [r[0] for r in connection.execute("SELECT leaf_hash FROM audit_events ORDER BY idx")]
                for size, in connection.execute("SELECT size FROM audit_checkpoints").fetchall():
                    note = sign_with(forger, checkpoint_text(ORIGIN, size, mth(leaves[:size])), directory)
                    connection.execute("UPDATE audit_checkpoints SET note = ? WHERE size = ?", (note, size))
            self.assert_detected(None, "forged")
            # With --pubkey given explicitly, same result.
            self.assert_detected(None, "forged", args=("--pubkey", self.g.vkey))

    def test_edited_actor_column_alone(self):
        # The hashed body is untouched, so every hash still holds; only the
        # search column changed: the event would be found under another name.
        index = next(e["index"] for e in self.events if e["actor"] == "alice@example.com")
        with self.db() as connection:
            connection.execute("UPDATE audit_events SET actor = 'mallory@example.com' WHERE idx = ?",
                               (index,))
        report = self.assert_detected(index, 'the actor column says "mallory@example.com"',
                                      'the hashed event says "alice@example.com"')
        self.assertEqual(len(report["problems"]), 1, report)

    def test_edited_review_column_hides_an_event_from_search(self):
        index = next(e["index"] for e in self.events if e["type"] == "review.approved")
        with self.db() as connection:
            connection.execute("UPDATE audit_events SET review_id = NULL WHERE idx = ?", (index,))
        self.assert_detected(index, "review_id column says NULL")

    def test_edited_search_copy_hides_an_event_from_search(self):
        # Filters read the copy of the columns in audit_search: an edit there
        # alone would hide the approval from a search by review.
        index = next(e["index"] for e in self.events if e["type"] == "review.approved")
        with self.db() as connection:
            edited = connection.execute("UPDATE audit_search SET review_id = NULL WHERE idx = ?",
                                        (index,)).rowcount
        self.assertEqual(edited, 1)
        report = self.assert_detected(index, "search index's copy of the columns differs")
        self.assertEqual(len(report["problems"]), 1, report)

    def test_edited_search_target_hides_an_event_from_search(self):
        index = next(e["index"] for e in self.events
                     if e["type"] == "action.decided" and e["details"].get("target"))
        with self.db() as connection:
            edited = connection.execute("UPDATE audit_search SET target = 'elsewhere' WHERE idx = ?",
                                        (index,)).rowcount
        self.assertEqual(edited, 1)
        report = self.assert_detected(index, "the search index's target says \"elsewhere\"")
        self.assertEqual(len(report["problems"]), 1, report)

    def test_tampered_tree_node(self):
        with self.db() as connection:
            connection.execute("UPDATE audit_tree SET hash = zeroblob(32) WHERE level = 1 AND position = 1")
        self.assert_detected(2, "tree node")

    def test_unknown_pubkey_is_a_usage_error(self):
        result = run_cli("audit", "verify", "--config", self.g.config_path, "--pubkey", "nonsense")
        self.assertEqual(result.returncode, 2)


if __name__ == "__main__":
    unittest.main()
