// The outbox worker: delivers stored notifications on its own threads, one
// lane per channel (a slow webhook never delays Slack), with retries and
// exponential backoff, honouring 429 Retry-After, giving a message up after
// channels.max_delivery_age. It also runs short "urgent" tasks (Slack
// views.open, users.info) that must not queue behind deliveries. Results go
// to the store only; the worker never calls the gateway. Because messages
// are stored with the change they announce, a crash or an outage loses none:
// after a restart the worker picks up where it stopped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "notify/channel.h"
#include "notify/http_client.h"
#include "store/store.h"

namespace countersign::notify {

struct WorkerCounters {
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> retried{0};
  std::atomic<std::uint64_t> dead{0};
};

class Worker {
 public:
  using ClientFactory = std::function<std::unique_ptr<HttpClient>()>;

  Worker(store::Store& store, const Clock& clock, std::vector<std::unique_ptr<Channel>> channels,
         ClientFactory make_client, Millis max_age = 86'400'000);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts one thread per channel plus the urgent lane. Idempotent.
  void start();
  // Stops and joins the threads; an in-flight request finishes first.
  void stop();
  // Thread-safe: new messages may be due (call after a commit).
  void wake();
  // Thread-safe: runs `task` soon on the urgent lane.
  void run_urgent(std::function<void(HttpClient&)> task);

  // Delivers the messages of `channel` due now, once, on the calling thread.
  // Returns how many were attempted. (The lanes call this; so can tests.)
  int deliver_due(std::string_view channel, HttpClient& http);

  const WorkerCounters& counters() const { return counters_; }
  bool has_channel(std::string_view name) const;

 private:
  void lane(Channel* channel);
  void urgent_lane();
  store::OutboxOutcome outcome_for(const store::OutboxMessage& message, const Delivery& delivery,
                                   Millis now);

  store::Store& store_;
  const Clock& clock_;
  std::vector<std::unique_ptr<Channel>> channels_;
  ClientFactory make_client_;
  Millis max_age_;
  WorkerCounters counters_;

  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t generation_ = 0;  // bumped by wake()
  bool stopping_ = false;
  std::deque<std::function<void(HttpClient&)>> urgent_;
  std::vector<std::thread> threads_;
};

}  // namespace countersign::notify
