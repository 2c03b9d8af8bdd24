"""`countersign audit export` (JSON Lines and OCSF) and `countersign audit
evidence` (the SOC 2 HTML report), run against the database of a real
gateway run and checked against the events the API serves."""
import hashlib
import html.parser
import json
import unittest

from harness import AGENT, ALICE, run_cli
from test_audit_log import AuditGateway, event_leaf, mth


def read_lines(text):
    return [json.loads(line) for line in text.splitlines()]


class ReportParser(html.parser.HTMLParser):
    """Collects tables (by id) as rows of cell texts, cells by id, and the chart's bars."""

    def __init__(self):
        super().__init__()
        self.tables, self.cells, self.bars, self.tags = {}, {}, [], set()
        self.table = None
        self.row = None
        self.cell = None
        self.cell_id = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "table":
            self.table = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self.table is not None:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell, self.cell_id = [], attrs.get("id")
        elif tag == "br" and self.cell is not None:
            self.cell.append("\n")
        elif tag == "rect" and "data-day" in attrs:
            self.bars.append((attrs["data-day"], int(attrs["data-count"])))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            text = "".join(self.cell).strip()
            self.row.append(text)
            if self.cell_id:
                self.cells[self.cell_id] = text
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.table.append(self.row)
            self.row = None
        elif tag == "table":
            self.table = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def nearest_rank(values, percent):
    values = sorted(values)
    rank = max(1, -(-percent * len(values) // 100))
    return values[rank - 1]


class ExportAndEvidenceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.g = AuditGateway().start()
        cls.g.activity(3)  # three approved and executed reviews, allows and denies
        status, body, _ = cls.g.act(AGENT, "production", "exec:<script>alert(1)</script>", {"n": 1})
        assert status == 202, body
        cls.rejected = body["review_id"]
        status, body, _ = cls.g.vote(ALICE, cls.rejected, "reject", "not <today>")
        assert status == 200, body
        status, body, _ = cls.g.act(AGENT, "production", "exec:deploy", {"n": "pending"})
        assert status == 202, body
        cls.pending = body["review_id"]
        cls.events = cls.g.all_events()
        cls.cp = cls.g.checkpoint(len(cls.events))
        cls.g.stop()

    @classmethod
    def tearDownClass(cls):
        cls.g.__exit__(None, None, None)

    def export(self, *args):
        result = run_cli("audit", "export", "--config", self.g.config_path, *args)
        self.assertEqual(result.returncode, 0, result.stderr)
        return read_lines(result.stdout), result

    def test_jsonl_is_every_event_with_its_leaf_hash(self):
        lines, result = self.export("--format", "jsonl")
        self.assertEqual(len(lines), len(self.events))
        self.assertIn(f"exported {len(self.events)} events", result.stderr)
        for line, event in zip(lines, self.events):
            leaf = line.pop("leaf_hash")
            self.assertEqual(line, event)  # the event as the API serves it
            self.assertEqual(leaf, event_leaf(line).hex())
        # The leaves of the export give the signed checkpoint's root.
        leaves = [bytes.fromhex(l["leaf_hash"]) for l in read_lines(
            run_cli("audit", "export", "--config", self.g.config_path).stdout)]
        self.assertEqual(mth(leaves[:self.cp["size"]]).hex(), self.cp["root"])

    def test_time_window_and_output_file(self):
        times = [e["time"] for e in self.events]
        low, high = times[len(times) // 4], times[3 * len(times) // 4]
        path = self.g.write_file("window.jsonl", "")
        _, result = self.export("--from", str(low), "--to", str(high), "--out", path)
        with open(path) as handle:
            lines = read_lines(handle.read())
        self.assertEqual([l["index"] for l in lines],
                         [e["index"] for e in self.events if low <= e["time"] < high])
        self.assertEqual(result.stdout, "")
        bad = run_cli("audit", "export", "--config", self.g.config_path, "--from", "yesterday")
        self.assertEqual(bad.returncode, 2)

    def test_ocsf_api_activity(self):
        lines, _ = self.export("--format", "ocsf")
        self.assertEqual(len(lines), len(self.events))
        for record, event in zip(lines, self.events):
            self.assertEqual(record["class_uid"], 6003)
            self.assertEqual(record["category_uid"], 6)
            self.assertEqual(record["type_uid"], 6003 * 100 + record["activity_id"])
            self.assertEqual(record["time"], event["time"])
            self.assertEqual(record["actor"]["user"]["uid"], event["actor"])
            self.assertEqual(record["metadata"]["sequence"], event["index"])
            self.assertEqual(record["metadata"]["uid"], event_leaf(event).hex())
            self.assertEqual(record["unmapped"]["type"], event["type"])
            if event["type"] == "action.decided":
                effect = event["details"]["effect"]
                self.assertEqual(record["authorizations"][0]["decision"], effect)
                self.assertEqual(record["status"], "Failure" if effect == "deny" else "Success")
                self.assertEqual(record["api"]["operation"], event["details"]["verb"])
                self.assertEqual(record["api"]["service"]["name"], event["details"]["target"])
        drops = [r for r in lines if r["api"]["operation"] == "sql:DROP TABLE x"]
        self.assertTrue(drops)
        self.assertTrue(all(r["activity_id"] == 4 for r in drops))

    def test_evidence_report_figures(self):
        times = [e["time"] for e in self.events]
        start, end = min(times), max(times) + 1
        path = self.g.write_file("report.html", "")
        result = run_cli("audit", "evidence", "--config", self.g.config_path, "--from", str(start),
                         "--to", str(end), "--out", path)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        # Self-contained and escaped.
        self.assertNotIn("<script", text)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", text)
        for external in ("src=", "href=", "@import", "url("):
            self.assertNotIn(external, text)
        report = ReportParser()
        report.feed(text)
        self.assertIn("svg", report.tags)

        self.assertEqual(int(report.cells["events"]), len(self.events))
        self.assertEqual(int(report.cells["total-events"]), len(self.events))
        self.assertTrue(report.cells["verification"].startswith(f"intact: {len(self.events)} events"))
        self.assertIn(self.cp["note"].split("\n")[2], text)  # the checkpoint's root line

        decided = [e for e in self.events if e["type"] == "action.decided"
                   and e["details"].get("grant") != "redeemed"]
        decisions = {row[0]: int(row[1]) for row in report.tables["decisions"][1:]}
        for effect in ("allow", "deny", "review"):
            self.assertEqual(decisions.get(effect, 0),
                             sum(1 for e in decided if e["details"]["effect"] == effect), effect)
        controls = {row[0]: int(row[2]) for row in report.tables["controls"][1:]}
        for control in ("CC6.1", "CC6.2", "CC6.3", "CC7.2", "CC8.1"):
            self.assertEqual(controls[control],
                             sum(1 for e in self.events if control in e["controls"]), control)

        created = [e for e in self.events if e["type"] == "review.created"]
        rows = report.tables["privileged"][1:]
        self.assertEqual([r[0] for r in rows], [e["review_id"] for e in created])
        by_id = {r[0]: r for r in rows}
        for row in rows:
            self.assertEqual(row[3], "agent:deploy-bot")  # requested by
            self.assertEqual(row[4], "dana@example.com")  # on behalf of
        approved = [e["review_id"] for e in self.events if e["type"] == "review.approved"]
        self.assertEqual(len(approved), 3)
        for review in approved:
            self.assertTrue(by_id[review][6].startswith("alice@example.com ("), by_id[review])
            self.assertEqual(by_id[review][7], "executed")
        self.assertEqual(by_id[self.rejected][6], "rejected by alice@example.com")
        self.assertEqual(by_id[self.rejected][7], "rejected")
        self.assertEqual(by_id[self.pending][7], "pending")
        outcomes = {row[0]: int(row[1]) for row in report.tables["outcomes"][1:]}
        self.assertEqual(outcomes, {"executed": 3, "rejected": 1, "pending": 1})

        # Time to decision, recomputed from the events.
        opened = {e["review_id"]: e["time"] for e in created}
        durations = [e["time"] - opened[e["review_id"]] for e in self.events
                     if e["type"] in ("review.approved", "review.rejected")]
        cells = {row[0]: row for row in report.tables["time-to-decision"]}
        self.assertEqual(int(cells["decided reviews"][1]), len(durations))
        stats = {}
        for name in ("median", "p90", "max"):
            stats[name] = [r for r in report.tables["time-to-decision"] if r[0] == name][0]
        ms = self.milliseconds(text)
        self.assertEqual(ms["median"], nearest_rank(durations, 50))
        self.assertEqual(ms["p90"], nearest_rank(durations, 90))
        self.assertEqual(ms["max"], max(durations))

        # The chart: one bar per day of the period, adding up to the reviews.
        self.assertEqual(sum(count for _, count in report.bars), len(created))

    @staticmethod
    def milliseconds(text):
        """The data-ms values of the time-to-decision rows."""
        import re
        section = text[text.index('id="time-to-decision"'):]
        section = section[:section.index("</table>")]
        return {name: int(value) for name, value in
                re.findall(r"<th>(\w+)</th><td data-ms=\"(\d+)\"", section)}

    def test_evidence_on_a_broken_log_says_so(self):
        import shutil
        import sqlite3
        broken = self.g.write_file("broken.yaml", "")
        database = self.g.database + ".broken"
        shutil.copy(self.g.database, database)
        with open(self.g.config_path) as handle:
            config = handle.read()
        with open(broken, "w") as handle:
            handle.write(config.replace(self.g.database.split("/")[-1], database.split("/")[-1]))
        with sqlite3.connect(database) as connection:
            connection.execute("UPDATE audit_events SET actor = 'mallory' WHERE idx = 2")
        path = self.g.write_file("broken.html", "")
        result = run_cli("audit", "evidence", "--config", broken, "--out", path)
        self.assertEqual(result.returncode, 1, result.stderr)
        report = ReportParser()
        with open(path) as handle:
            report.feed(handle.read())
        self.assertTrue(report.cells["verification"].startswith("NOT intact: event 2:"),
                        report.cells["verification"])


if __name__ == "__main__":
    unittest.main()
