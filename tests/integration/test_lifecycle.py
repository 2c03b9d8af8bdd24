"""Deadlines: expiry and escalation come from stored times and survive restarts."""
import time
import unittest

from harness import AGENT, ALICE, BOB, Gateway, quickstart_config


def short_deadlines():
    return (quickstart_config()
            .replace("escalate_after: 15m", "escalate_after: 1s")
            .replace("expires_after: 1h\n        grant_ttl: 5m", "expires_after: 4s\n        grant_ttl: 1s"))


class LifecycleTest(unittest.TestCase):
    def test_review_escalates_then_expires_and_wakes_waiters(self):
        with Gateway(short_deadlines()) as g:
            status, body, _ = g.act(AGENT, "production", "exec:deploy", {"e": 1})
            review_id = body["review_id"]
            self.assertEqual(g.vote(BOB, review_id, "approve")[0], 403)  # not eligible yet
            deadline = time.time() + 2.5
            review = {}
            while time.time() < deadline and not review.get("escalated"):
                time.sleep(0.1)
                review = g.request("GET", f"/v1/reviews/{review_id}", ALICE)[1]
            self.assertTrue(review["escalated"], review)
            self.assertIn("group:sre-leads", review["progress"]["eligible"])
            # A held GET wakes when the review expires.
            started = time.time()
            status, review, _ = g.request("GET", f"/v1/reviews/{review_id}?wait=10", ALICE)
            self.assertEqual(review["state"], "expired")
            self.assertLess(time.time() - started, 5)
            types = [event["type"] for event in g.events(review_id=review_id)]
            self.assertIn("review.escalated", types)
            self.assertIn("review.expired", types)
            self.assertEqual(g.vote(BOB, review_id, "approve")[0], 409)

    def test_expiry_survives_a_restart(self):
        first = Gateway(short_deadlines()).start()
        try:
            status, body, _ = first.act(AGENT, "production", "exec:deploy", {"r": 1})
            review_id = body["review_id"]
        finally:
            first.stop()
        time.sleep(4.5)  # the review expires while no gateway runs
        with Gateway(short_deadlines(), directory=first.directory) as second:
            deadline = time.time() + 5
            state = None
            while time.time() < deadline and state != "expired":
                state = second.request("GET", f"/v1/reviews/{review_id}", ALICE)[1]["state"]
                time.sleep(0.1)
            self.assertEqual(state, "expired")

    def test_hold_is_capped_by_the_target_hold_timeout(self):
        config = short_deadlines().replace("hold_timeout: 30s", "hold_timeout: 1s")
        with Gateway(config) as g:
            started = time.time()
            status, body, _ = g.act(AGENT, "production", "exec:deploy", {"h": 1}, wait=20)
            self.assertEqual(status, 202, body)
            self.assertLess(time.time() - started, 5)

    def test_grant_expires_unused(self):
        with Gateway(short_deadlines()) as g:
            params = {"g": 1}
            status, body, _ = g.act(AGENT, "production", "exec:deploy", params)
            self.assertEqual(g.vote(ALICE, body["review_id"], "approve")[0], 200)
            time.sleep(1.3)  # past grant_ttl
            status, again, _ = g.act(AGENT, "production", "exec:deploy", params)
            self.assertEqual(status, 202, again)
            self.assertNotEqual(again["review_id"], body["review_id"])
            status, old, _ = g.request("GET", f"/v1/reviews/{body['review_id']}", ALICE)
            self.assertEqual(old["state"], "failed", old)
            self.assertIn("grant expired", old["outcome_reason"])


if __name__ == "__main__":
    unittest.main()
