// Full verification of a large audit log (what `countersign audit verify`
// does): every leaf, the chain, the stored tree and every checkpoint.
//
// The log is generated once into $CS_AUDIT_BENCH_DIR (default: a temporary
// directory) with $CS_AUDIT_BENCH_EVENTS events (default 1,000,000) and a
// signed checkpoint every 100,000 events; the directory also gets a config
// (audit-bench.yaml) and key so the CLI can be timed on the same log:
//
//   CS_AUDIT_BENCH_DIR=/tmp/audit-bench ./build/audit_verify_bench
//   time ./build/countersign audit verify --config /tmp/audit-bench/audit-bench.yaml
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "audit/note.h"
#include "core/clock.h"
#include "core/hash.h"
#include "server/audit_api.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using countersign::store::SqliteStore;
namespace audit = countersign::audit;

std::filesystem::path bench_dir() {
  const char* dir = std::getenv("CS_AUDIT_BENCH_DIR");
  return dir && *dir ? std::filesystem::path(dir)
                     : std::filesystem::temp_directory_path() / "countersign-audit-bench";
}

std::int64_t bench_events() {
  const char* events = std::getenv("CS_AUDIT_BENCH_EVENTS");
  return events && *events ? std::atoll(events) : 1'000'000;
}

audit::AuditEvent sample_event(std::int64_t n) {
  audit::AuditEvent event;
  event.time = 1'700'000'000'000 + n;
  event.type = n % 3 == 0 ? "action.decided" : (n % 3 == 1 ? "review.voted" : "grant.issued");
  event.actor = "agent:bench-" + std::to_string(n % 97);
  event.action_digest = countersign::sha256_hex("action " + std::to_string(n % 1000));
  event.review_id = "rv_" + std::to_string(n / 7);
  event.details = boost::json::object{{"verb", "exec:deploy"},
                                      {"target", n % 2 ? "production" : "staging"},
                                      {"effect", "review"},
                                      {"params", {{"service", "web"}, {"version", n}}},
                                      {"rules", boost::json::array{"production-changes"}}};
  return event;
}

// Generates the log unless the directory already holds one of the right size.
std::string prepare_log() {
  const auto dir = bench_dir();
  const auto config = dir / "audit-bench.yaml";
  const auto database = dir / "audit-bench.db";
  const std::int64_t events = bench_events();
  std::filesystem::create_directories(dir);
  auto opened = SqliteStore::open(database.string());
  if (!opened) return "";
  auto& store = **opened;
  if (store.event_count().value_or(0) == events) return config.string();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ignored;
    opened->reset();
    std::filesystem::remove(database.string() + suffix, ignored);
  }
  opened = SqliteStore::open(database.string());
  if (!opened) return "";
  auto signer = audit::NoteSigner::generate("bench.example/audit");
  {
    std::ofstream key(dir / "audit-key");
    key << signer->skey() << "\n";
    std::ofstream yaml(config);
    yaml << "storage:\n  sqlite: audit-bench.db\naudit:\n  signing_key: file:audit-key\n";
  }
  countersign::config::AuditSettings settings;
  settings.signing_key = countersign::config::SecretRef{"file:" + (dir / "audit-key").string(), {}};
  settings.checkpoint_events = 100'000;
  settings.checkpoint_interval = 1'000'000'000;
  countersign::ManualClock clock;
  countersign::server::AuditLog log(settings, **opened, clock);
  for (std::int64_t n = 0; n < events;) {
    std::vector<audit::AuditEvent> batch;
    for (int i = 0; i < 5000 && n < events; ++i) batch.push_back(sample_event(n++));
    if (!(*opened)->append_events(batch)) return "";
    if (!log.checkpoint_if_due()) return "";
  }
  return config.string();
}

void BM_VerifyLog(benchmark::State& state) {
  static const std::string config = prepare_log();
  if (config.empty()) {
    state.SkipWithError("cannot generate the log");
    return;
  }
  auto opened = SqliteStore::open((bench_dir() / "audit-bench.db").string());
  if (!opened) {
    state.SkipWithError(opened.error().message.c_str());
    return;
  }
  auto skey = std::ifstream(bench_dir() / "audit-key");
  std::string line;
  std::getline(skey, line);
  auto signer = audit::NoteSigner::parse(line);
  for (auto _ : state) {
    audit::VerifyOptions options;
    options.key = signer->verifier();
    auto report = countersign::server::verify_store(**opened, std::move(options));
    if (!report || !report->intact) {
      state.SkipWithError("the generated log does not verify");
      return;
    }
    state.counters["events"] = static_cast<double>(report->events);
    state.counters["checkpoints"] = static_cast<double>(report->checkpoints);
  }
  state.SetItemsProcessed(state.iterations() * bench_events());
}

BENCHMARK(BM_VerifyLog)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
