// Awaiting, from a door's I/O loop, work that finishes on another thread:
// the store's writer thread answers audit appends (Gateway::submit_async,
// record_execution_async) there. The coroutine is resumed on its own loop,
// never on the writer thread, and the loop is never blocked meanwhile.
//
// Includes Asio: only for the translation units that already serve
// streaming routes (see route.h).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace countersign::doors {

// The I/O loop as seen from the thread that completes the work. A
// completion is posted to the loop, where it resumes its request. A door,
// when it goes away (the loop has stopped but still exists), calls settle()
// so that each completion still out lands in the loop and is destroyed with
// it, never on the other thread after it.
struct LoopHandle {
  std::mutex mutex;
  std::condition_variable settled;
  std::optional<boost::asio::any_io_executor> executor;
  int outstanding = 0;

  // Binds the loop on a door's first request.
  void bind(const boost::asio::any_io_executor& loop) {
    std::lock_guard lock(mutex);
    if (!executor) executor = loop;
  }
  // Waits (a bounded time: a stuck store must not hang shutdown) for
  // completions still out, then lets later ones fall on the floor.
  void settle() {
    std::unique_lock lock(mutex);
    settled.wait_for(lock, std::chrono::seconds(10), [&] { return outstanding == 0; });
    executor.reset();
  }
};

// Starts an operation that reports through a callback on another thread
// (`start(callback)`) and resumes the coroutine on its own loop with the
// value once the callback has run.
template <class T, class Start>
boost::asio::awaitable<T> completion_on_loop(std::shared_ptr<LoopHandle> loop, Start start) {
  namespace asio = boost::asio;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(T)>(
      [&](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        {
          std::lock_guard lock(loop->mutex);
          ++loop->outstanding;
        }
        start([loop, shared](T value) mutable {
          std::lock_guard lock(loop->mutex);
          if (loop->executor)
            asio::post(
                asio::prefer(*loop->executor, asio::execution::outstanding_work.tracked),
                [shared, value = std::move(value)]() mutable { (*shared)(std::move(value)); });
          shared.reset();  // the posted copy (or nothing) holds the request now
          if (--loop->outstanding == 0) loop->settled.notify_all();
        });
      },
      asio::use_awaitable);
}

}  // namespace countersign::doors
