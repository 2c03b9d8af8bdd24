// Masking throughput and per-document latency (Google Benchmark).
//
// Documents come from MASK_BENCH_DIR (files <clean|few|dense>_<1k|10k|1m>.txt
// written by bench/mask_compare.mjs, which also runs the peer library on the
// same files); without it, small synthetic documents are used.
//
//   MASK_BENCH_DIR=/tmp/docs ./mask_bench --benchmark_format=json
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <boost/json.hpp>

#include "mask/mask.h"

namespace {

using countersign::mask::Finding;

std::string synthetic(const std::string& density, std::size_t size) {
  static const std::string clean =
      "2026-05-01T12:30:45.123Z INFO [deploy] rollout of web 1.4.2 to eu-west finished in 842ms; "
      "request 3f2a9c1b-04de-4a5b-9c1e-0b6f3a2d7e11 ok. The quick brown fox jumps over the lazy "
      "dog while the build pipeline compiles 128 targets and uploads artifacts to the cache. ";
  static const std::string finding = "contact ann.lee@example.com about card 4111 1111 1111 1111. ";
  std::string out;
  while (out.size() < size) {
    if (density == "dense")
      out += finding;
    else if (density == "few" && out.size() % 1024 < clean.size())
      out += finding;
    out += clean;
  }
  out.resize(size);
  return out;
}

std::string document(const std::string& density, const std::string& size_name, std::size_t size) {
  if (const char* dir = std::getenv("MASK_BENCH_DIR")) {
    std::ifstream in(std::string(dir) + "/" + density + "_" + size_name + ".txt", std::ios::binary);
    if (in) {
      std::ostringstream content;
      content << in.rdbuf();
      return content.str();
    }
  }
  return synthetic(density, size);
}

void BM_MaskText(benchmark::State& state, std::string density, std::string size_name,
                 std::size_t size) {
  const std::string text = document(density, size_name, size);
  const countersign::mask::MaskProfile profile = countersign::mask::default_profile();
  std::size_t findings_count = 0;
  countersign::mask::mask_text(text, profile, "", nullptr);  // compiles the catalog once, untimed
  for (auto _ : state) {
    std::vector<Finding> findings;
    std::string out = countersign::mask::mask_text(text, profile, "", &findings);
    findings_count = findings.size();
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["findings"] = static_cast<double>(findings_count);
  state.counters["bytes"] = static_cast<double>(text.size());
}

void BM_MaskJson(benchmark::State& state) {
  boost::json::value payload = boost::json::parse(R"({
    "tool": "send_email", "arguments": {"to": "ann.lee@example.com", "subject": "Invoice 2026-05",
    "body": "Hi Ann, your card 4111 1111 1111 1111 was charged $42.10. Call +1 415 555 0132.",
    "headers": {"Authorization": "Bearer abcdef0123456789abcdef0123456789"},
    "attachments": [{"name": "invoice.pdf", "size": 48213}]}})");
  const countersign::mask::MaskProfile profile = countersign::mask::default_profile();
  for (auto _ : state) {
    auto masked = countersign::mask::mask_json(payload, profile);
    benchmark::DoNotOptimize(masked);
  }
}

int register_all() {
  for (const char* density : {"clean", "few", "dense"}) {
    for (auto [name, size] : {std::pair<const char*, std::size_t>{"1k", 1024},
                              {"10k", 10 * 1024},
                              {"1m", 1024 * 1024}}) {
      benchmark::RegisterBenchmark(
          (std::string("BM_MaskText/") + density + "/" + name).c_str(),
          [density = std::string(density), name = std::string(name), size](benchmark::State& s) {
            BM_MaskText(s, density, name, size);
          });
    }
  }
  benchmark::RegisterBenchmark("BM_MaskJson/tool_call", BM_MaskJson);
  return 0;
}

const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();
