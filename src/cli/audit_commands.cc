// countersign audit: search (over the API); verify, prove, verify-proof,
// keygen and checkpoint (the Merkle log and its signed checkpoints); export
// (JSON Lines, OCSF) and evidence (the SOC 2 HTML report), from the database.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/json.hpp>

#include "audit/event.h"
#include "audit/evidence.h"
#include "audit/export.h"
#include "audit/log_verifier.h"
#include "audit/note.h"
#include "audit/soc2.h"
#include "cli/cli.h"
#include "cli/commands.h"
#include "config/config.h"
#include "server/audit_api.h"
#include "store/sqlite/sqlite_store.h"

namespace countersign::cli {
namespace {

// The commands that read the database directly (verify, export, evidence,
// ...) are short-lived readers: they leave indexing for search to the
// gateway that serves the database.
constexpr store::SqliteOptions kReaderOptions{.index_when_idle = false};

struct SearchOptions {
  std::string actor, verb, type, target, review, text, from, to, cursor;
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
  add("target", options.target);
  add("review", options.review);
  add("q", options.text);
  add("from", options.from);
  add("to", options.to);
  add("cursor", options.cursor);
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
  if (const auto* next = answer->body.as_object().if_contains("next_cursor");
      next && next->is_string())
    std::cout << fmt::format("more: --cursor {}\n", std::string_view(next->get_string()));
  return kExitOk;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::invalid_argument, fmt::format("cannot read {}", path));
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// --pubkey: a verifier key (NAME+HASH+KEY), file:PATH, or a path to a file holding one.
Result<audit::NoteVerifier> read_verifier(const std::string& text) {
  std::string key = text;
  if (text.starts_with("file:") ||
      (!audit::NoteVerifier::parse(text) && std::filesystem::exists(text))) {
    auto content = read_file(text.starts_with("file:") ? text.substr(5) : text);
    if (!content) return std::unexpected(content.error());
    key = *content;
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
      key.pop_back();
  }
  auto verifier = audit::NoteVerifier::parse(key);
  if (!verifier) return fail(ErrorCode::invalid_argument, "--pubkey: " + verifier.error().message);
  return verifier;
}

// The key that checks checkpoint signatures: --pubkey, else the verifier of
// the configured signing key, else none.
Result<std::optional<audit::NoteVerifier>> checkpoint_verifier(const std::string& pubkey,
                                                               const config::Config& config) {
  if (!pubkey.empty()) {
    auto key = read_verifier(pubkey);
    if (!key) return std::unexpected(key.error());
    return std::optional(std::move(*key));
  }
  auto signer = server::load_audit_signer(config.audit);
  if (!signer) return std::unexpected(signer.error());
  if (*signer) return std::optional((*signer)->verifier());
  return std::optional<audit::NoteVerifier>();
}

struct VerifyCommand {
  std::string config_path, checkpoint_path, pubkey;
  bool json = false;
};

void print_report(const audit::VerifyReport& report, const VerifyCommand& options,
                  const std::optional<audit::NoteVerifier>& key) {
  namespace json = boost::json;
  if (options.json) {
    json::object out{{"intact", report.intact}};
    if (report.intact) {
      out["events"] = report.events;
      out["head"] = report.head;
      out["root"] = to_hex(report.root);
      out["checkpoints"] = report.checkpoints;
      out["signed_checkpoints"] = report.signed_checkpoints;
      out["key"] = key ? json::value(key->vkey()) : json::value(nullptr);
      if (report.external_size)
        out["external_checkpoint"] = {{"size", *report.external_size}, {"consistent", true}};
    } else {
      const audit::VerifyProblem& first = report.problems.front();
      out["first_bad_index"] = first.index >= 0 ? json::value(first.index) : json::value(nullptr);
      if (first.checkpoint_size >= 0) out["checkpoint_size"] = first.checkpoint_size;
      out["problem"] = first.message;
      json::array problems;
      for (const auto& problem : report.problems) {
        json::object item{{"message", problem.message}};
        item["index"] = problem.index >= 0 ? json::value(problem.index) : json::value(nullptr);
        if (problem.checkpoint_size >= 0) item["checkpoint_size"] = problem.checkpoint_size;
        problems.push_back(std::move(item));
      }
      out["problems"] = std::move(problems);
    }
    std::cout << json::serialize(out) << "\n";
    return;
  }
  if (!report.intact) {
    for (const auto& problem : report.problems) {
      if (problem.index >= 0)
        std::cerr << fmt::format("audit log NOT intact: event {}: {}\n", problem.index,
                                 problem.message);
      else
        std::cerr << fmt::format("audit log NOT intact: {}\n", problem.message);
    }
    return;
  }
  std::cout << fmt::format("audit log intact: {} events, root {}, head {}\n", report.events,
                           to_hex(report.root), report.head);
  if (key)
    std::cout << fmt::format("  {} checkpoints, {} signed by {} and consistent with each other\n",
                             report.checkpoints, report.signed_checkpoints, key->vkey());
  else
    std::cout << fmt::format(
        "  {} checkpoints consistent with each other (signatures not checked: "
        "no --pubkey and no audit.signing_key)\n",
        report.checkpoints);
  if (report.checkpoints > 0 && key && report.signed_checkpoints < report.checkpoints)
    std::cout << fmt::format("  {} checkpoints are unsigned (issued while no key was configured)\n",
                             report.checkpoints - report.signed_checkpoints);
  if (report.external_size)
    std::cout << fmt::format("  extends {} (size {})\n", options.checkpoint_path,
                             *report.external_size);
}

// Recomputes every leaf, the chain and the tree from the stored events, and
// checks the stored tree, every stored checkpoint and an external one.
int verify(const VerifyCommand& options) {
  auto config = config::load_config(options.config_path);
  if (!config) return report(config.error());
  audit::VerifyOptions verify_options;
  auto verifier = checkpoint_verifier(options.pubkey, *config);
  if (!verifier) return report(verifier.error()), kExitUsage;
  verify_options.key = std::move(*verifier);
  if (!options.checkpoint_path.empty()) {
    auto checkpoint = read_file(options.checkpoint_path);
    if (!checkpoint) return report(checkpoint.error()), kExitUsage;
    verify_options.external_checkpoint = std::move(*checkpoint);
    verify_options.external_name = options.checkpoint_path;
  }
  auto store = store::SqliteStore::open(config->sqlite_path, kReaderOptions);
  if (!store) return report(store.error());
  const std::optional<audit::NoteVerifier> key = verify_options.key;
  auto verified = server::verify_store(**store, std::move(verify_options));
  if (!verified) return report(verified.error());
  const audit::VerifyReport& result = *verified;
  print_report(result, options, key);
  return result.intact ? kExitOk : kExitDenied;
}

struct KeygenCommand {
  std::string name = "countersign/audit";
  std::string out;
  bool force = false;
};

int keygen(const KeygenCommand& options) {
  auto signer = audit::NoteSigner::generate(options.name);
  if (!signer) return report(signer.error()), kExitUsage;
  const std::string vkey = signer->verifier().vkey();
  if (options.out.empty()) {
    std::cout << signer->skey() << "\n";
    std::cerr << "verifier key (public; give it to auditors): " << vkey << "\n";
    return kExitOk;
  }
  // Created 0600 and never over an existing file unless --force.
  int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (options.force ? 0 : O_EXCL);
  int fd = ::open(options.out.c_str(), flags, 0600);
  if (fd < 0)
    return report({ErrorCode::invalid_argument,
                   fmt::format("cannot create {}: {}{}", options.out, std::strerror(errno),
                               errno == EEXIST ? " (use --force to replace it)" : "")}),
           kExitUsage;
  std::string content = signer->skey() + "\n";
  bool written = ::fchmod(fd, 0600) == 0 && ::write(fd, content.data(), content.size()) ==
                                                static_cast<ssize_t>(content.size());
  written = (::close(fd) == 0) && written;
  if (!written)
    return report({ErrorCode::internal, fmt::format("cannot write {}", options.out)}), kExitUsage;
  std::cout << vkey << "\n";
  std::cerr << fmt::format(
      "signing key written to {} (mode 0600); set audit.signing_key: file:{}\n", options.out,
      options.out);
  return kExitOk;
}

struct ProveCommand {
  std::int64_t index = 0;
  std::int64_t size = -1;
  std::int64_t from = -1;  // consistency proof from this size instead
  std::string config_path;
};

int prove(const ClientOptions& client, const ProveCommand& options) {
  if (options.config_path.empty()) {
    std::string target;
    if (options.from >= 0)
      target = fmt::format("/v1/audit/consistency?from={}", options.from);
    else
      target = fmt::format("/v1/audit/proof?index={}", options.index);
    if (options.size >= 0)
      target += (options.from >= 0 ? "&to=" : "&size=") + std::to_string(options.size);
    auto answer = call(client, "GET", target);
    if (!answer) return report(answer.error());
    std::cout << boost::json::serialize(answer->body) << "\n";
    return kExitOk;
  }
  auto config = config::load_config(options.config_path);
  if (!config) return report(config.error());
  auto store = store::SqliteStore::open(config->sqlite_path, kReaderOptions);
  if (!store) return report(store.error());
  std::int64_t size = options.size;
  if (size < 0) {
    // The latest checkpoint when it covers the event, else the whole log.
    auto latest = (*store)->latest_checkpoint();
    if (!latest) return report(latest.error());
    auto head = (*store)->tree_head();
    if (!head) return report(head.error());
    size = head->size;
    if (*latest && (options.from >= 0 || options.index < (*latest)->size)) size = (*latest)->size;
  }
  auto bundle = options.from >= 0 ? server::consistency_bundle(**store, options.from, size)
                                  : server::inclusion_bundle(**store, options.index, size);
  if (!bundle) return report(bundle.error());
  std::cout << boost::json::serialize(*bundle) << "\n";
  return kExitOk;
}

struct VerifyProofCommand {
  std::string proof_path, pubkey;
  std::vector<std::string> checkpoint_paths;
};

Result<std::vector<audit::Hash>> hash_list(const boost::json::value* value) {
  if (value == nullptr || !value->is_array())
    return fail(ErrorCode::invalid_argument, "proof: no proof array");
  std::vector<audit::Hash> out;
  for (const auto& item : value->get_array()) {
    if (!item.is_string())
      return fail(ErrorCode::invalid_argument, "proof: a hash is not a string");
    auto hash = audit::hash_from_hex(std::string_view(item.get_string()));
    if (!hash) return fail(ErrorCode::invalid_argument, "proof: a hash is not 64 hex digits");
    out.push_back(*hash);
  }
  return out;
}

std::optional<std::int64_t> int_field(const boost::json::object& object, const char* key) {
  const auto* value = object.if_contains(key);
  if (value == nullptr) return std::nullopt;
  if (value->is_int64()) return value->get_int64();
  if (value->is_uint64()) return static_cast<std::int64_t>(value->get_uint64());
  return std::nullopt;
}

// Checks a proof bundle (from `audit prove` or the API) against checkpoints
// signed by the given key. Needs no database and no server.
int verify_proof(const VerifyProofCommand& options) {
  auto key = read_verifier(options.pubkey);
  if (!key) return report(key.error()), kExitUsage;
  auto text = read_file(options.proof_path);
  if (!text) return report(text.error()), kExitUsage;
  boost::system::error_code parse_error;
  auto parsed = boost::json::parse(*text, parse_error);
  if (parse_error || !parsed.is_object())
    return report({ErrorCode::invalid_argument, "the proof is not a JSON object"}), kExitUsage;
  const auto& bundle = parsed.get_object();
  auto refuse = [](const std::string& message) {
    std::cerr << "proof NOT verified: " << message << "\n";
    return kExitDenied;
  };

  // Checkpoints: the files given, else the ones inside the bundle (their
  // signatures make them as good as the files).
  std::vector<std::pair<std::string, std::string>> notes;  // name, text
  for (const auto& path : options.checkpoint_paths) {
    auto note = read_file(path);
    if (!note) return report(note.error()), kExitUsage;
    notes.emplace_back(path, *note);
  }
  if (notes.empty()) {
    for (const char* field : {"checkpoint", "from_checkpoint", "to_checkpoint"}) {
      const auto* value = bundle.if_contains(field);
      if (value && value->is_string())
        notes.emplace_back(std::string("the proof's ") + field, std::string(value->get_string()));
    }
  }
  std::map<std::int64_t, audit::Checkpoint> checkpoints;
  for (const auto& [name, note] : notes) {
    auto opened = audit::open_checkpoint(note, *key);
    if (!opened) return refuse(fmt::format("{}: {}", name, opened.error().message));
    checkpoints[static_cast<std::int64_t>(opened->checkpoint.size)] = opened->checkpoint;
  }
  auto checkpoint_for = [&](std::int64_t size) -> const audit::Checkpoint* {
    auto found = checkpoints.find(size);
    return found == checkpoints.end() ? nullptr : &found->second;
  };
  auto proof = hash_list(bundle.if_contains("proof"));
  if (!proof) return report(proof.error()), kExitUsage;
  const auto* type = bundle.if_contains("type");
  std::string kind = type && type->is_string() ? std::string(type->get_string()) : "";

  if (kind == "inclusion") {
    auto index = int_field(bundle, "index");
    auto size = int_field(bundle, "size");
    if (!index || !size || *index < 0 || *size < 1)
      return report({ErrorCode::invalid_argument, "proof: index and size are required"}),
             kExitUsage;
    const audit::Checkpoint* checkpoint = checkpoint_for(*size);
    if (checkpoint == nullptr)
      return refuse(fmt::format("no checkpoint signed by {} for tree size {}", key->vkey(), *size));
    // The leaf is recomputed from the event itself, so the proof is about
    // this exact content.
    const auto* event_json = bundle.if_contains("event");
    if (event_json == nullptr) return refuse("the proof carries no event");
    auto event = audit::event_from_json(*event_json);
    if (!event) return refuse("the proof's event is malformed: " + event.error().message);
    if (event->index != *index)
      return refuse(
          fmt::format("the proof is for index {} but its event is event {}", *index, event->index));
    auto leaf_hex = audit::leaf_hash(*event);
    if (!leaf_hex) return refuse(leaf_hex.error().message);
    auto leaf = audit::hash_from_hex(*leaf_hex);
    auto verified =
        audit::verify_inclusion(static_cast<std::uint64_t>(*index),
                                static_cast<std::uint64_t>(*size), *leaf, *proof, checkpoint->root);
    if (!verified) return refuse(fmt::format("event {}: {}", *index, verified.error().message));
    std::cout << fmt::format(
        "proof verified: event {} ({}, {}) is in the log of {} events signed by {}\n", *index,
        event->type, format_time(event->time), *size, key->vkey());
    return kExitOk;
  }
  if (kind == "consistency") {
    auto from = int_field(bundle, "from");
    auto to = int_field(bundle, "to");
    if (!from || !to || *from < 0 || *to < *from)
      return report({ErrorCode::invalid_argument, "proof: from and to are required"}), kExitUsage;
    const audit::Checkpoint* old_checkpoint = checkpoint_for(*from);
    const audit::Checkpoint* new_checkpoint = checkpoint_for(*to);
    if (old_checkpoint == nullptr || new_checkpoint == nullptr)
      return refuse(fmt::format("need checkpoints signed by {} for sizes {} and {}", key->vkey(),
                                *from, *to));
    auto verified = audit::verify_consistency(static_cast<std::uint64_t>(*from),
                                              static_cast<std::uint64_t>(*to), old_checkpoint->root,
                                              new_checkpoint->root, *proof);
    if (!verified)
      return refuse(fmt::format("sizes {} -> {}: {}", *from, *to, verified.error().message));
    std::cout << fmt::format(
        "proof verified: the log of {} events extends the log of {} events (signed by {})\n", *to,
        *from, key->vkey());
    return kExitOk;
  }
  return report({ErrorCode::invalid_argument, "proof: type must be inclusion or consistency"}),
         kExitUsage;
}

struct CheckpointCommand {
  std::string config_path;
};

// Prints the latest checkpoint (save it somewhere the gateway's operator cannot write).
int checkpoint(const ClientOptions& client, const CheckpointCommand& options) {
  if (options.config_path.empty()) {
    auto answer = call(client, "GET", "/v1/audit/checkpoint?format=json");
    if (!answer) return report(answer.error());
    if (client.json) {
      std::cout << boost::json::serialize(answer->body) << "\n";
      return kExitOk;
    }
    const auto* note = answer->body.as_object().if_contains("note");
    if (note == nullptr || !note->is_string())
      return report({ErrorCode::internal, "no note in the answer"});
    std::cout << std::string_view(note->get_string());
    return kExitOk;
  }
  auto config = config::load_config(options.config_path);
  if (!config) return report(config.error());
  auto store = store::SqliteStore::open(config->sqlite_path, kReaderOptions);
  if (!store) return report(store.error());
  auto latest = (*store)->latest_checkpoint();
  if (!latest) return report(latest.error());
  if (!*latest) return report({ErrorCode::not_found, "no checkpoint has been issued yet"});
  std::cout << (*latest)->note;
  return kExitOk;
}

// --from/--to of export and evidence: milliseconds, RFC 3339 UTC
// ("2026-11-01T00:00:00Z") or a day ("2026-11-01", its start in UTC).
Result<Millis> period_time(const std::string& option, const std::string& text) {
  if (text.empty()) return 0;
  if (text.find_first_not_of("0123456789") == std::string::npos && text.size() < 18)
    return std::stoll(text);
  std::tm parts{};
  int consumed = 0;
  int fields = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &parts.tm_year, &parts.tm_mon,
                           &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec, &consumed);
  bool day_only = fields == 3 && text.size() == 10;
  if (fields == 6 || day_only) {
    Millis millis = 0;
    if (fields == 6 && text.size() > static_cast<std::size_t>(consumed)) {
      std::string_view rest = std::string_view(text).substr(static_cast<std::size_t>(consumed));
      if (rest.starts_with(".")) {
        std::size_t digits = rest.find_first_not_of("0123456789", 1);
        std::string fraction(rest.substr(1, std::min<std::size_t>(digits, 4) - 1));
        while (fraction.size() < 3) fraction.push_back('0');
        millis = std::stoll(fraction.substr(0, 3));
        rest.remove_prefix(digits == std::string_view::npos ? rest.size() : digits);
      }
      if (rest != "Z") return fail(ErrorCode::invalid_argument, option + ": use UTC ('Z')");
    }
    parts.tm_year -= 1900;
    parts.tm_mon -= 1;
    return static_cast<Millis>(timegm(&parts)) * 1000 + millis;
  }
  return fail(ErrorCode::invalid_argument,
              option + " must be milliseconds, RFC 3339 UTC or a day (YYYY-MM-DD)");
}

// Every event with from <= time < to (0 = unbounded), in index order.
Result<void> each_event(store::Store& store, Millis from, Millis to,
                        const std::function<bool(const audit::AuditEvent&)>& visit) {
  store::AuditFilter filter;
  filter.from = from;
  filter.to = to;
  filter.limit = 1000;
  for (;;) {
    auto page = store.list_events(filter);
    if (!page) return std::unexpected(page.error());
    for (const auto& event : page->events)
      if (!visit(event)) return {};
    if (page->next_cursor < 0) return {};
    filter.after_index = page->next_cursor;
  }
}

struct ExportCommand {
  std::string config_path, format = "jsonl", from, to, out;
};

// JSON Lines of the events (with index and leaf hash) or OCSF records.
int export_events(const ExportCommand& options) {
  auto from = period_time("--from", options.from);
  if (!from) return report(from.error()), kExitUsage;
  auto to = period_time("--to", options.to);
  if (!to) return report(to.error()), kExitUsage;
  auto config = config::load_config(options.config_path);
  if (!config) return report(config.error());
  auto store = store::SqliteStore::open(config->sqlite_path, kReaderOptions);
  if (!store) return report(store.error());
  std::ofstream file;
  if (!options.out.empty()) {
    file.open(options.out, std::ios::binary | std::ios::trunc);
    if (!file)
      return report({ErrorCode::invalid_argument, "cannot write " + options.out}), kExitUsage;
  }
  std::ostream& out = options.out.empty() ? std::cout : file;
  const bool ocsf = options.format == "ocsf";
  std::int64_t count = 0;
  Error problem{ErrorCode::internal, ""};
  auto exported = each_event(**store, *from, *to, [&](const audit::AuditEvent& event) {
    auto leaf = audit::leaf_hash(event);
    if (!leaf) {
      problem = leaf.error();
      return false;
    }
    auto record = ocsf ? audit::ocsf_record(event, *leaf) : audit::export_record(event, *leaf);
    out << boost::json::serialize(record) << '\n';
    ++count;
    return true;
  });
  if (!exported) return report(exported.error());
  if (!problem.message.empty()) return report(problem);
  out.flush();
  if (!out) return report({ErrorCode::internal, "cannot write the export"});
  std::cerr << fmt::format("exported {} events ({})\n", count, options.format);
  return kExitOk;
}

struct EvidenceCommand {
  std::string config_path, from, to, out, pubkey;
};

// The SOC 2 evidence report: verification, checkpoint and figures of a period.
int evidence(const EvidenceCommand& options) {
  auto from = period_time("--from", options.from);
  if (!from) return report(from.error()), kExitUsage;
  auto to = period_time("--to", options.to);
  if (!to) return report(to.error()), kExitUsage;
  if (*from > 0 && *to > 0 && *to <= *from)
    return report({ErrorCode::invalid_argument, "--to must be after --from"}), kExitUsage;
  auto config = config::load_config(options.config_path);
  if (!config) return report(config.error());
  audit::VerifyOptions verify_options;
  auto verifier = checkpoint_verifier(options.pubkey, *config);
  if (!verifier) return report(verifier.error()), kExitUsage;
  verify_options.key = std::move(*verifier);
  auto store = store::SqliteStore::open(config->sqlite_path, kReaderOptions);
  if (!store) return report(store.error());
  audit::EvidenceLog log;
  if (verify_options.key) log.verifier_key = verify_options.key->vkey();
  auto verified = server::verify_store(**store, std::move(verify_options));
  if (!verified) return report(verified.error());
  log.intact = verified->intact;
  log.total_events = verified->events;
  if (verified->intact) {
    log.verification =
        fmt::format("intact: {} events, root {}, {} checkpoints ({} signed)", verified->events,
                    to_hex(verified->root), verified->checkpoints, verified->signed_checkpoints);
  } else {
    const audit::VerifyProblem& first = verified->problems.front();
    log.verification = first.index >= 0
                           ? fmt::format("NOT intact: event {}: {}", first.index, first.message)
                           : "NOT intact: " + first.message;
  }
  auto latest = (*store)->latest_checkpoint();
  if (!latest) return report(latest.error());
  if (*latest) {
    log.checkpoint_size = (*latest)->size;
    log.checkpoint_time = (*latest)->time;
    log.checkpoint_note = (*latest)->note;
  }
  std::vector<audit::AuditEvent> events;
  auto read = each_event(**store, *from, *to, [&](const audit::AuditEvent& event) {
    events.push_back(event);
    return true;
  });
  if (!read) return report(read.error());
  auto summary = audit::summarize(events, *from, *to);
  SystemClock clock;
  std::string html = audit::evidence_html(summary, log, *from, *to, clock.now());
  std::ofstream file(options.out, std::ios::binary | std::ios::trunc);
  if (!(file << html) || !file.flush())
    return report({ErrorCode::invalid_argument, "cannot write " + options.out}), kExitUsage;
  std::cerr << fmt::format("evidence for {} events, {} privileged actions written to {} (log {})\n",
                           summary.events, summary.reviewed.size(), options.out,
                           log.intact ? "intact" : "NOT intact");
  return log.intact ? kExitOk : kExitDenied;
}

}  // namespace

