"""Approval channels end to end: the real gateway against a fake Slack Web API,
a fake Teams Workflows webhook and a webhook receiver (test_channels_fakes.py).
"""
import json
import os
import statistics
import threading
import time
import unittest

from harness import AGENT, ALICE, BOB, Gateway, quickstart_config
from test_channels_fakes import BOT_TOKEN, SIGNING_SECRET, FakeSlack, FakeTeams, WebhookReceiver

WEBHOOK_SECRET = "whsec-integration-7d1e"

SLACK_USERS = {
    "U0ALICE001": {"email": "alice@example.com", "name": "alice"},
    "U0BOB00001": {"email": "robert.b@example.org", "name": "bob"},  # linked by config, not e-mail
    "U0DANA0001": {"email": "dana@example.com", "name": "dana"},
    "U0MALLORY1": {"email": "mallory@evil.example", "name": "alice"},
    "U0GHOST001": {"email": "alice@example.com", "deleted": True},
}

EXTRA_RULE = """
    - id: two-approvers
      match: {target: reports, verb: "exec:migrate"}
      effect: review
      reason: Migrations need two approvers
      review:
        steps:
          - {approvers: [group:sre, group:sre-leads], quorum: 2}
        expires_after: 1h
"""


def channels_config(slack, teams=None, receiver=None):
    text = quickstart_config().rstrip() + "\n" + EXTRA_RULE + "\nchannels:\n"
    text += """  slack:
    bot_token: file:secrets/slack-bot-token
    signing_secret: file:secrets/slack-signing-secret
    api_base_url: %s
    channel: C0APPROVALS
    users: {U0BOB00001: bob@example.com}
""" % slack.api_url
    if teams:
        text += "  teams:\n    webhook_url: file:secrets/teams-webhook-url\n"
    if receiver:
        text += "  webhooks:\n    - url: %s\n      secret: file:secrets/webhook-secret\n" % receiver.url
    return text


def write_secrets(gateway, teams=None):
    secrets = {"slack-bot-token": BOT_TOKEN, "slack-signing-secret": SIGNING_SECRET,
               "webhook-secret": WEBHOOK_SECRET}
    if teams:
        secrets["teams-webhook-url"] = teams.url
    for name, value in secrets.items():
        with open(os.path.join(gateway.directory, "secrets", name), "w") as handle:
            handle.write(value + "\n")


