// Audit appends per second through SqliteStore::append_events: one event per
// call, from 1, 16 and 256 threads on one store. Each call returns only once
// its event is committed (WAL, synchronous=NORMAL, like the gateway); group
// commit lets concurrent callers share a transaction, so throughput grows
// with the number of writers. Each event also extends the Merkle tree
// (leaf hash + about one interior node per event). BM_AppendQueued queues
// 256 events at a time from one thread without blocking (as the HTTP door
// does) and waits for all of them: the writer thread's own rate.
//
//   ninja -C build bench/audit_append_bench && ./build/audit_append_bench
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
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

// What an event loop does (the HTTP door): queue events without waiting
// (append_events_async), here 256 at a time, and count them once the store
// reports them committed. Measures the writer thread alone, without the
// cost of waking 256 blocked threads.
void BM_AppendQueued(benchmark::State& state) {
  remove_database();
  auto opened = SqliteStore::open(database_path());
  if (!opened) {
    state.SkipWithError(opened.error().message.c_str());
    return;
  }
  std::unique_ptr<SqliteStore> store = std::move(*opened);
  const countersign::audit::AuditEvent event = sample_event(0);
  const int in_flight = static_cast<int>(state.range(0));
  std::mutex mutex;
  std::condition_variable all_done;
  int outstanding = 0;
  bool failed = false;
  for (auto _ : state) {
    {
      std::lock_guard lock(mutex);
      outstanding = in_flight;
    }
    for (int i = 0; i < in_flight; ++i)
      store->append_events_async({event}, [&](countersign::Result<void> appended) {
        std::lock_guard lock(mutex);
        if (!appended) failed = true;
        if (--outstanding == 0) all_done.notify_one();
      });
    std::unique_lock lock(mutex);
    all_done.wait(lock, [&] { return outstanding == 0; });
    if (failed) {
      state.SkipWithError("append failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * in_flight);
  state.counters["log_size"] = static_cast<double>(store->event_count().value_or(-1));
  store.reset();
  remove_database();
}

BENCHMARK(BM_AppendQueued)->Arg(256)->UseRealTime()->MinTime(2.0);

BENCHMARK(BM_AppendOneEvent)->Threads(1)->Threads(16)->Threads(256)->UseRealTime()->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
