"""The actions API end to end: decisions, reviews, grants, holds, audit."""
import concurrent.futures
import time
import unittest

from harness import AGENT, ALICE, BOB, DANA, Gateway, quickstart_config


class ActionsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gateway = Gateway().start()

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()

    def setUp(self):
        self.g = self.gateway

    def test_health_endpoints(self):
        self.assertEqual(self.g.request("GET", "/healthz")[0], 200)
        status, body, _ = self.g.request("GET", "/readyz")
        self.assertEqual((status, body["status"]), (200, "ready"))

    def test_missing_and_wrong_credentials_are_refused_and_audited(self):
        before = len(self.g.events(type="auth.failed"))
        status, body, headers = self.g.request("GET", "/v1/reviews")
        self.assertEqual(status, 401)
        self.assertEqual(body["error"]["code"], "unauthenticated")
        self.assertEqual(headers["WWW-Authenticate"], "Bearer")
        status, body, _ = self.g.request("GET", "/v1/reviews", token="demo-agent-kez")
        self.assertEqual(status, 401)
        self.assertNotIn("demo-agent-kez", str(body))
        events = self.g.events(type="auth.failed")
        self.assertEqual(len(events), before + 2)
        self.assertNotIn("demo-agent-kez", str(events))

    def test_allowed_action_passes_without_review(self):
        status, body, _ = self.g.act(AGENT, "reports", "read:daily-revenue")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["decision"], "allow")
        self.assertEqual(body["rules"], ["reads-pass"])
        self.assertEqual(body["execution"]["env"], {})

    def test_denied_action_names_the_rule(self):
        status, body, _ = self.g.act(AGENT, "production", "sql:DROP TABLE")
        self.assertEqual(status, 403)
        self.assertEqual(body["decision"], "deny")
        self.assertIn("agents-never-drop", body["rules"])
        # No rule at all: the default denies.
        status, body, _ = self.g.act(AGENT, "reports", "write:anything")
        self.assertEqual((status, body["decision"], body["rules"]), (403, "deny", []))

    def test_review_approve_execute_once(self):
        params = {"service": "api", "version": "v1.2.3"}
        status, body, headers = self.g.act(AGENT, "production", "exec:deploy", params, "release")
        self.assertEqual(status, 202, body)
        review_id = body["review_id"]
        self.assertEqual(headers["Location"], f"/v1/reviews/{review_id}")
        self.assertNotIn("env", str(body))

        # Identical request while pending joins the same review.
        status, again, _ = self.g.act(AGENT, "production", "exec:deploy", params, "release")
        self.assertEqual((status, again["review_id"]), (202, review_id))

        # Agent may not vote; Dana launched the agent (on_behalf_of): no self-approval.
        status, body, _ = self.g.vote(AGENT, review_id, "approve")
        self.assertEqual(status, 403, body)
        status, body, _ = self.g.vote(DANA, review_id, "approve")
        self.assertEqual(status, 403, body)
        self.assertIn("self", body["error"]["message"].lower())
        # Bob is not in group:sre (only escalate_to): not eligible yet.
        status, body, _ = self.g.vote(BOB, review_id, "approve")
        self.assertEqual(status, 403, body)

        status, body, _ = self.g.vote(ALICE, review_id, "approve", "looks fine")
        self.assertEqual((status, body["state"]), (200, "approved"), body)
        # Voting again on a decided review is a conflict and changes nothing.
        status, body, _ = self.g.vote(ALICE, review_id, "approve")
        self.assertEqual(status, 409, body)

        # A changed parameter is a different action: it does not use the grant.
        status, body, _ = self.g.act(AGENT, "production", "exec:deploy",
                                     {"service": "api", "version": "v9.9.9"}, "release")
        self.assertEqual(status, 202, body)
        self.assertNotEqual(body["review_id"], review_id)

        # The identical action executes exactly once, with the target's secret.
        status, body, _ = self.g.act(AGENT, "production", "exec:deploy", params, "release")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["grant"]["review_id"], review_id)
        self.assertEqual(body["execution"]["env"]["DEPLOY_TOKEN"],
                         "demo-deploy-token-not-a-real-secret")
        status, body, _ = self.g.request("GET", f"/v1/reviews/{review_id}", ALICE)
        self.assertEqual(body["state"], "executed")
        # Reuse of the grant: a new review, no execution.
        status, body, _ = self.g.act(AGENT, "production", "exec:deploy", params, "release")
        self.assertEqual(status, 202, body)
        self.assertNotEqual(body["review_id"], review_id)

        types = [event["type"] for event in self.g.events(review_id=review_id)]
        for expected in ["review.created", "review.voted", "review.approved", "grant.issued",
                         "review.executed", "action.executed"]:
            self.assertIn(expected, types)
        self.assertNotIn("demo-deploy-token", str(self.g.events(review_id=review_id)))

    def test_held_request_completes_when_approved(self):
        params = {"service": "held", "n": time.time()}
        with concurrent.futures.ThreadPoolExecutor() as pool:
            held = pool.submit(self.g.act, AGENT, "production", "exec:deploy", params, None, 20)
            review_id = None
            deadline = time.time() + 10
            while review_id is None and time.time() < deadline:
                status, body, _ = self.g.request("GET", "/v1/reviews?state=pending&limit=500", ALICE)
                for review in body["reviews"]:
                    if review["action"]["masked_params"].get("service") == "held":
                        review_id = review["id"]
                time.sleep(0.05)
            self.assertIsNotNone(review_id)
            started = time.time()
            status, body, _ = self.g.vote(ALICE, review_id, "approve")
            self.assertEqual(status, 200, body)
            status, body, _ = held.result(timeout=15)
            woke_after = time.time() - started
        self.assertEqual(status, 200, body)
        self.assertEqual(body["decision"], "allow")
        self.assertEqual(body["grant"]["review_id"], review_id)
        # Woken by the decision, not by polling or the 20 s hold timeout.
        self.assertLess(woke_after, 2.0)

    def test_held_request_gets_rejection(self):
        with concurrent.futures.ThreadPoolExecutor() as pool:
            held = pool.submit(self.g.act, AGENT, "production", "exec:restart", {"x": 1}, None, 20)
            review_id = self._wait_for_pending("exec:restart")
            status, body, _ = self.g.vote(ALICE, review_id, "reject")
            self.assertEqual(status, 400, body)  # a rejection needs a reason
            status, body, _ = self.g.vote(ALICE, review_id, "reject", "not during the freeze")
            self.assertEqual((status, body["state"]), (200, "rejected"))
            status, body, _ = held.result(timeout=15)
        self.assertEqual(status, 403)
        self.assertEqual(body["decision"], "rejected")
        self.assertEqual(body["outcome_reason"], "not during the freeze")

    def test_vote_reasons_are_masked(self):
        status, body, _ = self.g.act(AGENT, "production", "exec:reasoned", {"q": 1})
        review_id = body["review_id"]
        status, review, _ = self.g.vote(ALICE, review_id, "reject", "call me at alice.private@example.org")
        self.assertEqual(status, 200)
        self.assertNotIn("alice.private@example.org", str(review) + str(self.g.events(review_id=review_id)))
        self.assertIn("[EMAIL]", review["outcome_reason"])

    def test_hold_times_out_with_pending_answer(self):
        started = time.time()
        status, body, headers = self.g.act(AGENT, "production", "exec:migrate", {"y": 2}, None, 1)
        self.assertEqual(status, 202)
        self.assertGreaterEqual(time.time() - started, 0.9)
        self.assertEqual(body["state"], "pending")
        self.assertEqual(headers["Retry-After"], "5")

    def test_two_concurrent_redemptions_exactly_one_wins(self):
        params = {"race": time.time()}
        status, body, _ = self.g.act(AGENT, "production", "exec:deploy", params)
        review_id = body["review_id"]
        self.assertEqual(self.g.vote(ALICE, review_id, "approve")[0], 200)
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(
                lambda _: self.g.act(AGENT, "production", "exec:deploy", params), range(8)))
        statuses = sorted(result[0] for result in results)
        self.assertEqual(statuses.count(200), 1, statuses)
        self.assertEqual(statuses.count(202), 7, statuses)

    def test_two_step_flow_needs_both_steps_and_a_reason(self):
        status, body, _ = self.g.act(AGENT, "production", "exec:terraform-destroy", {"stack": "old"})
        self.assertEqual(status, 202, body)
        review_id = body["review_id"]
        status, body, _ = self.g.vote(ALICE, review_id, "approve")
        self.assertEqual(status, 400, body)  # require_reason
        status, body, _ = self.g.vote(ALICE, review_id, "approve", "stack is unused")
        self.assertEqual((status, body["state"], body["step"]), (200, "pending", 1), body)
        # Alice already voted; one vote per person.
        status, body, _ = self.g.vote(ALICE, review_id, "approve", "again")
        self.assertEqual(status, 409, body)
        status, body, _ = self.g.vote(BOB, review_id, "approve", "confirmed with owners")
        self.assertEqual((status, body["state"]), (200, "approved"), body)

    def test_manual_escalation_makes_leads_eligible(self):
        status, body, _ = self.g.act(AGENT, "production", "exec:scale", {"replicas": 9})
        review_id = body["review_id"]
        self.assertEqual(self.g.vote(BOB, review_id, "approve")[0], 403)
        status, body, _ = self.g.vote(ALICE, review_id, "escalate", "need a lead")
        self.assertEqual((status, body["escalated"]), (200, True), body)
        status, body, _ = self.g.vote(BOB, review_id, "approve")
        self.assertEqual((status, body["state"]), (200, "approved"), body)

    def test_requester_may_cancel_but_others_may_not(self):
        status, body, _ = self.g.act(AGENT, "production", "exec:cleanup", {"z": 3})
        review_id = body["review_id"]
        self.assertEqual(self.g.vote(ALICE, review_id, "cancel")[0], 403)
        status, body, _ = self.g.vote(AGENT, review_id, "cancel")
        self.assertEqual((status, body["state"]), (200, "cancelled"), body)

    def test_secrets_in_params_are_masked_for_reviewers_and_audit(self):
        params = {"password": "hunter2-very-secret", "note": "mail ops@example.com",
                  "card": "4111 1111 1111 1111"}
        status, body, _ = self.g.act(AGENT, "production", "exec:rotate", params)
        review_id = body["review_id"]
        status, review, _ = self.g.request("GET", f"/v1/reviews/{review_id}", ALICE)
        shown = str(review) + str(self.g.events(review_id=review_id))
        for secret in ["hunter2-very-secret", "ops@example.com", "4111 1111 1111 1111"]:
            self.assertNotIn(secret, shown)
        self.assertEqual(review["action"]["masked_params"]["password"], "[REDACTED]")
        self.assertEqual(review["action"]["masked_params"]["card"], "****1111")

    def _wait_for_pending(self, verb):
        deadline = time.time() + 10
        while time.time() < deadline:
            status, body, _ = self.g.request("GET", "/v1/reviews?state=pending&limit=500", ALICE)
            for review in body["reviews"]:
                if review["action"]["verb"] == verb:
                    return review["id"]
            time.sleep(0.05)
        self.fail("no pending review for " + verb)


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        config = quickstart_config().replace("listen: 127.0.0.1:8080",
                                             "listen: 127.0.0.1:8080\nserver:\n  max_body_bytes: 4096")
        cls.g = Gateway(config).start()

    @classmethod
    def tearDownClass(cls):
        cls.g.stop()

    def event_count(self):
        return len(self.g.events())

    def assert_error(self, response, status, code):
        self.assertEqual(response[0], status, response[1])
        self.assertEqual(response[1]["error"]["code"], code)
        self.assertTrue(response[1]["error"]["message"])

    def test_bad_requests_get_clear_errors_and_store_nothing(self):
        before = self.event_count()
        self.assert_error(self.g.request("POST", "/v1/actions", AGENT, raw_body=b"{not json"),
                          400, "invalid_argument")
        self.assert_error(self.g.request("POST", "/v1/actions", AGENT, body=[1, 2]),
                          400, "invalid_argument")
        self.assert_error(self.g.request("POST", "/v1/actions", AGENT,
                                         body={"target": "production"}), 400, "invalid_argument")
        self.assert_error(self.g.request("POST", "/v1/actions", AGENT,
                                         body={"target": "production", "verb": "x", "params": 5}),
                          400, "invalid_argument")
        self.assert_error(self.g.request("POST", "/v1/actions", AGENT,
                                         body={"target": "production", "verb": "x", "extra": 1}),
                          400, "invalid_argument")
        self.assert_error(self.g.act(AGENT, "nowhere", "exec:x"), 404, "not_found")
        self.assert_error(self.g.request("POST", "/v1/actions?wait=abc", AGENT,
                                         body={"target": "production", "verb": "x"}),
                          400, "invalid_argument")
        self.assert_error(self.g.request("GET", "/v1/reviews/rv_missing", ALICE), 404, "not_found")
        self.assert_error(self.g.vote(ALICE, "rv_missing", "approve"), 404, "not_found")
        self.assert_error(self.g.request("GET", "/v1/reviews?state=bogus", ALICE), 400,
                          "invalid_argument")
        self.assert_error(self.g.request("GET", "/v1/nothing", ALICE), 404, "not_found")
        self.assertEqual(self.event_count(), before)

    def test_wrong_method_is_405(self):
        self.assert_error(self.g.request("DELETE", "/v1/actions", AGENT), 405, "method_not_allowed")

    def test_agents_may_not_read_the_audit_log(self):
        self.assert_error(self.g.request("GET", "/v1/audit/events", AGENT), 403, "permission_denied")

    def test_oversized_body_is_refused(self):
        before = self.event_count()
        big = {"target": "production", "verb": "exec:x", "params": {"blob": "a" * 10000}}
        self.assert_error(self.g.request("POST", "/v1/actions", AGENT, body=big), 413, "too_large")
        self.assertEqual(self.event_count(), before)

    def test_voting_on_decided_review_and_twice(self):
        status, body, _ = self.g.act(AGENT, "production", "exec:twice", {"a": 1})
        review_id = body["review_id"]
        self.assertEqual(self.g.vote(ALICE, review_id, "reject", "no")[0], 200)
        before = self.event_count()
        self.assert_error(self.g.vote(ALICE, review_id, "approve"), 409, "conflict")
        self.assert_error(self.g.vote(DANA, review_id, "approve"), 409, "conflict")
        self.assertEqual(self.event_count(), before)


if __name__ == "__main__":
    unittest.main()
