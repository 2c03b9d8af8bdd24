// Audit appends per second through SqliteStore::append_events: one event per
// call, from 1, 16 and 256 threads on one store. Each call returns only once
// its event is committed (WAL, synchronous=NORMAL, like the gateway); group
// commit lets concurrent callers share a transaction, so throughput grows
// with the number of writers. Each event also extends the Merkle tree
// (leaf hash + about one interior node per event).
//
//   ninja -C build bench/audit_append_bench && ./build/audit_append_bench
#include <filesystem>
#include <memory>
#include <string>

#include <benchmark/benchmark.h>

#include "core/hash.h"
#include "store/sqlite/sqlite_store.h"

namespace {

using countersign::store::SqliteStore;

std::string database_path() {
  static const std::string path = (std::filesystem::temp_directory_path() /
                                   ("cs_audit_bench_" + countersign::new_id("b") + ".db"))
                                      .string();
  return path;
}

void remove_database() {
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::error_code ignored;
    std::filesystem::remove(database_path() + suffix, ignored);
  }
}

std::unique_ptr<SqliteStore> shared_store;

countersign::audit::AuditEvent sample_event(int thread) {
  countersign::audit::AuditEvent event;
  event.time = 1'700'000'000'000;
  event.type = "action.decided";
  event.actor = "agent:bench-" + std::to_string(thread);
  event.action_digest = countersign::sha256_hex("action");
  event.details = boost::json::object{{"verb", "tools/call:read_file"},
                                      {"target", "files"},
                                      {"effect", "allow"},
                                      {"rules", boost::json::array{"read-tools"}}};
  return event;
}

void BM_AppendOneEvent(benchmark::State& state) {
  if (state.thread_index() == 0) {
    remove_database();
    auto opened = SqliteStore::open(database_path());
    if (!opened) {
      state.SkipWithError(opened.error().message.c_str());
      return;
    }
    shared_store = std::move(*opened);
  }
  // Benchmark's threads start their timing loops together after setup.
  const countersign::audit::AuditEvent event = sample_event(state.thread_index());
  for (auto _ : state) {
    std::vector<countersign::audit::AuditEvent> batch{event};
    auto appended = shared_store->append_events(batch);
    if (!appended) {
      state.SkipWithError(appended.error().message.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    state.counters["log_size"] = static_cast<double>(shared_store->event_count().value_or(-1));
    // Tearing down here is safe: thread 0 leaves the loop only after all
    // threads have (the loop end is a barrier).
    shared_store.reset();
    remove_database();
  }
}

BENCHMARK(BM_AppendOneEvent)->Threads(1)->Threads(16)->Threads(256)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
