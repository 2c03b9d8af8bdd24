#include "server/audit_api.h"

#include <charconv>
#include <iostream>

#include <fmt/format.h>
#include <boost/json.hpp>

#include "audit/event.h"
#include "gateway/gateway.h"

namespace countersign::server {
namespace {

namespace json = boost::json;

ApiResponse json_answer(const json::value& body) {
  ApiResponse response;
  response.body = json::serialize(body);
  response.body.push_back('\n');
  return response;
}

json::array hex_list(const std::vector<audit::Hash>& hashes) {
  json::array out;
  for (const audit::Hash& hash : hashes) out.emplace_back(to_hex(hash));
  return out;
}

// An optional non-negative integer query parameter.
Result<std::optional<std::int64_t>> size_parameter(const ApiRequest& request, const char* name) {
  auto found = request.query.find(name);
  if (found == request.query.end() || found->second.empty()) return std::optional<std::int64_t>();
  std::int64_t value = 0;
  const std::string& text = found->second;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 0)
    return fail(ErrorCode::invalid_argument,
                fmt::format("query parameter '{}' must be a non-negative integer", name));
  return std::optional<std::int64_t>(value);
}

// The size proofs default to: the latest checkpoint's, so that what is
// proved is what was signed.
Result<std::int64_t> default_size(store::Store& store, AuditLog& log) {
  auto latest = store.latest_checkpoint();
  if (!latest) return std::unexpected(latest.error());
  if (!*latest)
    return fail(ErrorCode::failed_precondition,
                fmt::format("no checkpoint has been issued yet (one comes within {})",
                            format_duration(log.interval())));
  return (*latest)->size;
}

json::object checkpoint_json(const store::StoredCheckpoint& checkpoint) {
  json::object out{{"size", checkpoint.size},
                   {"time", checkpoint.time},
                   {"time_text", format_time(checkpoint.time)},
                   {"note", checkpoint.note}};
  if (auto parsed = audit::parse_signed_checkpoint(checkpoint.note, true)) {
    out["origin"] = parsed->checkpoint.origin;
    out["root"] = to_hex(parsed->checkpoint.root);
    json::array signers;
    for (const auto& signature : parsed->note.signatures)
      signers.emplace_back(signature.name + "+" + audit::key_hash_hex(signature.key_hash));
    out["signed_by"] = std::move(signers);
  }
  return out;
}

}  // namespace

Result<std::optional<audit::NoteSigner>> load_audit_signer(const config::AuditSettings& settings) {
  if (!settings.signing_key) return std::optional<audit::NoteSigner>();
  auto secret = config::resolve_secret(*settings.signing_key);
  if (!secret) return std::unexpected(secret.error());
  auto signer = audit::NoteSigner::parse(*secret);
  if (!signer)
    return fail(
        ErrorCode::invalid_argument,
        located(settings.signing_key->location, "audit.signing_key: " + signer.error().message));
  return std::optional<audit::NoteSigner>(std::move(*signer));
}

AuditLog::AuditLog(const config::AuditSettings& settings, store::Store& store, const Clock& clock)
    : settings_(settings), store_(store), clock_(clock), started_(clock.now()) {
  auto signer = load_audit_signer(settings);
  if (signer) {
    signer_ = std::move(*signer);
  } else {
    signer_error_ = signer.error().message;
  }
}

std::string AuditLog::origin() const { return signer_ ? signer_->name() : kUnsignedOrigin; }

Result<std::optional<store::StoredCheckpoint>> AuditLog::checkpoint_if_due() {
  return issue(false);
}

Result<std::optional<store::StoredCheckpoint>> AuditLog::checkpoint_now() { return issue(true); }

