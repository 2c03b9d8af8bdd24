#include "store/sqlite/exact_json.h"

#include <charconv>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

namespace countersign::store {
namespace {

namespace json = boost::json;

// A boost::json::basic_parser handler that builds the value itself, so it can
// convert numbers with std::from_chars and refuse duplicate keys.
class ValueBuilder {
 public:
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);

  json::value take_result() { return std::move(result_); }
  const std::string& problem() const { return problem_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open_.emplace_back(json::object());
    return true;
  }
  bool on_object_end(std::size_t, json::error_code& error) { return close(error); }
  bool on_array_begin(json::error_code&) {
    open_.emplace_back(json::array());
    return true;
  }
  bool on_array_end(std::size_t, json::error_code& error) { return close(error); }
  bool on_key_part(json::string_view part, std::size_t, json::error_code&) {
    partial_.append(part.data(), part.size());
    return true;
  }
  bool on_key(json::string_view part, std::size_t, json::error_code&) {
    partial_.append(part.data(), part.size());
    keys_.push_back(std::move(partial_));
    partial_.clear();
    return true;
  }
  bool on_string_part(json::string_view part, std::size_t, json::error_code&) {
    partial_.append(part.data(), part.size());
    return true;
  }
  bool on_string(json::string_view part, std::size_t, json::error_code& error) {
    partial_.append(part.data(), part.size());
    json::value text = json::string(partial_);
    partial_.clear();
    return add(std::move(text), error);
  }
  bool on_number_part(json::string_view part, json::error_code&) {
    partial_.append(part.data(), part.size());
    return true;
  }
  // Integers keep boost's exact int64/uint64; only fractions and exponents
  // go through from_chars.
  bool on_int64(std::int64_t number, json::string_view, json::error_code& error) {
    partial_.clear();
    return add(json::value(number), error);
  }
  bool on_uint64(std::uint64_t number, json::string_view, json::error_code& error) {
    partial_.clear();
    return add(json::value(number), error);
  }
  bool on_double(double, json::string_view part, json::error_code& error) {
    partial_.append(part.data(), part.size());
    double number = 0;
    auto [end, status] =
        std::from_chars(partial_.data(), partial_.data() + partial_.size(), number);
    bool parsed = status == std::errc() && end == partial_.data() + partial_.size();
    partial_.clear();
    if (!parsed || !std::isfinite(number)) return refuse("number out of range", error);
    return add(json::value(number), error);
  }
  bool on_bool(bool flag, json::error_code& error) { return add(json::value(flag), error); }
  bool on_null(json::error_code& error) { return add(json::value(nullptr), error); }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  bool add(json::value value, json::error_code& error) {
    if (open_.empty()) {
      result_ = std::move(value);
      return true;
    }
    json::value& container = open_.back();
    if (container.is_array()) {
      container.get_array().push_back(std::move(value));
      return true;
    }
    std::string key = std::move(keys_.back());
    keys_.pop_back();
    json::object& object = container.get_object();
    if (object.contains(key)) return refuse("duplicate object key", error);
    object.emplace(key, std::move(value));
    return true;
  }

  bool close(json::error_code& error) {
    json::value finished = std::move(open_.back());
    open_.pop_back();
    return add(std::move(finished), error);
  }

  bool refuse(std::string problem, json::error_code& error) {
    problem_ = std::move(problem);
    error = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    return false;
  }

  json::value result_;
  std::string problem_;
  std::vector<json::value> open_;  // containers still being filled, innermost last
  std::vector<std::string> keys_;  // the pending key of each open object
  std::string partial_;            // a key, string or number arriving in pieces
};

}  // namespace

Result<boost::json::value> parse_exact_json(std::string_view text) {
  json::parse_options options;
  options.max_depth = 512;  // our own data: deeper than boost's default of 32 is allowed
  json::basic_parser<ValueBuilder> parser(options);
  json::error_code error;
  std::size_t consumed = parser.write_some(false, text.data(), text.size(), error);
  if (!error && consumed < text.size()) error = json::error::extra_data;
  if (error) {
    const std::string& problem = parser.handler().problem();
    return fail(ErrorCode::invalid_argument,
                "stored JSON is invalid: " + (problem.empty() ? error.message() : problem));
  }
  return parser.handler().take_result();
}

}  // namespace countersign::store
