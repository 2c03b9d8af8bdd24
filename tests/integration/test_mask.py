"""Masking through the real binary: `countersign mask` with profiles from a
configuration (custom detectors, strategies, the persisted hash key), load
errors for bad detectors, and the masked view reviewers get from the gateway
when a rule names a profile."""
import json
import os
import re
import subprocess
import tempfile
import unittest

from harness import ALICE, AGENT, BINARY, Gateway, quickstart_config

MASKING = """
masking:
  profiles:
    strict:
      secret_keys: [customer]
      strategies: {email: hash, phone: partial}
      detectors:
        - name: employee_id
          pattern: 'EMP-[0-9]{6}'
          label: "[EMPLOYEE]"
    lenient:
      extends: strict
      disable: [ipv4]
"""


def mask(*args, input_text, config=None):
    command = [BINARY, "mask", *args]
    if config:
        command += ["--config", config]
    return subprocess.run(command, input=input_text, capture_output=True, text=True, timeout=60)


class MaskCommandTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="countersign-mask-")
        self.config = os.path.join(self.directory, "config.yaml")
        with open(self.config, "w") as handle:
            handle.write(quickstart_config() + MASKING)

    def test_profile_from_config_applies_detectors_strategies_and_keys(self):
        text = json.dumps({"customer": {"id": 7}, "to": "ann@example.com", "phone": "+44 20 7946 0958",
                           "note": "badge EMP-123456 from 10.0.0.1"})
        result = mask("--profile", "strict", "--json", input_text=text, config=self.config)
        self.assertEqual(result.returncode, 0, result.stderr)
        out = json.loads(result.stdout)
        masked = out["masked"]
        self.assertEqual(masked["customer"], "[REDACTED]")
        self.assertRegex(masked["to"], r"^\[EMAIL:[0-9a-f]{12}\]$")
        self.assertEqual(masked["phone"], "****0958")
        self.assertEqual(masked["note"], "badge [EMPLOYEE] from [IP]")
        detectors = sorted(f["detector"] for f in out["findings"])
        self.assertEqual(detectors, ["email", "employee_id", "ipv4", "phone_e164", "secret_key_name"])
        self.assertNotIn("ann@example.com", result.stdout)
        # Inheritance: lenient keeps strict's detector and drops IPv4.
        result = mask("--profile", "lenient", input_text="EMP-123456 10.0.0.1", config=self.config)
        self.assertEqual(result.stdout, "[EMPLOYEE] 10.0.0.1")

    def test_hash_is_stable_within_a_deployment(self):
        first = mask("--profile", "strict", input_text="ann@example.com", config=self.config).stdout
        second = mask("--profile", "strict", input_text="ann@example.com", config=self.config).stdout
        self.assertEqual(first, second)
        key_file = os.path.join(self.directory, "quickstart.db.mask-key")
        self.assertTrue(os.path.exists(key_file))
        self.assertEqual(os.stat(key_file).st_mode & 0o777, 0o600)
        # Another deployment (another key) hashes differently.
        other = os.path.join(self.directory, "other")
        os.makedirs(other)
        other_config = os.path.join(other, "config.yaml")
        with open(other_config, "w") as handle:
            handle.write(quickstart_config() + MASKING)
        third = mask("--profile", "strict", input_text="ann@example.com", config=other_config).stdout
        self.assertNotEqual(first, third)

    def test_hash_key_from_the_environment(self):
        with open(self.config, "a") as handle:
            handle.write("  hash_key: env:TEST_MASK_KEY\n")
        env = dict(os.environ, TEST_MASK_KEY="0123456789abcdef0123456789abcdef")
        run = lambda: subprocess.run([BINARY, "mask", "--profile", "strict", "--config", self.config],
                                     input="ann@example.com", capture_output=True, text=True, env=env)
        self.assertEqual(run().stdout, run().stdout)
        self.assertFalse(os.path.exists(os.path.join(self.directory, "quickstart.db.mask-key")))
        del env["TEST_MASK_KEY"]
        result = run()
        self.assertEqual(result.returncode, 2)
        self.assertIn("TEST_MASK_KEY", result.stderr)

    def test_unknown_profile_and_text_mode(self):
        result = mask("--profile", "nope", input_text="x", config=self.config)
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown mask profile 'nope'", result.stderr)
        result = mask("--text", input_text='{"password": "p", "to": "ann@example.com"}')
        self.assertEqual(result.returncode, 0)
        self.assertEqual(result.stdout, '{"password": "p", "to": "[EMAIL]"}')

    def test_bad_detectors_are_load_errors_with_a_line(self):
        for detector, message in [("pattern: 'a(?=b)'", "bad pattern"),
                                  ("pattern: 'x'\n          validator: nope", "unknown validator")]:
            with open(self.config, "w") as handle:
                handle.write(quickstart_config() + "\nmasking:\n  profiles:\n    p:\n      detectors:\n"
                             "        - name: broken\n          " + detector + "\n")
            result = subprocess.run([BINARY, "check", "--config", self.config],
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 1, result.stdout + result.stderr)  # a failed check
            self.assertIn(message, result.stderr)
            self.assertRegex(result.stderr, r"config\.yaml:\d+")


class GatewayMaskingTest(unittest.TestCase):
    def test_rule_profile_masks_what_reviewers_see(self):
        config = quickstart_config().replace(
            "      reason: Changes to production need an SRE who is not the requester\n",
            "      reason: Changes to production need an SRE who is not the requester\n      mask: strict\n", 1)
        self.assertIn("mask: strict", config)
        with Gateway(config + MASKING) as gateway:
            params = {"customer": "Ann Lee", "to": "ann@example.com", "badge": "EMP-654321",
                      "key": "AKIAQWERTYUIOP234567", "db": "postgres://app:S3cr3tPw@db:5432/x"}
            status, body, _ = gateway.act(AGENT, "production", "exec:notify", params,
                                          reason="mail ann@example.com")
            self.assertEqual(status, 202, body)
            status, review, _ = gateway.request("GET", f"/v1/reviews/{body['review_id']}", ALICE)
            shown = review["action"]["masked_params"]
            self.assertEqual(shown["customer"], "[REDACTED]")
            self.assertRegex(shown["to"], r"^\[EMAIL:[0-9a-f]{12}\]$")
            self.assertEqual(shown["badge"], "[EMPLOYEE]")
            self.assertEqual(shown["key"], "[SECRET]")
            self.assertEqual(shown["db"], "postgres://app:[PASSWORD]@db:5432/x")
            everything = json.dumps(review) + json.dumps(gateway.events(review_id=body["review_id"]))
            for raw in ["Ann Lee", "ann@example.com", "EMP-654321", "AKIAQWERTYUIOP234567", "S3cr3tPw"]:
                self.assertNotIn(raw, everything)
            # The CLI with the same configuration hashes the same way as the gateway.
            cli = mask("--profile", "strict", input_text="ann@example.com", config=gateway.config_path)
            self.assertEqual(cli.stdout, shown["to"])


if __name__ == "__main__":
    unittest.main()
