"""The countersign command line against a running gateway."""
import json
import os
import sqlite3
import tempfile
import time
import unittest

from harness import AGENT, ALICE, DANA, QUICKSTART, Gateway, quickstart_config, run_cli


class CheckAndExplainTest(unittest.TestCase):
    def test_every_command_has_help(self):
        for command in [[], ["serve"], ["check"], ["policy", "explain"], ["reviews"],
                        ["reviews", "list"], ["reviews", "approve"], ["exec"], ["audit", "search"],
                        ["audit", "verify"], ["mask"]]:
            result = run_cli(*command, "--help")
            self.assertEqual(result.returncode, 0, command)
            self.assertIn("Usage", result.stdout)

    def test_check_accepts_quickstart(self):
        result = run_cli("check", "--config", QUICKSTART)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("OK (6 rules", result.stdout)

    def test_check_names_file_and_line(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "bad.yaml")
            broken = quickstart_config().replace("quorum: 1\n            escalate_after: 15m",
                                                 "quorum: 1\n            escalate_after: soon")
            with open(path, "w") as handle:
                handle.write(broken)
            line = broken.splitlines().index("            escalate_after: soon") + 1
            result = run_cli("check", "--config", path)
            self.assertEqual(result.returncode, 1)
            self.assertIn(f"{path}:{line}:", result.stderr)
            self.assertIn("bad duration 'soon'", result.stderr)

            with open(path, "w") as handle:
                handle.write(quickstart_config().replace("  default: deny", "  defualt: deny"))
            result = run_cli("check", "--config", path)
            self.assertEqual(result.returncode, 1)
            self.assertIn("unknown key 'defualt'", result.stderr)

            with open(path, "w") as handle:
                handle.write(quickstart_config().replace(
                    "when: \"!action.verb.contains('destroy')\"",
                    "when: \"action.verb.contains(1)\""))
            result = run_cli("check", "--config", path)
            self.assertEqual(result.returncode, 1)
            self.assertRegex(result.stderr, re_escape(path) + r":\d+:\d+: ")

    def test_check_refuses_mask_profile_cycles(self):
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "masks.yaml")
            base = quickstart_config()
            with open(path, "w") as handle:
                handle.write(base + "masking:\n  profiles:\n    default: {secret_keys: [ssn]}\n"
                             "    strict: {extends: default, secret_keys: [name]}\n")
            result = run_cli("check", "--config", path)
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(path) as handle, Gateway(handle.read()) as g:  # a redefined default starts
                self.assertEqual(g.request("GET", "/healthz")[0], 200)
            with open(path, "w") as handle:
                handle.write(base + "masking:\n  profiles:\n    a: {extends: b}\n    b: {extends: a}\n")
            result = run_cli("check", "--config", path)
            self.assertEqual(result.returncode, 1)
            self.assertIn("cycle", result.stderr)

    def test_serve_refuses_bad_config_with_exit_2(self):
        result = run_cli("serve", "--config", "/nonexistent.yaml")
        self.assertEqual(result.returncode, 2)
        self.assertIn("/nonexistent.yaml", result.stderr)

    def test_explain_lists_every_rule(self):
        action = {"actor": "agent:deploy-bot", "target": "production", "verb": "exec:deploy"}
        result = run_cli("policy", "explain", "--config", QUICKSTART, "--action",
                         json.dumps(action), "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        explained = json.loads(result.stdout)
        self.assertEqual(explained["decision"], "review")
        self.assertEqual(explained["matched"], ["production-changes"])
        self.assertEqual(len(explained["rules"]), 6)

    def test_mask_reads_stdin(self):
        result = run_cli("mask", "--json", timeout=10) if False else None
        import subprocess
        from harness import BINARY
        result = subprocess.run([BINARY, "mask", "--json"], input='{"token": "abc", "to": "a@b.example"}',
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(result.returncode, 0, result.stderr)
        masked = json.loads(result.stdout)
        self.assertEqual(masked["masked"], {"token": "[REDACTED]", "to": "[EMAIL]"})
        self.assertEqual({finding["type"] for finding in masked["findings"]}, {"secret_key", "email"})


def re_escape(text):
    import re
    return re.escape(text)


class ExecAndReviewsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.g = Gateway().start()

    @classmethod
    def tearDownClass(cls):
        cls.g.stop()

    def pending_review(self, verb):
        deadline = time.time() + 15
        while time.time() < deadline:
            result = self.g.cli("reviews", "list", "--state", "pending", "--json", token=ALICE)
            self.assertEqual(result.returncode, 0, result.stderr)
            for review in json.loads(result.stdout)["reviews"]:
                if review["action"]["verb"] == verb:
                    return review["id"]
            time.sleep(0.1)
        self.fail("no pending review for " + verb)

    def test_exec_waits_for_approval_then_runs_once_with_secret(self):
        with tempfile.TemporaryDirectory() as directory:
            out = os.path.join(directory, "out")
            process = self.g.cli_background(
                "exec", "--target", "production", "--verb", "exec:deploy-cli", "--param",
                "service=web", "--reason", "weekly release", "--",
                "sh", "-c", f'printf %s "$DEPLOY_TOKEN" > {out}; exit 7', token=AGENT)
            review_id = self.pending_review("exec:deploy-cli")
            self.assertFalse(os.path.exists(out))  # nothing runs before approval

            shown = self.g.cli("reviews", "show", review_id, token=ALICE)
            self.assertEqual(shown.returncode, 0, shown.stderr)
            self.assertIn("agent:deploy-bot for dana@example.com", shown.stdout)
            self.assertIn("you        may vote", shown.stdout)
            refused = self.g.cli("reviews", "approve", review_id, token=DANA)
            self.assertEqual(refused.returncode, 1)
            self.assertIn("self", refused.stderr.lower())

            approved = self.g.cli("reviews", "approve", review_id, "--reason", "ok", token=ALICE)
            self.assertEqual(approved.returncode, 0, approved.stderr)
            self.assertIn("approved", approved.stdout)
            stdout, stderr = process.communicate(timeout=30)
            self.assertEqual(process.returncode, 7, stderr)  # the command's own exit status
            self.assertIn(f"review {review_id}", stderr)
            self.assertIn(f"countersign reviews approve {review_id}", stderr)
            with open(out) as handle:
                self.assertEqual(handle.read(), "demo-deploy-token-not-a-real-secret")
        state = json.loads(self.g.cli("reviews", "show", review_id, "--json", token=ALICE).stdout)
        self.assertEqual(state["state"], "executed")

    def test_exec_rejected_exits_1_with_reason(self):
        process = self.g.cli_background("exec", "--target", "production", "--verb",
                                        "exec:reject-me", "--", "true", token=AGENT)
        review_id = self.pending_review("exec:reject-me")
        missing_reason = self.g.cli("reviews", "reject", review_id, token=ALICE)
        self.assertEqual(missing_reason.returncode, 2)
        rejected = self.g.cli("reviews", "reject", review_id, "--reason", "wrong window",
                              token=ALICE)
        self.assertEqual(rejected.returncode, 0, rejected.stderr)
        _, stderr = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 1)
        self.assertIn("rejected", stderr)
        self.assertIn("wrong window", stderr)

    def test_exec_times_out_with_exit_3(self):
        result = self.g.cli("exec", "--target", "production", "--verb", "exec:slow", "--timeout",
                            "2s", "--", "true", token=AGENT)
        self.assertEqual(result.returncode, 3, result.stderr)
        self.assertIn("still pending", result.stderr)

    def test_exec_denied_exits_1(self):
        result = self.g.cli("exec", "--target", "production", "--verb", "sql:DROP TABLE x", "--",
                            "true", token=AGENT)
        self.assertEqual(result.returncode, 1)
        self.assertIn("deny", result.stderr)

    def test_exec_allowed_runs_at_once(self):
        result = self.g.cli("exec", "--target", "reports", "--verb", "read:sales", "--", "sh", "-c",
                            "echo ran", token=AGENT)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "ran")

    def test_cli_without_token_explains_what_to_do(self):
        result = self.g.cli("reviews", "list")
        self.assertEqual(result.returncode, 2)
        self.assertIn("COUNTERSIGN_TOKEN", result.stderr)

    def test_list_and_audit_search_text_output(self):
        self.g.act(AGENT, "production", "exec:listed", {"k": 1})
        listed = self.g.cli("reviews", "list", "--state", "pending", token=ALICE)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        self.assertIn("exec:listed", listed.stdout)
        searched = self.g.cli("audit", "search", "--type", "review.created", token=ALICE)
        self.assertEqual(searched.returncode, 0, searched.stderr)
        self.assertIn("review.created", searched.stdout)
        self.assertIn("agent:deploy-bot", searched.stdout)