void add_audit_commands(CLI::App& app, ClientOptions& client, int& exit_code) {
  auto* audit = app.add_subcommand(
      "audit", "Search and verify the audit log; prove events and consistency; signing keys");
  audit->require_subcommand(1);

  auto* controls_command = audit->add_subcommand(
      "controls", "Print the SOC 2 Trust Services Criteria each event type evidences (Markdown)");
  controls_command->callback([&] {
    std::cout << audit::soc2_markdown_table();
    exit_code = kExitOk;
  });

  static ExportCommand export_options;
  auto* export_command = audit->add_subcommand(
      "export",
      "Write the events as JSON Lines (with index and leaf hash) or OCSF, from the database");
  export_command->add_option("--config", export_options.config_path, "Configuration file (storage)")
      ->required();
  export_command->add_option("--format", export_options.format, "jsonl or ocsf")
      ->check(CLI::IsMember({"jsonl", "ocsf"}))
      ->capture_default_str();
  export_command->add_option("--from", export_options.from,
                             "Start time, inclusive (ms, RFC 3339, YYYY-MM-DD)");
  export_command->add_option("--to", export_options.to,
                             "End time, exclusive (ms, RFC 3339, YYYY-MM-DD)");
  export_command->add_option("--out", export_options.out, "Write to this file instead of stdout");
  export_command->callback([&] { exit_code = export_events(export_options); });

  static EvidenceCommand evidence_options;
  auto* evidence_command = audit->add_subcommand(
      "evidence", "Write a self-contained HTML SOC 2 evidence report for a period");
  evidence_command
      ->add_option("--config", evidence_options.config_path,
                   "Configuration file (storage, audit key)")
      ->required();
  evidence_command->add_option("--from", evidence_options.from,
                               "Start, inclusive (ms, RFC 3339, YYYY-MM-DD)");
  evidence_command->add_option("--to", evidence_options.to,
                               "End, exclusive (ms, RFC 3339, YYYY-MM-DD)");
  evidence_command->add_option("--out", evidence_options.out, "The HTML file to write")->required();
  evidence_command->add_option(
      "--pubkey", evidence_options.pubkey,
      "Verifier key NAME+HASH+KEY (or file:PATH); default: from audit.signing_key");
  evidence_command->callback([&] { exit_code = evidence(evidence_options); });

  static SearchOptions options;
  auto* search_command = audit->add_subcommand("search", "Search audit events (oldest first)");
  search_command->add_option("--actor", options.actor, "Subject that caused the event");
  search_command->add_option("--verb", options.verb, "Action verb");
  search_command->add_option("--type", options.type, "Event type, e.g. review.approved");
  search_command->add_option("--target", options.target, "Target the action was on");
  search_command->add_option("--review", options.review, "Review id");
  search_command->add_option(
      "--q", options.text,
      "Words in the masked details, in order, any case ('word*' for a prefix)");
  search_command->add_option("--cursor", options.cursor, "Continue after a previous page");
  search_command->add_option("--from", options.from, "Start time (RFC 3339 or ms)");
  search_command->add_option("--to", options.to, "End time (RFC 3339 or ms)");
  search_command->add_option("--limit", options.limit, "At most this many (1-1000)")
      ->check(CLI::Range(1, 1000));
  add_client_options(*search_command, client);
  search_command->callback([&] { exit_code = search(client, options); });

  static VerifyCommand verify_options;
  auto* verify_command = audit->add_subcommand(
      "verify",
      "Recompute every leaf, the chain and the Merkle tree; check stored checkpoints (signatures, "
      "consistency) and that the log extends --checkpoint; exit 1 naming the first bad event");
  verify_command
      ->add_option("--config", verify_options.config_path,
                   "Configuration file (storage, audit key)")
      ->required();
  verify_command->add_option("--checkpoint", verify_options.checkpoint_path,
                             "A checkpoint saved elsewhere that the log must extend");
  verify_command->add_option(
      "--pubkey", verify_options.pubkey,
      "Verifier key NAME+HASH+KEY (or file:PATH); default: from audit.signing_key");
  verify_command->add_flag("--json", verify_options.json, "Print JSON");
  verify_command->callback([&] { exit_code = verify(verify_options); });

  static KeygenCommand keygen_options;
  auto* keygen_command = audit->add_subcommand(
      "keygen", "Create an Ed25519 checkpoint signing key; print the verifier key for auditors");
  keygen_command
      ->add_option("--name", keygen_options.name, "Key name = checkpoint origin (no spaces or '+')")
      ->capture_default_str();
  keygen_command->add_option("--out", keygen_options.out,
                             "Write the signing key to this file (mode 0600) instead of stdout");
  keygen_command->add_flag("--force", keygen_options.force, "Replace an existing --out file");
  keygen_command->callback([&] { exit_code = keygen(keygen_options); });

  static ProveCommand prove_options;
  auto* prove_command = audit->add_subcommand(
      "prove",
      "Print the inclusion proof of event INDEX (or a consistency proof with --from) as JSON");
  prove_command->add_option("index", prove_options.index, "Event index")
      ->check(CLI::NonNegativeNumber);
  prove_command->add_option("--size", prove_options.size,
                            "Tree size to prove against (default: the latest checkpoint)");
  prove_command->add_option("--from", prove_options.from,
                            "Prove the tree of --size events extends the tree of this many");
  prove_command->add_option("--config", prove_options.config_path,
                            "Read the database directly instead of asking the server");
  add_client_options(*prove_command, client, false);
  prove_command->callback([&] { exit_code = prove(client, prove_options); });

  static VerifyProofCommand proof_options;
  auto* verify_proof_command = audit->add_subcommand(
      "verify-proof", "Check a proof from `audit prove` against signed checkpoints, offline");
  verify_proof_command->add_option("--proof", proof_options.proof_path, "Proof JSON file")
      ->required();
  verify_proof_command
      ->add_option("--pubkey", proof_options.pubkey, "Verifier key NAME+HASH+KEY (or file:PATH)")
      ->required();
  verify_proof_command->add_option("--checkpoint", proof_options.checkpoint_paths,
                                   "Signed checkpoint file(s); default: the ones inside the proof");
  verify_proof_command->callback([&] { exit_code = verify_proof(proof_options); });

  static CheckpointCommand checkpoint_options;
  auto* checkpoint_command =
      audit->add_subcommand("checkpoint", "Print the latest signed checkpoint (save it elsewhere)");
  checkpoint_command->add_option("--config", checkpoint_options.config_path,
                                 "Read the database directly instead of asking the server");
  add_client_options(*checkpoint_command, client);
  checkpoint_command->callback([&] { exit_code = checkpoint(client, checkpoint_options); });
}

}  // namespace countersign::cli
