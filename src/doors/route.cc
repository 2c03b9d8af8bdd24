#include "doors/route.h"

#include <chrono>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace countersign::doors {

boost::asio::awaitable<bool> ReviewWaiters::wait(const std::string& review_id, Millis timeout) {
  if (timeout <= 0) co_return false;
  boost::asio::steady_timer timer(executor_, std::chrono::milliseconds(timeout));
  timers_.emplace(review_id, &timer);
  boost::system::error_code error;
  co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, error));
  // Erase by value: a rehash while we waited may have invalidated iterators.
  auto [begin, end] = timers_.equal_range(review_id);
  for (auto it = begin; it != end; ++it) {
    if (it->second == &timer) {
      timers_.erase(it);
      break;
    }
  }
  co_return error == boost::asio::error::operation_aborted;  // cancelled by wake()
}

void ReviewWaiters::wake(const std::string& review_id) {
  auto [begin, end] = timers_.equal_range(review_id);
  for (auto it = begin; it != end; ++it) it->second->cancel();
}

}  // namespace countersign::doors
