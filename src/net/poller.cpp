#include "net/poller.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

namespace net = boost::asio;

namespace tether::detail {

net::execution_context::id poller::id;

poller::poller(net::execution_context& context) : net::execution_context::service(context) {}

poller::~poller() {
  if (set_ >= 0) ::close(set_);
}

poller& poller::of(net::any_io_executor const& executor) {
  auto& p = net::use_service<poller>(net::query(executor, net::execution::context));
  p.start(executor);
  return p;
}

void poller::start(net::any_io_executor const& executor) {
  if (set_waiter_ || shut_down_) return;
  set_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (set_ < 0) return;  // add() refuses, so every connection keeps Asio's waits
  // The waiter watches the set but does not own it: the descriptor is
  // closed by us, after the waiter lets go of it.
  set_waiter_.emplace(executor, set_);
}

bool poller::add(int descriptor, readiness_listener& listener) {
  if (!set_waiter_ || shut_down_ || descriptor < 0) return false;
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.fd = descriptor;
  if (::epoll_ctl(set_, EPOLL_CTL_ADD, descriptor, &event) != 0) return false;
  auto const index = static_cast<std::size_t>(descriptor);
  if (index >= listeners_.size()) listeners_.resize(index + 1, nullptr);
  listeners_[index] = &listener;
  ++count_;
  if (!waiting_) wait();
  return true;
}

void poller::remove(int descriptor) noexcept {
  auto const index = static_cast<std::size_t>(descriptor);
  if (descriptor < 0 || index >= listeners_.size() || !listeners_[index]) return;
  listeners_[index] = nullptr;
  epoll_event ignored{};
  ::epoll_ctl(set_, EPOLL_CTL_DEL, descriptor, &ignored);
  // A pending wait is work: with it, the io_context's run() would never return.
  if (--count_ == 0 && waiting_) set_waiter_->cancel();
}

void poller::wait() {
  waiting_ = true;
  set_waiter_->async_wait(net::posix::descriptor_base::wait_read, [this](boost::system::error_code ec) {
    waiting_ = false;
    if (shut_down_ || (ec && ec != net::error::operation_aborted)) return;
    if (!ec) dispatch();
    if (count_ > 0) wait();  // also after a cancel that a new listener overtook
  });
}

void poller::dispatch() {
  // A batch larger than this array is picked up by the next wait: Asio's
  // re-arm sees the set still readable.
  std::array<epoll_event, 256> events;
  int const count = ::epoll_wait(set_, events.data(), static_cast<int>(events.size()), 0);
  for (int i = 0; i < count; ++i) {
    // Looked up at each event, not before the batch: an earlier event may
    // have ended a later one's connection (and even reused its descriptor,
    // which then sees a spurious call).
    auto const index = static_cast<std::size_t>(events[i].data.fd);
    readiness_listener* const listener = index < listeners_.size() ? listeners_[index] : nullptr;
    if (!listener) continue;
    std::uint32_t const e = events[i].events;
    listener->on_ready((e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0,
                       (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0, (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  }
}

void poller::shutdown() {
  shut_down_ = true;
  // A listener may hold what holds it (a read() waiting on its connection):
  // each is told to let go. Letting go may end other listeners, which then
  // leave the table before the loop reaches them.
  for (auto& entry : listeners_)
    if (auto* const listener = std::exchange(entry, nullptr)) listener->on_poller_shutdown();
  count_ = 0;
  if (set_waiter_) {
    set_waiter_->release();
    set_waiter_.reset();
  }
}

}  // namespace tether::detail
