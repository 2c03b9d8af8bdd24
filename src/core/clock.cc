#include "core/clock.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

namespace countersign {

Millis SystemClock::now() const {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string format_time(Millis time) {
  std::time_t seconds = static_cast<std::time_t>(time / 1000);
  int millis = static_cast<int>(time % 1000);
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
}

Millis parse_duration(std::string_view text) {
  if (text.empty()) return -1;
  Millis total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return -1;
    Millis number = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      number = number * 10 + (text[i] - '0');
      if (number > 1'000'000'000'000) return -1;
      ++i;
    }
    std::string_view unit;
    size_t unit_start = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    unit = text.substr(unit_start, i - unit_start);
    Millis scale = 0;
    if (unit == "ms") scale = 1;
    else if (unit == "s") scale = 1000;
    else if (unit == "m") scale = 60'000;
    else if (unit == "h") scale = 3'600'000;
    else if (unit == "d") scale = 86'400'000;
    else return -1;
    // Bounded so that no duration can overflow: 100 years is plenty.
    constexpr Millis kLimit = 100LL * 365 * 86'400'000;
    if (number > kLimit / scale || total + number * scale > kLimit) return -1;
    total += number * scale;
  }
  return total;
}

std::string format_duration(Millis duration) {
  if (duration < 0) duration = 0;
  if (duration < 1000) return fmt::format("{}ms", duration);
  Millis seconds = duration / 1000;
  Millis days = seconds / 86400, hours = seconds % 86400 / 3600, minutes = seconds % 3600 / 60,
         rest = seconds % 60;
  std::string out;
  if (days) out += fmt::format("{}d", days);
  if (hours) out += fmt::format("{}h", hours);
  if (minutes) out += fmt::format("{}m", minutes);
  if (rest || out.empty()) out += fmt::format("{}s", rest);
  return out;
}

}  // namespace countersign
