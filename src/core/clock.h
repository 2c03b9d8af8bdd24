// Time as milliseconds since the Unix epoch, behind an interface so that
// tests can move time by hand. Nothing here sleeps or schedules.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace countersign {

using Millis = std::int64_t;  // milliseconds since 1970-01-01T00:00:00Z

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Millis now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Millis now() const override;
};

// A clock that only moves when told to; safe to read from several threads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Millis start = 1'700'000'000'000) : now_(start) {}
  Millis now() const override { return now_.load(); }
  void advance(Millis delta) { now_ += delta; }
  void set(Millis value) { now_ = value; }

 private:
  std::atomic<Millis> now_;
};

// RFC 3339 UTC with milliseconds: 2026-11-22T10:15:00.123Z
std::string format_time(Millis time);

// "90s", "15m", "1h30m", "2d", "250ms" -> milliseconds; -1 when malformed.
Millis parse_duration(std::string_view text);

// 95000 -> "1m35s": for humans, not for parsing.
std::string format_duration(Millis duration);

}  // namespace countersign
