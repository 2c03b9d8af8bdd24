// Evidence report figures and HTML (docs/audit.md#evidence-report).
#include "audit/evidence.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "audit/soc2.h"
#include "core/html.h"

namespace countersign::audit {
namespace {

namespace json = boost::json;

std::string detail(const AuditEvent& event, std::string_view key) {
  const json::value* value = event.details.if_contains(key);
  return value && value->is_string() ? std::string(value->get_string()) : std::string();
}

std::string day_of(Millis time) { return format_time(time).substr(0, 10); }

std::string duration_text(Millis duration) {
  return duration < 1000 ? fmt::format("{}ms", duration) : format_duration(duration);
}

}  // namespace

Millis percentile(const std::vector<Millis>& sorted, int percent) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(
      std::ceil(static_cast<double>(percent) / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

EvidenceSummary summarize(const std::vector<AuditEvent>& events, Millis from, Millis to) {
  EvidenceSummary summary;
  std::map<std::string, std::size_t> by_review;
  std::map<std::string, std::string> on_behalf_of;
  for (const AuditEvent& event : events) {
    if ((from > 0 && event.time < from) || (to > 0 && event.time >= to)) continue;
    ++summary.events;
    for (const std::string& control : event.controls) ++summary.controls[control];
    if (event.type == "action.decided") {
      std::string effect = detail(event, "effect");
      if (detail(event, "grant") != "redeemed") ++summary.decisions[effect.empty() ? "?" : effect];
      if (!event.review_id.empty() && !detail(event, "on_behalf_of").empty())
        on_behalf_of.emplace(event.review_id, detail(event, "on_behalf_of"));
      continue;
    }
    if (event.review_id.empty() || !event.type.starts_with("review.")) continue;
    if (event.type == "review.created") {
      ReviewedActionRecord record;
      record.review_id = event.review_id;
      record.target = detail(event, "target");
      record.verb = detail(event, "verb");
      record.requester = event.actor;
      record.requested_at = event.time;
      by_review[event.review_id] = summary.reviewed.size();
      summary.reviewed.push_back(std::move(record));
      ++summary.reviews_per_day[day_of(event.time)];
      continue;
    }
    auto found = by_review.find(event.review_id);
    if (found == by_review.end()) continue;  // opened before the period
    ReviewedActionRecord& record = summary.reviewed[found->second];
    if (event.type == "review.voted" && detail(event, "vote") == "approve") {
      record.approvals.emplace_back(detail(event, "approver"), event.time);
    } else if (event.type == "review.approved" || event.type == "review.rejected" ||
               event.type == "review.expired" || event.type == "review.cancelled") {
      record.outcome = event.type.substr(7);
      record.decided_at = event.time;
      if (event.type == "review.rejected") record.rejected_by = detail(event, "by");
    } else if (event.type == "review.executed" || event.type == "review.failed") {
      record.outcome = event.type.substr(7);
      if (event.type == "review.executed") record.executed_at = event.time;
    }
  }
  std::vector<Millis> durations;
  for (ReviewedActionRecord& record : summary.reviewed) {
    if (auto who = on_behalf_of.find(record.review_id); who != on_behalf_of.end())
      record.on_behalf_of = who->second;
    ++summary.outcomes[record.outcome];
    bool decided_by_people =
        record.decided_at > 0 && (!record.approvals.empty() || !record.rejected_by.empty());
    if (decided_by_people) durations.push_back(record.decided_at - record.requested_at);
  }
  std::sort(durations.begin(), durations.end());
  summary.time_to_decision.count = static_cast<std::int64_t>(durations.size());
  summary.time_to_decision.median = percentile(durations, 50);
  summary.time_to_decision.p90 = percentile(durations, 90);
  summary.time_to_decision.max = durations.empty() ? 0 : durations.back();
  return summary;
}

namespace {

// Reviews per day as an inline SVG bar chart, one bar per day of the period.
std::string reviews_chart(const EvidenceSummary& summary, Millis from, Millis to) {
  std::vector<std::pair<std::string, std::int64_t>> days;
  constexpr Millis kDay = 86'400'000;
  if (from > 0 && to > from && (to - from) / kDay <= 400) {
    for (Millis day = from - from % kDay; day < to; day += kDay) {
      auto found = summary.reviews_per_day.find(day_of(day));
      days.emplace_back(day_of(day), found == summary.reviews_per_day.end() ? 0 : found->second);
    }
  } else {
    for (const auto& [day, count] : summary.reviews_per_day) days.emplace_back(day, count);
  }
  std::int64_t most = 1;
  for (const auto& [day, count] : days) most = std::max(most, count);
  const int bar = 18, gap = 4, height = 160, top = 20, bottom = 60;
  const int width = std::max(200, static_cast<int>(days.size()) * (bar + gap) + 50);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"reviews-per-day\" width=\"{}\" height=\"{}\" "
      "role=\"img\" aria-label=\"Reviews per day\">\n",
      width, height + top + bottom);
  svg += fmt::format("<line x1=\"40\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#444\"/>\n",
                     top + height, width - 5);
  svg += fmt::format("<text x=\"2\" y=\"{}\" font-size=\"11\">{}</text>\n", top + 4, most);
  svg += fmt::format("<text x=\"2\" y=\"{}\" font-size=\"11\">0</text>\n", top + height);
  int x = 45;
  for (const auto& [day, count] : days) {
    int h = static_cast<int>(static_cast<double>(count) / static_cast<double>(most) * height);
    svg += fmt::format(
        "<rect class=\"bar\" data-day=\"{0}\" data-count=\"{1}\" x=\"{2}\" y=\"{3}\" width=\"{4}\" "
        "height=\"{5}\" fill=\"#3b6ea5\"><title>{0}: {1}</title></rect>\n",
        html_escape(day), count, x, top + height - h, bar, h);
    svg += fmt::format(
        "<text x=\"{0}\" y=\"{1}\" font-size=\"10\" transform=\"rotate(60 {0} {1})\">{2}</text>\n",
        x + 4, top + height + 12, html_escape(day.substr(5)));
    x += bar + gap;
  }
  svg += "</svg>\n";
  return svg;
}

std::string count_table(const char* id, const char* what,
                        const std::map<std::string, std::int64_t>& counts) {
  std::string out = fmt::format("<table id=\"{}\"><tr><th>{}</th><th>count</th></tr>\n", id, what);
  for (const auto& [name, count] : counts)
    out += fmt::format("<tr><td>{}</td><td>{}</td></tr>\n", html_escape(name), count);
  if (counts.empty()) out += "<tr><td colspan=\"2\">none</td></tr>\n";
  return out + "</table>\n";
}

std::string when(Millis time) { return time > 0 ? html_escape(format_time(time)) : ""; }

}  // namespace

std::string evidence_html(const EvidenceSummary& summary, const EvidenceLog& log, Millis from,
                          Millis to, Millis generated_at) {
  std::string period = fmt::format("{} to {}", from > 0 ? format_time(from) : "the first event",
                                   to > 0 ? format_time(to) : "the last event");
  std::string out;
  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<title>countersign audit evidence, " + html_escape(period) + "</title>\n";
  out +=
      "<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
      "table{border-collapse:collapse;margin:.5em 0 1.5em}"
      "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left;vertical-align:top}"
      "th{background:#eee}.ok{color:#176b2c}.bad{color:#a11}pre{background:#f4f4f4;padding:8px}"
      "</style>\n</head>\n<body>\n";
  out += "<h1>Audit evidence</h1>\n";
  out += "<table id=\"report\">\n";
  out += fmt::format("<tr><th>period</th><td id=\"period\">{}</td></tr>\n", html_escape(period));
  out += fmt::format("<tr><th>generated</th><td>{}</td></tr>\n", when(generated_at));
  out += fmt::format("<tr><th>events in the period</th><td id=\"events\">{}</td></tr>\n",
                     summary.events);
  out += fmt::format("<tr><th>events in the log</th><td id=\"total-events\">{}</td></tr>\n",
                     log.total_events);
  out += fmt::format("<tr><th>verification</th><td id=\"verification\" class=\"{}\">{}</td></tr>\n",
                     log.intact ? "ok" : "bad", html_escape(log.verification));
  out += fmt::format("<tr><th>checkpoint signatures</th><td>{}</td></tr>\n",
                     log.verifier_key.empty() ? "not checked (no verifier key)"
                                              : "checked with " + html_escape(log.verifier_key));
  out += "</table>\n";

  out += "<h2>Latest checkpoint</h2>\n";
  if (log.checkpoint_size)
    out += fmt::format(
        "<p id=\"checkpoint\" data-size=\"{}\">Tree size {}, issued {}:</p>\n<pre>{}</pre>\n",
        *log.checkpoint_size, *log.checkpoint_size, when(log.checkpoint_time),
        html_escape(log.checkpoint_note));
  else
    out += "<p id=\"checkpoint\">No checkpoint has been issued.</p>\n";

  out += "<h2>Decisions</h2>\n";
  out += count_table("decisions", "policy decision", summary.decisions);
  out += count_table("outcomes", "review outcome", summary.outcomes);

  out +=
      "<h2>Events by control</h2>\n<table id=\"controls\"><tr><th>control</th><th>meaning</th>"
      "<th>events</th></tr>\n";
  for (const TrustCriterion& criterion : trust_criteria()) {
    auto found = summary.controls.find(std::string(criterion.id));
    out += fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n", html_escape(criterion.id),
                       html_escape(criterion.meaning),
                       found == summary.controls.end() ? 0 : found->second);
  }
  out += "</table>\n";

  out += "<h2>Time to decision</h2>\n<table id=\"time-to-decision\">\n";
  const DurationStats& stats = summary.time_to_decision;
  out +=
      fmt::format("<tr><th>decided reviews</th><td data-ms=\"{0}\">{0}</td></tr>\n", stats.count);
  for (auto [name, value] : {std::pair{"median", stats.median}, std::pair{"p90", stats.p90},
                             std::pair{"max", stats.max}})
    out += fmt::format("<tr><th>{}</th><td data-ms=\"{}\">{}</td></tr>\n", name, value,
                       stats.count ? duration_text(value) : "-");
  out += "</table>\n";

  out += "<h2>Reviews per day</h2>\n" + reviews_chart(summary, from, to);

  out += fmt::format("<h2>Privileged actions ({})</h2>\n", summary.reviewed.size());
  out +=
      "<table id=\"privileged\"><tr><th>review</th><th>target</th><th>verb</th><th>requested "
      "by</th>"
      "<th>on behalf of</th><th>requested</th><th>approved by</th><th>outcome</th>"
      "<th>decided</th><th>executed</th></tr>\n";
  for (const ReviewedActionRecord& record : summary.reviewed) {
    std::string approvers;
    for (const auto& [who, at] : record.approvals)
      approvers +=
          fmt::format("{}{} ({})", approvers.empty() ? "" : "<br>", html_escape(who), when(at));
    if (!record.rejected_by.empty())
      approvers += (approvers.empty() ? "" : "<br>") + std::string("rejected by ") +
                   html_escape(record.rejected_by);
    out += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td><td>{}</td></tr>\n",
        html_escape(record.review_id), html_escape(record.target), html_escape(record.verb),
        html_escape(record.requester), html_escape(record.on_behalf_of), when(record.requested_at),
        approvers, html_escape(record.outcome), when(record.decided_at), when(record.executed_at));
  }
  out += "</table>\n</body>\n</html>\n";
  return out;
}

}  // namespace countersign::audit
