#include "notify/worker.h"

#include <charconv>
#include <chrono>

#include <fmt/format.h>

#include "notify/outbox.h"

namespace countersign::notify {
namespace {

constexpr int kBatch = 50;
constexpr Millis kIdlePoll = 1'000;  // also catches messages another process queued

}  // namespace

Millis retry_after_millis(const HttpResponse& response) {
  auto found = response.headers.find("retry-after");
  if (found == response.headers.end()) return 0;
  const std::string& text = found->second;
  std::int64_t seconds = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (error != std::errc() || end != text.data() + text.size() || seconds < 0) return 0;
  return std::min<std::int64_t>(seconds, 3'600) * 1000;
}

Delivery classify_status(const HttpResponse& response) {
  unsigned status = response.status;
  if (status >= 200 && status < 300) return Delivery::done();
  std::string why = fmt::format("HTTP {}", status);
  if (status == 408 || status == 425 || status == 429 || status >= 500)
    return Delivery::retry(std::move(why), retry_after_millis(response));
  return Delivery::dead(std::move(why));
}

Worker::Worker(store::Store& store, const Clock& clock,
               std::vector<std::unique_ptr<Channel>> channels, ClientFactory make_client,
               Millis max_age)
    : store_(store),
      clock_(clock),
      channels_(std::move(channels)),
      make_client_(std::move(make_client)),
      max_age_(max_age) {}

Worker::~Worker() { stop(); }

bool Worker::has_channel(std::string_view name) const {
  for (const auto& channel : channels_)
    if (channel->name() == name) return true;
  return false;
}

void Worker::start() {
  std::lock_guard lock(mutex_);
  if (!threads_.empty()) return;
  stopping_ = false;
  for (auto& channel : channels_) threads_.emplace_back([this, c = channel.get()] { lane(c); });
  threads_.emplace_back([this] { urgent_lane(); });
}

void Worker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (auto& thread : threads_)
    if (thread.joinable()) thread.join();
  threads_.clear();
}

void Worker::wake() {
  {
    std::lock_guard lock(mutex_);
    ++generation_;
  }
  changed_.notify_all();
}

void Worker::run_urgent(std::function<void(HttpClient&)> task) {
  {
    std::lock_guard lock(mutex_);
    urgent_.push_back(std::move(task));
  }
  changed_.notify_all();
}

store::OutboxOutcome Worker::outcome_for(const store::OutboxMessage& message,
                                         const Delivery& delivery, Millis now) {
  store::OutboxOutcome outcome;
  outcome.stream_state = delivery.stream_state;
  outcome.error = delivery.error;
  outcome.at = now;
  switch (delivery.kind) {
    case Delivery::Kind::delivered:
      outcome.kind = store::OutboxOutcome::Kind::delivered;
      counters_.delivered++;
      break;
    case Delivery::Kind::retry: {
      Millis next = next_attempt_at(message.attempts + 1, delivery.retry_after, now);
      if (next - message.created_at > max_age_) {
        outcome.kind = store::OutboxOutcome::Kind::dead;
        outcome.error = "gave up after " + std::to_string(message.attempts + 1) +
                        " attempts: " + delivery.error;
        counters_.dead++;
      } else {
        outcome.kind = store::OutboxOutcome::Kind::retry;
        outcome.at = next;
        counters_.retried++;
      }
      break;
    }
    case Delivery::Kind::dead:
      outcome.kind = store::OutboxOutcome::Kind::dead;
      counters_.dead++;
      break;
  }
  return outcome;
}

int Worker::deliver_due(std::string_view name, HttpClient& http) {
  Channel* channel = nullptr;
  for (auto& candidate : channels_)
    if (candidate->name() == name) channel = candidate.get();
  if (channel == nullptr) return 0;
  auto due = store_.due_outbox(name, clock_.now(), kBatch);
  if (!due) return 0;
  int attempted = 0;
  for (const auto& message : *due) {
    Delivery delivery;
    try {
      delivery = channel->deliver(message, http, clock_.now());
    } catch (const std::exception& error) {
      delivery = Delivery::retry(std::string("delivery failed: ") + error.what());
    }
    (void)store_.complete_outbox(message.id, outcome_for(message, delivery, clock_.now()));
    ++attempted;
  }
  return attempted;
}

void Worker::lane(Channel* channel) {
  auto http = make_client_();
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      seen = generation_;
    }
    // Keep going while there is work: a delivered message may unblock the
    // next one of its stream.
    int attempted = deliver_due(channel->name(), *http);
    if (attempted > 0) continue;
    Millis wait = kIdlePoll;
    if (auto status = store_.outbox_status(channel->name()); status && status->next_attempt_at > 0)
      wait = std::clamp<Millis>(status->next_attempt_at - clock_.now(), 5, kIdlePoll);
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, std::chrono::milliseconds(wait),
                      [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
  }
}

void Worker::urgent_lane() {
  auto http = make_client_();
  for (;;) {
    std::function<void(HttpClient&)> task;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !urgent_.empty(); });
      if (stopping_) return;
      task = std::move(urgent_.front());
      urgent_.pop_front();
    }
    try {
      task(*http);
    } catch (...) {
      // A failed task has reported what it could; the lane goes on.
    }
  }
}

}  // namespace countersign::notify
