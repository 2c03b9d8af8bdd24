// The CPU cost of one audit event before it reaches SQLite: RFC 8785
// canonical JSON of a typical event body, and sealing one event (canonical
// body, leaf hash, chain hash). BM_CanonicalizeEventBody builds the body
// object and canonicalizes it (the generic path); BM_LeafHash and
// BM_SealOneEvent go through the audit module as the store does. Also a
// key-sorting case with non-ASCII keys, where UTF-16 order matters.
//
//   ninja -C build canonical_json_bench && ./build/canonical_json_bench
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/json.hpp>

#include "audit/event.h"
#include "core/canonical_json.h"
#include "core/hash.h"

namespace {

namespace audit = countersign::audit;

// What the HTTP door writes for an allowed request.
audit::AuditEvent typical_event() {
  audit::AuditEvent event;
  event.time = 1'700'000'000'000;
  event.type = "action.decided";
  event.actor = "agent:deploy-bot";
  event.action_digest = countersign::sha256_hex("action");
  event.details = boost::json::object{
      {"door", "http"},
      {"target", "billing-api"},
      {"verb", "http:GET /invoices/{id}"},
      {"effect", "allow"},
      {"rules", boost::json::array{"read-invoices"}},
      {"reason", "monthly report \"Q3\""},
      {"client_addr", "10.0.0.7"},
      {"params", boost::json::object{{"id", "inv_123"}, {"limit", 50}, {"ratio", 0.25}}}};
  event.controls = audit::controls_for(event.type);
  return event;
}

void BM_CanonicalizeEventBody(benchmark::State& state) {
  const audit::AuditEvent event = typical_event();
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto canonical = countersign::canonicalize(audit::event_body(event));
    benchmark::DoNotOptimize(canonical);
    bytes = canonical->size();
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetItemsProcessed(state.iterations());
}

void BM_CanonicalizeDetailsOnly(benchmark::State& state) {
  const boost::json::value details = typical_event().details;
  for (auto _ : state) {
    auto canonical = countersign::canonicalize(details);
    benchmark::DoNotOptimize(canonical);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_CanonicalizeNonAsciiKeys(benchmark::State& state) {
  boost::json::object object;
  const char* keys[] = {"\xe2\x82\xac", "\r",       "\xef\xac\xb3", "1", "\xf0\x9f\x98\x80",
                        "\xc2\x80",     "\xc3\xb6", "\xee\x80\x80", "z", "\xf0\x90\x80\x80"};
  for (const char* key : keys) object[key] = key;
  const boost::json::value value = std::move(object);
  for (auto _ : state) {
    auto canonical = countersign::canonicalize(value);
    benchmark::DoNotOptimize(canonical);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_LeafHash(benchmark::State& state) {
  audit::AuditEvent event = typical_event();
  event.index = 123456;
  for (auto _ : state) {
    auto leaf = audit::leaf_hash(event);
    benchmark::DoNotOptimize(leaf);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SealOneEvent(benchmark::State& state) {
  const std::vector<audit::AuditEvent> events{typical_event()};
  std::int64_t index = 0;
  for (auto _ : state) {
    auto sealed = audit::seal_events(events, index++, audit::kGenesisHash);
    benchmark::DoNotOptimize(sealed);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_CanonicalizeEventBody);
BENCHMARK(BM_CanonicalizeDetailsOnly);
BENCHMARK(BM_CanonicalizeNonAsciiKeys);
BENCHMARK(BM_LeafHash);
BENCHMARK(BM_SealOneEvent);

}  // namespace

BENCHMARK_MAIN();
