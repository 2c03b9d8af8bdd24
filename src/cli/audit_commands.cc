// countersign audit search (over the API) and audit verify (on the store).
#include <iostream>

#include <CLI/CLI.hpp>
#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include "audit/event.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "config/config.h"
#include "store/sqlite/sqlite_store.h"

namespace countersign::cli {
namespace {

struct SearchOptions {
  std::string actor, verb, type, review, text, from, to;
  int limit = 100;
};

int search(const ClientOptions& client, const SearchOptions& options) {
  std::string target = fmt::format("/v1/audit/events?limit={}", options.limit);
  auto add = [&](const char* name, const std::string& value) {
    if (!value.empty()) target += fmt::format("&{}={}", name, url_encode(value));
  };
  add("actor", options.actor);
  add("verb", options.verb);
  add("type", options.type);
  add("review_id", options.review);
  add("q", options.text);
  add("from", options.from);
  add("to", options.to);
  auto answer = call(client, "GET", target);
  if (!answer) return report(answer.error());
  if (client.json) {
    std::cout << boost::json::serialize(answer->body) << "\n";
    return kExitOk;
  }
  const auto& events = answer->body.as_object().at("events").as_array();
  if (events.empty()) std::cout << "no events\n";
  for (const auto& item : events) {
    const auto& event = item.as_object();
    auto text = [&](const char* key) {
      const auto* value = event.if_contains(key);
      return value && value->is_string() ? std::string(value->get_string()) : std::string();
    };
    std::string summary;
    if (const auto* details = event.if_contains("details"); details && details->is_object()) {
      for (const char* key : {"verb", "target", "effect", "grant", "vote", "reason", "state"}) {
        const auto* value = details->get_object().if_contains(key);
        if (value && value->is_string() && !value->get_string().empty())
          summary += fmt::format(" {}={}", key, std::string_view(value->get_string()));
      }
    }
    std::cout << fmt::format("{:>6} {} {:<18} {:<24} {}{}\n", event.at("index").as_int64(),
                             text("time_text"), text("type"), text("actor"),
                             text("review_id").empty() ? "" : text("review_id") + " ", summary);
  }
  return kExitOk;
}

// Recomputes every event's hash from its canonical body and the chain.
int verify(const std::string& config_path, bool json) {
  auto config = config::load_config(config_path);
  if (!config) return report(config.error());
  auto store = store::SqliteStore::open(config->sqlite_path);
  if (!store) return report(store.error());
  store::AuditFilter filter;
  filter.limit = 1000;
  std::string previous = audit::kGenesisHash;
  std::int64_t checked = 0;
  for (;;) {
    auto page = (*store)->list_events(filter);
    if (!page) return report(page.error());
    for (const auto& event : page->events) {
      std::string problem;
      auto leaf = audit::leaf_hash(event);
      if (event.index != checked) problem = fmt::format("expected index {}, found {}", checked, event.index);
      else if (event.previous_hash != previous) problem = "previous_hash does not match the event before";
      else if (!leaf) problem = leaf.error().message;
      else if (audit::chain_hash(previous, *leaf) != event.hash) problem = "hash does not match the event's content";
      if (!problem.empty()) {
        if (json)
          std::cout << boost::json::serialize(boost::json::object{
                           {"intact", false}, {"first_bad_index", checked}, {"problem", problem}})
                    << "\n";
        else
          std::cerr << fmt::format("audit log NOT intact: event {}: {}\n", checked, problem);
        return kExitDenied;
      }
      previous = event.hash;
      ++checked;
    }
    if (page->next_cursor < 0) break;
    filter.after_index = page->next_cursor;
  }
  if (json)
    std::cout << boost::json::serialize(boost::json::object{{"intact", true}, {"events", checked}, {"head", previous}})
              << "\n";
  else
    std::cout << fmt::format("audit log intact: {} events, head {}\n", checked, previous);
  return kExitOk;
}

}  // namespace

void add_audit_commands(CLI::App& app, ClientOptions& client, int& exit_code) {
  auto* audit = app.add_subcommand("audit", "Search and verify the audit log");
  audit->require_subcommand(1);

  static SearchOptions options;
  auto* search_command = audit->add_subcommand("search", "Search audit events (oldest first)");
  search_command->add_option("--actor", options.actor, "Subject that caused the event");
  search_command->add_option("--verb", options.verb, "Action verb");
  search_command->add_option("--type", options.type, "Event type, e.g. review.approved");
  search_command->add_option("--review", options.review, "Review id");
  search_command->add_option("--q", options.text, "Text anywhere in the event");
  search_command->add_option("--from", options.from, "Start time (RFC 3339 or ms)");
  search_command->add_option("--to", options.to, "End time (RFC 3339 or ms)");
  search_command->add_option("--limit", options.limit, "At most this many (1-1000)")->check(CLI::Range(1, 1000));
  add_client_options(*search_command, client);
  search_command->callback([&] { exit_code = search(client, options); });

  static std::string config_path;
  static bool json = false;
  auto* verify_command =
      audit->add_subcommand("verify", "Recompute every event hash and the chain; exit 1 at the first break");
  verify_command->add_option("--config", config_path, "Configuration file (for the storage path)")->required();
  verify_command->add_flag("--json", json, "Print JSON");
  verify_command->callback([&] { exit_code = verify(config_path, json); });
}

}  // namespace countersign::cli