Result<std::optional<store::StoredCheckpoint>> AuditLog::issue(bool force) {
  std::lock_guard lock(mutex_);
  if (signer_error_) {
    // A configured key that cannot be used must not silently become
    // unsigned checkpoints: say so once and issue none.
    std::cerr << "countersign: audit checkpoints are not issued: " << *signer_error_ << std::endl;
    signer_error_ = "";
    return fail(ErrorCode::failed_precondition, "the audit signing key cannot be used");
  }
  if (settings_.signing_key && !signer_)
    return fail(ErrorCode::failed_precondition, "the audit signing key cannot be used");
  if (!last_loaded_) {
    auto latest = store_.latest_checkpoint();
    if (!latest) return std::unexpected(latest.error());
    last_ = std::move(*latest);
    last_loaded_ = true;
  }
  auto head = store_.tree_head();
  if (!head) return std::unexpected(head.error());
  const std::int64_t last_size = last_ ? last_->size : 0;
  if (head->size == 0 || head->size <= last_size) return std::optional<store::StoredCheckpoint>();
  const Millis now = clock_.now();
  // The interval runs from the last checkpoint, or from start-up before the first.
  const Millis since = last_ ? last_->time : started_;
  const bool due = force || head->size - last_size >= settings_.checkpoint_events ||
                   now - since >= settings_.checkpoint_interval;
  if (!due) return std::optional<store::StoredCheckpoint>();

  audit::Checkpoint checkpoint{origin(), static_cast<std::uint64_t>(head->size), head->root, {}};
  audit::Note note{audit::checkpoint_text(checkpoint), {}};
  if (signer_) {
    if (auto signed_ok = audit::add_signature(note, *signer_); !signed_ok)
      return std::unexpected(signed_ok.error());
  }
  store::StoredCheckpoint stored{head->size, now, audit::format_note(note)};
  auto added = store_.add_checkpoint(stored);
  if (!added && added.error().code == ErrorCode::conflict) {
    last_loaded_ = false;  // another writer issued it; reload next time
    return std::optional<store::StoredCheckpoint>();
  }
  if (!added) return std::unexpected(added.error());
  last_ = stored;
  return std::optional<store::StoredCheckpoint>(std::move(stored));
}

std::shared_ptr<AuditLog> make_audit_log(gateway::Gateway& gateway) {
  return std::make_shared<AuditLog>(gateway.config().audit, gateway.store(), gateway.clock());
}

Result<boost::json::object> inclusion_bundle(store::Store& store, std::int64_t index,
                                             std::int64_t size) {
  auto proof = store.inclusion_proof(index, size);
  if (!proof) return std::unexpected(proof.error());
  auto root = store.tree_root(size);
  if (!root) return std::unexpected(root.error());
  auto event = store.get_event(index);
  if (!event) return std::unexpected(event.error());
  auto leaf = audit::leaf_hash(*event);
  if (!leaf) return std::unexpected(leaf.error());
  json::object bundle{{"type", "inclusion"},
                      {"index", index},
                      {"size", size},
                      {"leaf_hash", *leaf},
                      {"root", to_hex(*root)},
                      {"proof", hex_list(*proof)},
                      {"event", audit::to_json(*event)}};
  auto checkpoint = store.checkpoint_at(size);
  if (!checkpoint) return std::unexpected(checkpoint.error());
  if (*checkpoint) bundle["checkpoint"] = (*checkpoint)->note;
  return bundle;
}

Result<boost::json::object> consistency_bundle(store::Store& store, std::int64_t from,
                                               std::int64_t to) {
  auto proof = store.consistency_proof(from, to);
  if (!proof) return std::unexpected(proof.error());
  auto old_root = store.tree_root(from);
  if (!old_root) return std::unexpected(old_root.error());
  auto new_root = store.tree_root(to);
  if (!new_root) return std::unexpected(new_root.error());
  json::object bundle{{"type", "consistency"},
                      {"from", from},
                      {"to", to},
                      {"from_root", to_hex(*old_root)},
                      {"to_root", to_hex(*new_root)},
                      {"proof", hex_list(*proof)}};
  for (auto [key, size] : {std::pair{"from_checkpoint", from}, std::pair{"to_checkpoint", to}}) {
    auto checkpoint = store.checkpoint_at(size);
    if (!checkpoint) return std::unexpected(checkpoint.error());
    if (*checkpoint) bundle[key] = (*checkpoint)->note;
  }
  return bundle;
}