class AuditVerifyTest(unittest.TestCase):
    def test_verify_detects_an_edited_event(self):
        with Gateway() as g:
            status, body, _ = g.act(AGENT, "production", "exec:deploy", {"v": 1})
            g.vote(ALICE, body["review_id"], "approve")
            g.act(AGENT, "production", "exec:deploy", {"v": 1})
            g.stop()
            result = run_cli("audit", "verify", "--config", g.config_path, "--json")
            self.assertEqual(result.returncode, 0, result.stderr)
            report = json.loads(result.stdout)
            self.assertTrue(report["intact"])
            self.assertGreaterEqual(report["events"], 6)

            # Someone with database access rewrites who approved.
            with sqlite3.connect(g.database) as connection:
                rows = connection.execute(
                    "SELECT idx, body FROM audit_events WHERE type = 'review.voted'").fetchall()
                index, event_body = rows[0]
                connection.execute("UPDATE audit_events SET body = ? WHERE idx = ?",
                                   (event_body.replace("alice@example.com", "bob@example.com"),
                                    index))
            result = run_cli("audit", "verify", "--config", g.config_path)
            self.assertEqual(result.returncode, 1)
            self.assertIn(f"event {index}", result.stderr)

            # Deleting an event breaks the chain as well.
            with sqlite3.connect(g.database) as connection:
                connection.execute("UPDATE audit_events SET body = ? WHERE idx = ?",
                                   (event_body, index))
                connection.execute("DELETE FROM audit_events WHERE idx = 1")
            result = run_cli("audit", "verify", "--config", g.config_path, "--json")
            self.assertEqual(result.returncode, 1)
            self.assertEqual(json.loads(result.stdout)["first_bad_index"], 1)


if __name__ == "__main__":
    unittest.main()