class ChannelTestCase(unittest.TestCase):
    with_teams = False
    with_webhooks = False

    def setUp(self):
        self.slack = FakeSlack(dict(SLACK_USERS))
        self.addCleanup(self.slack.close)
        self.teams = FakeTeams() if self.with_teams else None
        if self.teams:
            self.addCleanup(self.teams.close)
        self.receiver = WebhookReceiver(WEBHOOK_SECRET) if self.with_webhooks else None
        if self.receiver:
            self.addCleanup(self.receiver.close)
        self.gateway = Gateway(channels_config(self.slack, self.teams, self.receiver))
        write_secrets(self.gateway, self.teams)
        self.gateway.start()
        self.addCleanup(self.gateway.__exit__, None, None, None)

    def open_review(self, verb="exec:deploy", params=None, target="production"):
        status, body, _ = self.gateway.act(AGENT, target, verb, params or {"service": "web"},
                                           reason="ship it")
        self.assertEqual(status, 202, body)
        return body["review_id"]

    def review(self, review_id):
        status, body, _ = self.gateway.request("GET", "/v1/reviews/" + review_id, ALICE)
        self.assertEqual(status, 200, body)
        return body

    def wait_state(self, review_id, state, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.review(review_id)
            if current["state"] == state:
                return current
            time.sleep(0.02)
        self.fail("review %s is %s, not %s" % (review_id, current["state"], state))

    def click(self, user, action, review_id, **kwargs):
        status, text, seconds = self.slack.send(self.gateway.url,
                                                self.slack.click_payload(user, action, review_id, **kwargs))
        self.assertEqual(status, 200, text)
        self.assertLess(seconds, 3.0)  # Slack's deadline for an acknowledgement
        return text

    def refused(self, count_before, timeout=5):
        """Waits for one more refusal event and one more ephemeral reply; returns both."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.gateway.events(type="slack.interaction_refused")
            if len(events) > count_before and len(self.slack.ephemeral) > count_before:
                return events[-1], self.slack.ephemeral[-1]
            time.sleep(0.02)
        self.fail("no refusal was recorded and shown")


class SlackTest(ChannelTestCase):
    def test_a_pending_review_reaches_slack_within_a_second_with_its_context(self):
        # The gateway's first request after start warms up (~0.5 s, outside the channel code).
        self.slack.message_for(self.open_review(params={"warm": "up"}))
        latencies = []
        for i in range(8):
            started = time.monotonic()
            review_id = self.open_review(params={"service": "web", "build": i, "api_key": "sk_live_abcdef123456"})
            message = self.slack.message_for(review_id, timeout=2)
            arrived = [t for t, method, args in self.slack.calls
                       if method == "chat.postMessage" and review_id in json.dumps(args)][0]
            latencies.append(arrived - started)
        print("\n  review created -> fake Slack chat.postMessage: median %.1f ms, max %.1f ms %r" % (
            statistics.median(latencies) * 1000, max(latencies) * 1000, [round(x * 1000) for x in latencies]))
        self.assertLess(max(latencies), 1.0)
        self.assertEqual(message["channel"], "C0APPROVALS")
        text = json.dumps(message["blocks"])
        for expected in ("agent:deploy-bot (on behalf of dana@example.com)", "production", "exec:deploy",
                         "production-changes", "Changes to production need an SRE", "ship it",
                         "step 1 of 1: 0 of 1 approvals from group:sre", "expires in",
                         "countersign_approve", "countersign_reject", "countersign_escalate"):
            self.assertIn(expected, text)
        self.assertNotIn("sk_live_abcdef123456", json.dumps(self.slack.calls_of("chat.postMessage")))

    def test_an_approval_click_updates_the_message_threads_and_tells_the_requester(self):
        review_id = self.open_review()
        message = self.slack.message_for(review_id)
        self.click("U0ALICE001", "countersign_approve", review_id, message_ts=message["ts"])
        self.wait_state(review_id, "approved")
        votes = self.review(review_id)["votes"]
        self.assertEqual(votes[0]["approver"], "alice@example.com")
        self.slack.wait_for(lambda: message.get("edited") and "Approved" in json.dumps(message["blocks"]))
        self.assertNotIn("countersign_approve", json.dumps(message["blocks"]))  # no buttons left
        reply = self.slack.wait_for(lambda: [r for r in self.slack.replies if r["thread_ts"] == message["ts"]])
        self.assertIn("alice@example.com voted to approve", reply[0]["text"])
        # Dana launched the agent: she hears about the outcome in a DM.
        self.slack.wait_for(lambda: self.slack.calls_of("users.lookupByEmail"))
        dm = self.slack.wait_for(lambda: [m for (channel, _), m in self.slack.messages.items()
                                          if channel == "D0DANA0001"])
        self.assertIn("Approved", dm[0]["text"])

    def test_a_click_resumes_the_waiting_door(self):
        results = {}

        def agent():
            results["response"] = self.gateway.act(AGENT, "production", "exec:deploy",
                                                   {"service": "held-svc-7"}, wait=20)
            results["done"] = time.monotonic()

        thread = threading.Thread(target=agent)
        thread.start()
        message = self.slack.wait_for(lambda: [m for m in self.slack.messages.values()
                                               if "held-svc-7" in json.dumps(m["blocks"])])[0]
        review_id = message["blocks"][-2]["elements"][0]["value"]  # the Approve button
        clicked = time.monotonic()
        self.click("U0ALICE001", "countersign_approve", review_id)
        thread.join(10)
        status, body, _ = results["response"]
        print("\n  signed click -> waiting door resumed: %.1f ms" % ((results["done"] - clicked) * 1000))
        self.assertEqual(status, 200, body)
        self.assertLess(results["done"] - clicked, 1.0)

    def test_reject_opens_a_modal_and_its_submission_rejects_with_the_reason(self):
        review_id = self.open_review()
        self.slack.message_for(review_id)
        self.click("U0ALICE001", "countersign_reject", review_id)
        opened = self.slack.wait_for(lambda: self.slack.views)[0]
        view = opened["view"]
        self.assertEqual(view["type"], "modal")
        self.assertEqual(self.review(review_id)["state"], "pending")  # nothing until the reason comes
        status, text, _ = self.slack.send(self.gateway.url, self.slack.view_payload(
            "U0ALICE001", view["callback_id"], view["private_metadata"], "not during the freeze"))
        self.assertEqual(status, 200, text)
        self.assertEqual(text, "")  # closes the modal
        rejected = self.wait_state(review_id, "rejected")
        self.assertEqual(rejected["outcome_reason"], "not during the freeze")

    def test_an_empty_reason_is_refused_inside_the_modal(self):
        review_id = self.open_review()
        self.click("U0ALICE001", "countersign_reject", review_id)
        view = self.slack.wait_for(lambda: self.slack.views)[0]["view"]
        status, text, _ = self.slack.send(self.gateway.url, self.slack.view_payload(
            "U0ALICE001", view["callback_id"], view["private_metadata"], "   "))
        self.assertEqual(status, 200)
        answer = json.loads(text)
        self.assertEqual(answer["response_action"], "errors")
        self.assertIn("reason", answer["errors"]["reason"])
        self.assertEqual(self.review(review_id)["state"], "pending")

    def test_escalate_from_slack_moves_the_step_on(self):
        review_id = self.open_review()
        self.click("U0ALICE001", "countersign_escalate", review_id)
        deadline = time.monotonic() + 5
        while not self.review(review_id)["escalated"] and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(self.review(review_id)["escalated"])
        # Bob (sre-leads, linked by explicit mapping) may now approve.
        self.click("U0BOB00001", "countersign_approve", review_id)
        self.assertEqual(self.wait_state(review_id, "approved")["votes"][0]["approver"], "bob@example.com")

    def test_rate_limits_are_respected(self):
        with self.slack.lock:
            self.slack.rate_limits.append(("chat.postMessage", 1))
        review_id = self.open_review()
        self.slack.message_for(review_id, timeout=10)
        times = {name: t for t, name, _ in self.slack.calls if name.startswith("chat.postMessage")}
        self.assertGreaterEqual(times["chat.postMessage"] - times["chat.postMessage:429"], 1.0)


class SlackAdversarialTest(ChannelTestCase):
    def setUp(self):
        super().setUp()
        self.review_id = self.open_review()
        self.slack.message_for(self.review_id)

    def assert_unchanged(self):
        review = self.review(self.review_id)
        self.assertEqual(review["state"], "pending")
        self.assertEqual(review["votes"], [])

    def request_refusals(self):
        return self.gateway.events(type="slack.request_refused")

    def test_a_forged_signature_is_refused_and_audited(self):
        payload = self.slack.click_payload("U0ALICE001", "countersign_approve", self.review_id)
        status, text, _ = self.slack.send(self.gateway.url, payload, secret="not-the-signing-secret")
        self.assertEqual(status, 401, text)
        body = self.slack.form(payload)
        headers = self.slack.sign(body)
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"][:-4] + "0000"
        self.assertEqual(self.slack.send(self.gateway.url, None, headers=headers, body=body)[0], 401)
        del headers["X-Slack-Signature"]
        self.assertEqual(self.slack.send(self.gateway.url, None, headers=headers, body=body)[0], 401)
        # A signed body with one byte changed.
        signed = self.slack.sign(body)
        tampered = body.replace(b"U0ALICE001", b"U0ALICE002")
        self.assertEqual(self.slack.send(self.gateway.url, None, headers=signed, body=tampered)[0], 401)
        time.sleep(0.2)
        self.assert_unchanged()
        refusals = self.request_refusals()
        self.assertEqual(len(refusals), 4)
        self.assertIn("does not match", refusals[0]["details"]["reason"])

    def test_a_stale_timestamp_is_refused(self):
        payload = self.slack.click_payload("U0ALICE001", "countersign_approve", self.review_id)
        status, text, _ = self.slack.send(self.gateway.url, payload, timestamp=int(time.time()) - 301)
        self.assertEqual(status, 401)
        self.assertIn("stale", text)
        time.sleep(0.2)
        self.assert_unchanged()
        self.assertIn("stale", self.request_refusals()[-1]["details"]["reason"])

    def test_a_replayed_request_is_refused(self):
        review_id = self.open_review(verb="exec:migrate", target="reports")
        payload = self.slack.click_payload("U0ALICE001", "countersign_approve", review_id)
        body = self.slack.form(payload)
        headers = self.slack.sign(body)
        self.assertEqual(self.slack.send(self.gateway.url, None, headers=headers, body=body)[0], 200)
        status, text, _ = self.slack.send(self.gateway.url, None, headers=headers, body=body)
        self.assertEqual(status, 401)
        self.assertIn("replayed", text)
        time.sleep(0.3)
        self.assertEqual(len(self.review(review_id)["votes"]), 1)
        self.assertIn("replayed", self.request_refusals()[-1]["details"]["reason"])

    def test_the_requester_cannot_approve_through_slack(self):
        before = len(self.gateway.events(type="slack.interaction_refused"))
        self.click("U0DANA0001", "countersign_approve", self.review_id)  # Dana launched the agent
        event, reply = self.refused(before)
        self.assertEqual(event["actor"], "dana@example.com")
        self.assertEqual(reply["user"], "U0DANA0001")
        self.assertEqual(reply["channel"], "C0APPROVALS")
        self.assertIn("dana@example.com", reply["text"])
        self.assert_unchanged()

    def test_an_unlinked_slack_user_is_refused(self):
        before = len(self.gateway.events(type="slack.interaction_refused"))
        self.click("U0NOBODY01", "countersign_approve", self.review_id)
        event, reply = self.refused(before)
        self.assertEqual(event["actor"], "slack:U0NOBODY01")
        self.assertIn("not linked", reply["text"])
        self.click("U0GHOST001", "countersign_approve", self.review_id)  # deactivated, alice's e-mail
        event, reply = self.refused(before + 1)
        self.assertIn("deactivated", reply["text"])
        self.assert_unchanged()

    def test_a_user_claiming_another_identity_in_the_payload_is_refused(self):
        before = len(self.gateway.events(type="slack.interaction_refused"))
        # Mallory calls herself alice in every name field Slack sends; only her id counts.
        self.click("U0MALLORY1", "countersign_approve", self.review_id, claimed_name="alice@example.com")
        event, reply = self.refused(before)
        self.assertEqual(event["actor"], "slack:U0MALLORY1")
        self.assert_unchanged()

    def test_a_non_eligible_approver_is_refused(self):
        before = len(self.gateway.events(type="slack.interaction_refused"))
        self.click("U0BOB00001", "countersign_approve", self.review_id)  # sre-leads, step needs sre
        event, reply = self.refused(before)
        self.assertEqual(event["actor"], "bob@example.com")
        self.assert_unchanged()
        # Reject by a non-eligible user is refused before any modal opens.
        self.click("U0BOB00001", "countersign_reject", self.review_id)
        self.refused(before + 1)
        self.assertEqual(self.slack.views, [])

    def test_a_double_click_counts_once(self):
        review_id = self.open_review(verb="exec:migrate", target="reports")
        before = len(self.gateway.events(type="slack.interaction_refused"))
        self.click("U0ALICE001", "countersign_approve", review_id)
        self.click("U0ALICE001", "countersign_approve", review_id)
        event, reply = self.refused(before)
        self.assertIn("already", reply["text"])
        review = self.review(review_id)
        self.assertEqual(review["state"], "pending")
        self.assertEqual(len(review["votes"]), 1)

    def test_a_click_on_a_decided_review_is_refused(self):
        status, body, _ = self.gateway.vote(ALICE, self.review_id, "reject", "no")
        self.assertEqual(status, 200, body)
        before = len(self.gateway.events(type="slack.interaction_refused"))
        self.click("U0BOB00001", "countersign_approve", self.review_id)
        event, reply = self.refused(before)
        self.assertIn("rejected", reply["text"])
        self.assertEqual(self.review(self.review_id)["state"], "rejected")

    def test_unconfigured_or_wrong_method_requests_do_not_vote(self):
        status, _, _ = self.gateway.request("GET", "/integrations/slack/interactions")
        self.assertIn(status, (400, 401, 405))
        self.assert_unchanged()


class DeliveryTest(ChannelTestCase):
    with_teams = True
    with_webhooks = True

    def test_teams_gets_an_adaptive_card_on_every_change(self):
        review_id = self.open_review()
        self.teams.wait_for(lambda: any(review_id in json.dumps(c) for c in self.teams.cards))
        card = [c for c in self.teams.cards if review_id in json.dumps(c)][0]
        self.assertEqual(card["version"], "1.5")
        action = card["actions"][0]
        self.assertEqual(action["type"], "Action.OpenUrl")
        self.assertEqual(action["title"], "Open to decide")
        self.assertEqual(action["url"], self.gateway.url + "/ui/reviews/" + review_id)
        status, body, _ = self.gateway.vote(ALICE, review_id, "approve")
        self.assertEqual(status, 200, body)
        self.teams.wait_for(lambda: sum(review_id in json.dumps(c) for c in self.teams.cards) >= 2)
        self.assertIn("Approved", json.dumps(self.teams.cards[-1]))
        self.assertEqual(self.teams.rejected, [])

    def test_webhooks_are_signed_and_retried_with_backoff(self):
        with self.receiver.lock:
            self.receiver.failures = 2
        review_id = self.open_review()
        status, body, _ = self.gateway.vote(ALICE, review_id, "approve")
        self.assertEqual(status, 200, body)
        wanted = ["review.created", "review.voted", "review.approved", "grant.issued"]
        self.receiver.wait_for(lambda: [e["type"] for e in self.receiver.events
                                        if e["review"]["id"] == review_id] == wanted)
        first = [t for t, delivery, status in self.receiver.deliveries if delivery.endswith(":v1:1")]
        self.assertEqual(len(first), 3)  # two failures, then delivered
        self.assertGreaterEqual(first[1] - first[0], 1.0)
        self.assertGreaterEqual(first[2] - first[1], 2.0)
        event = self.receiver.events[0]
        self.assertEqual(event["url"], self.gateway.url + "/ui/reviews/" + review_id)
        self.assertEqual(event["review"]["action"]["target"], "production")


class DurabilityTest(unittest.TestCase):
    def test_notifications_survive_an_outage_and_a_restart(self):
        slack = FakeSlack(dict(SLACK_USERS))
        self.addCleanup(slack.close)
        slack.down = True
        first = Gateway(channels_config(slack))
        self.addCleanup(first.__exit__, None, None, None)  # removes the directory at the end
        write_secrets(first)
        first.start()
        status, body, _ = first.act(AGENT, "production", "exec:deploy", {"service": "db"})
        self.assertEqual(status, 202, body)
        review_id = body["review_id"]
        time.sleep(0.5)  # at least one failed attempt while Slack is down
        first.stop()
        slack.down = False
        with open(first.config_path) as handle:
            config = handle.read()
        with Gateway(config, directory=first.directory):
            message = slack.message_for(review_id, timeout=15)
            self.assertIn(review_id, json.dumps(message["blocks"]))
            time.sleep(0.5)
            posts = [args for args in slack.calls_of("chat.postMessage") if review_id in json.dumps(args)]
            self.assertEqual(len(posts), 1)  # delivered once


if __name__ == "__main__":
    unittest.main()