Result<audit::VerifyReport> verify_store(store::Store& store, audit::VerifyOptions options) {
  audit::LogVerifier verifier(std::move(options));
  auto scanned = store.scan_events([&](const store::RawAuditEvent& event) {
    return verifier.add_event(event.index, event.body, event.leaf_hash, event.previous_hash,
                              event.hash, &event.columns);
  });
  if (!scanned) return std::unexpected(scanned.error());
  if (!verifier.event_problem()) {
    verifier.finish_events();
    auto nodes =
        store.scan_tree([&](unsigned level, std::uint64_t position, std::string_view hash) {
          verifier.check_tree_node(level, position, hash);
        });
    if (!nodes) return std::unexpected(nodes.error());
    verifier.check_tree_node_count(*nodes);
    auto checkpoints = store.list_checkpoints();
    if (!checkpoints) return std::unexpected(checkpoints.error());
    std::vector<audit::StoredCheckpointRow> rows;
    for (auto& checkpoint : *checkpoints)
      rows.push_back({checkpoint.size, std::move(checkpoint.note)});
    verifier.check_checkpoints(std::move(rows));
    verifier.check_external();
  }
  return verifier.report();
}

ApiResponse handle_audit_request(const ApiRequest& request, store::Store& store, AuditLog& log,
                                 const std::string& what) {
  if (what == "checkpoint") {
    auto latest = store.latest_checkpoint();
    if (!latest) return error_response(latest.error());
    if (!*latest)
      return error_response({ErrorCode::not_found,
                             fmt::format("no checkpoint has been issued yet (one comes within {})",
                                         format_duration(log.interval()))});
    auto format = request.query.find("format");
    if (format != request.query.end() && format->second == "json") {
      json::object body = checkpoint_json(**latest);
      if (log.signer()) body["verifier_key"] = log.signer()->verifier().vkey();
      return json_answer(body);
    }
    // The checkpoint itself, as tlog clients and `audit verify --checkpoint` read it.
    ApiResponse response;
    response.content_type = "text/plain; charset=utf-8";
    response.body = (*latest)->note;
    return response;
  }
  if (what == "proof") {
    auto index = size_parameter(request, "index");
    if (!index) return error_response(index.error());
    if (!*index) return error_response({ErrorCode::invalid_argument, "index is required"});
    auto size = size_parameter(request, "size");
    if (!size) return error_response(size.error());
    std::int64_t tree_size = 0;
    if (*size) {
      tree_size = **size;
    } else {
      auto latest = default_size(store, log);
      if (!latest) return error_response(latest.error());
      tree_size = *latest;
      if (**index >= tree_size)
        return error_response(
            {ErrorCode::failed_precondition,
             fmt::format("event {} is not yet covered by a checkpoint (the latest covers {} "
                         "events; the next comes within {}), or pass size",
                         **index, tree_size, format_duration(log.interval()))});
    }
    auto bundle = inclusion_bundle(store, **index, tree_size);
    if (!bundle) return error_response(bundle.error());
    return json_answer(*bundle);
  }
  if (what == "consistency") {
    auto from = size_parameter(request, "from");
    if (!from) return error_response(from.error());
    if (!*from) return error_response({ErrorCode::invalid_argument, "from is required"});
    auto to = size_parameter(request, "to");
    if (!to) return error_response(to.error());
    std::int64_t to_size = 0;
    if (*to) {
      to_size = **to;
    } else {
      auto latest = default_size(store, log);
      if (!latest) return error_response(latest.error());
      to_size = *latest;
    }
    auto bundle = consistency_bundle(store, **from, to_size);
    if (!bundle) return error_response(bundle.error());
    return json_answer(*bundle);
  }
  return error_response({ErrorCode::not_found, "no such endpoint: " + request.path});
}

}  // namespace countersign::server
