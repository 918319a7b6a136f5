#include "net/loop_liveness.hpp"

#include "ws/connection.hpp"

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>

#include <vector>

namespace net = boost::asio;

namespace tether::detail {

namespace {

// Services are shut down before the io_context's scheduler and reactor
// (this one is added after them), so connections end while those exist.
class liveness_service : public net::execution_context::service {
 public:
  using key_type = liveness_service;
  static net::execution_context::id id;

  explicit liveness_service(net::execution_context& context)
      : service(context), state(std::make_shared<loop_liveness>()) {}

  std::shared_ptr<loop_liveness> const state;

 private:
  void shutdown() override { state->shut_down(); }
};

net::execution_context::id liveness_service::id;

}  // namespace

std::shared_ptr<loop_liveness> loop_liveness::of(net::any_io_executor const& executor) {
  auto& context = net::query(executor, net::execution::context);
  return net::use_service<liveness_service>(context).state;
}

void loop_liveness::enroll(connection& c) {
  std::lock_guard lock(mutex_);
  c.loop_next_ = first_;
  if (first_) first_->loop_prev_ = &c;
  first_ = &c;
}

void loop_liveness::withdraw(connection& c) noexcept {
  std::lock_guard lock(mutex_);
  if (c.loop_prev_)
    c.loop_prev_->loop_next_ = c.loop_next_;
  else if (first_ == &c)
    first_ = c.loop_next_;
  if (c.loop_next_) c.loop_next_->loop_prev_ = c.loop_prev_;
  c.loop_prev_ = c.loop_next_ = nullptr;
}

void loop_liveness::shut_down() noexcept {
  deadlines_.shut_down();
  std::vector<std::shared_ptr<connection>> left;
  {
    std::lock_guard lock(mutex_);
    alive_ = false;
    // A connection whose last owner is going away is skipped: its
    // destructor is about to withdraw it.
    try {
      for (auto* c = first_; c; c = c->loop_next_)
        if (auto owner = c->weak_from_this().lock()) left.push_back(std::move(owner));
    } catch (...) {
      // Out of memory: those not reached end with the loop's own teardown.
    }
  }
  // Outside the lock: ending a connection may drop the last handle of
  // another, whose destructor withdraws it.
  for (auto& c : left) c->on_loop_gone();
}

}  // namespace tether::detail
