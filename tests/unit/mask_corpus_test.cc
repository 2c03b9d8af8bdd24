// Quality on the labeled corpus (tests/corpus/mask_corpus.jsonl, generated
// with @faker-js/faker by tests/corpus/generate.mjs): precision and recall
// per type, decoys that must not match, and no planted value left in the
// output. Fails below the targets: recall >= 0.99 and precision >= 0.98
// overall, no type below 0.95.
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "mask/mask.h"

namespace countersign::mask {
namespace {

namespace json = boost::json;

struct Span {
  std::string type;  // label type or decoy kind
  std::string path;
  std::size_t start = 0;
  std::size_t end = 0;
};

struct Document {
  std::string id;
  std::string kind;
  std::string text;
  std::vector<Span> labels;
  std::vector<Span> decoys;
};

std::vector<Document> load_corpus() {
  std::ifstream in(std::string(COUNTERSIGN_SOURCE_DIR) + "/tests/corpus/mask_corpus.jsonl");
  std::vector<Document> docs;
  std::string line;
  auto spans = [](const json::value& array, const char* name_key) {
    std::vector<Span> out;
    for (const auto& item : array.as_array())
      out.push_back({std::string(item.at(name_key).as_string()),
                     std::string(item.at("path").as_string()),
                     static_cast<std::size_t>(item.at("start").to_number<std::int64_t>()),
                     static_cast<std::size_t>(item.at("end").to_number<std::int64_t>())});
    return out;
  };
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json::value doc = json::parse(line);
    docs.push_back({std::string(doc.at("id").as_string()), std::string(doc.at("kind").as_string()),
                    std::string(doc.at("text").as_string()), spans(doc.at("labels"), "type"),
                    spans(doc.at("decoys"), "kind")});
  }
  return docs;
}

bool overlaps(const Span& span, const Finding& finding) {
  if (span.path != finding.path) return false;
  if (span.type == "secret_key" || finding.type == "secret_key") return true;  // whole value
  return finding.start < span.end && span.start < finding.end;
}

// The planted value as it appears in the input (for the leak check).
std::string planted_value(const Document& doc, const json::value* parsed, const Span& label) {
  if (doc.kind != "json") return doc.text.substr(label.start, label.end - label.start);
  if (label.type == "secret_key") return {};
  boost::system::error_code error;
  const json::value* value = parsed->find_pointer(label.path, error);
  if (!value) return {};
  if (value->is_string()) {
    std::string s(value->get_string());
    return s.substr(label.start, label.end - label.start);
  }
  return json::serialize(*value);
}

struct Counts {
  int labels = 0;
  int found = 0;  // labels covered by a finding of the same type
  int findings = 0;
  int true_findings = 0;
};

TEST(MaskCorpus, PrecisionAndRecallPerTypeMeetTargets) {
  std::vector<Document> docs = load_corpus();
  ASSERT_GE(docs.size(), 1000u) << "corpus missing: run node tests/corpus/generate.mjs";
  const MaskProfile profile = default_profile();
  std::map<std::string, Counts> by_type;
  std::map<std::string, int> decoy_hits;
  std::map<std::string, int> decoys_seen;
  std::vector<std::string> examples;  // a few misses and false positives, for diagnosis
  int leaks = 0;
  std::size_t bytes = 0;

  for (const Document& doc : docs) {
    bytes += doc.text.size();
    std::vector<Finding> findings;
    std::string output;
    json::value parsed;
    if (doc.kind == "json") {
      parsed = json::parse(doc.text);
      auto masked = mask_json(parsed, profile);
      findings = std::move(masked.findings);
      output = json::serialize(masked.value);
    } else {
      output = mask_text(doc.text, profile, "", &findings);
    }
    for (const Span& label : doc.labels) {
      Counts& counts = by_type[label.type];
      ++counts.labels;
      bool found = false;
      for (const Finding& finding : findings)
        if (finding.type == label.type && overlaps(label, finding)) found = true;
      if (found) {
        ++counts.found;
      } else if (examples.size() < 40) {
        std::string types;
        for (const Finding& finding : findings)
          if (overlaps(label, finding)) types += finding.type + " ";
        examples.push_back(doc.id + " missed " + label.type + " at " + label.path + " [" +
                           std::to_string(label.start) + "," + std::to_string(label.end) +
                           ") overlapped by: " + types);
      }
      std::string value = planted_value(doc, &parsed, label);
      if (value.size() >= 6 && output.find(value) != std::string::npos) {
        ++leaks;
        if (examples.size() < 40) examples.push_back(doc.id + " leaked a " + label.type);
      }
    }
    for (const Finding& finding : findings) {
      Counts& counts = by_type[finding.type];
      ++counts.findings;
      bool right = false;
      for (const Span& label : doc.labels)
        if (label.type == finding.type && overlaps(label, finding)) right = true;
      if (right) {
        ++counts.true_findings;
      } else if (examples.size() < 40) {
        std::string context;
        if (doc.kind != "json")
          context = doc.text.substr(finding.start > 20 ? finding.start - 20 : 0,
                                    finding.end - finding.start + 40);
        examples.push_back(doc.id + " false " + finding.type + " (" + finding.detector + ") at " +
                           finding.path + " [" + std::to_string(finding.start) + "," +
                           std::to_string(finding.end) + ") near: " + context);
      }
      for (const Span& decoy : doc.decoys)
        if (overlaps(decoy, finding)) ++decoy_hits[decoy.type];
    }
    for (const Span& decoy : doc.decoys) ++decoys_seen[decoy.type];
  }

  Counts total;
  std::printf("\nmasking corpus: %zu documents, %zu bytes\n", docs.size(), bytes);
  std::printf("%-26s %7s %7s %9s %9s\n", "type", "planted", "found", "recall", "precision");
  for (const auto& [type, counts] : by_type) {
    double recall = counts.labels ? static_cast<double>(counts.found) / counts.labels : 1.0;
    double precision =
        counts.findings ? static_cast<double>(counts.true_findings) / counts.findings : 1.0;
    std::printf("%-26s %7d %7d %9.4f %9.4f\n", type.c_str(), counts.labels, counts.findings, recall,
                precision);
    total.labels += counts.labels;
    total.found += counts.found;
    total.findings += counts.findings;
    total.true_findings += counts.true_findings;
    EXPECT_GE(recall, 0.95) << type;
    EXPECT_GE(precision, 0.95) << type;
  }
  double recall = static_cast<double>(total.found) / total.labels;
  double precision = static_cast<double>(total.true_findings) / total.findings;
  std::printf("%-26s %7d %7d %9.4f %9.4f\n", "overall", total.labels, total.findings, recall,
              precision);
  std::printf("decoys matched (kind: matched/seen):");
  for (const auto& [kind, seen] : decoys_seen)
    std::printf(" %s %d/%d", kind.c_str(), decoy_hits[kind], seen);
  std::printf("\nplanted values left in the output: %d\n", leaks);
  for (const auto& example : examples) std::printf("  %s\n", example.c_str());
  EXPECT_GE(recall, 0.99);
  EXPECT_GE(precision, 0.98);
  EXPECT_EQ(leaks, 0);
  int decoys_matched = 0;
  for (const auto& [kind, hits] : decoy_hits) decoys_matched += hits;
  EXPECT_LE(decoys_matched, 0.01 * static_cast<double>(docs.size()));
  // Every type of the catalog is planted and measured.
  for (const char* type : {"email",
                           "phone",
                           "credit_card",
                           "iban",
                           "us_ssn",
                           "uk_nino",
                           "ipv4",
                           "ipv6",
                           "mac_address",
                           "date_of_birth",
                           "aws_access_key_id",
                           "aws_secret_access_key",
                           "gcp_service_account_key",
                           "azure_storage_key",
                           "github_token",
                           "gitlab_token",
                           "slack_token",
                           "slack_webhook",
                           "stripe_key",
                           "openai_key",
                           "anthropic_key",
                           "jwt",
                           "private_key",
                           "password",
                           "secret",
                           "secret_key"})
    EXPECT_GE(by_type[type].labels, 100) << type;
}

}  // namespace
}  // namespace countersign::mask
