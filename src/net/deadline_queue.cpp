#include "net/deadline_queue.hpp"

#include "ws/connection.hpp"

#include <memory>
#include <utility>

namespace net = boost::asio;

namespace tether::detail {

void deadline_queue::use_executor(net::any_io_executor const& executor) {
  std::lock_guard lock(mutex_);
  if (!timer_ && !shut_down_) timer_.emplace(executor, clock::time_point::max());
}

void deadline_queue::put(std::size_t slot, entry e) noexcept {
  heap_[slot] = e;
  e.owner->deadline_slot_ = static_cast<std::uint32_t>(slot);
}

void deadline_queue::sift_up(std::size_t slot) noexcept {
  entry const moving = heap_[slot];
  while (slot > 0) {
    std::size_t const parent = (slot - 1) / 2;
    if (!(moving.when < heap_[parent].when)) break;
    put(slot, heap_[parent]);
    slot = parent;
  }
  put(slot, moving);
}

void deadline_queue::sift_down(std::size_t slot) noexcept {
  entry const moving = heap_[slot];
  std::size_t const size = heap_.size();
  for (;;) {
    std::size_t child = 2 * slot + 1;
    if (child >= size) break;
    if (child + 1 < size && heap_[child + 1].when < heap_[child].when) ++child;
    if (!(heap_[child].when < moving.when)) break;
    put(slot, heap_[child]);
    slot = child;
  }
  put(slot, moving);
}

void deadline_queue::remove(std::size_t slot) noexcept {
  heap_[slot].owner->deadline_slot_ = no_slot;
  entry const last = heap_.back();
  heap_.pop_back();
  if (slot == heap_.size()) return;
  put(slot, last);
  if (slot > 0 && last.when < heap_[(slot - 1) / 2].when)
    sift_up(slot);
  else
    sift_down(slot);
}

void deadline_queue::schedule(connection& c, clock::time_point when) {
  std::lock_guard lock(mutex_);
  if (shut_down_ || !timer_) return;
  if (c.deadline_slot_ == no_slot) {
    heap_.push_back({when, &c});  // may throw: the connection then goes untimed, as a timer failing to arm would
    sift_up(heap_.size() - 1);
  } else {
    std::size_t const slot = c.deadline_slot_;
    bool const earlier = when < heap_[slot].when;
    heap_[slot].when = when;
    if (earlier)
      sift_up(slot);
    else
      sift_down(slot);
  }
  arm();
}

void deadline_queue::cancel(connection& c) noexcept {
  std::lock_guard lock(mutex_);
  if (c.deadline_slot_ == no_slot) return;
  remove(c.deadline_slot_);
  if (heap_.empty()) arm();
}

void deadline_queue::arm() noexcept {
  if (!timer_) return;
  if (heap_.empty()) {
    if (armed_ != clock::time_point::max()) timer_->cancel();
    armed_ = clock::time_point::max();
    return;
  }
  auto const earliest = heap_.front().when;
  if (!(earliest < armed_)) return;  // it fires first, and on_timer() looks again
  armed_ = earliest;
  try {
    timer_->expires_at(earliest);  // a wait pending ends with operation_aborted
    timer_->async_wait([this](boost::system::error_code ec) { on_timer(ec); });
  } catch (...) {
    // Only memory can fail here; the next change of deadline tries again.
    armed_ = clock::time_point::max();
  }
}

// Runs on the timer's executor. A wait that was replaced by an earlier
// one ends aborted; one that completed just before it was replaced still
// runs, finds nothing due or something due, and arms for what is left.
void deadline_queue::on_timer(boost::system::error_code ec) {
  if (ec) return;
  std::vector<std::shared_ptr<connection>> due;
  // Declared outside the lock: should push_back() throw, the last owner
  // must not let go while the lock is held (its destructor takes it).
  std::shared_ptr<connection> owner;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return;
    armed_ = clock::time_point::max();
    auto const now = clock::now();
    try {
      while (!heap_.empty() && !(now < heap_.front().when)) {
        // One whose last owner is going away is skipped: its destructor
        // waits for this lock to cancel an entry that is already gone.
        owner = heap_.front().owner->weak_from_this().lock();
        if (owner) due.push_back(owner);
        remove(0);
      }
    } catch (...) {
      // Out of memory: those not reached stay due, and the timer fires again.
    }
    arm();
  }
  // Outside the lock: a connection's turn schedules its next deadline.
  for (auto const& c : due) c->deadline_reached();
}

void deadline_queue::shut_down() noexcept {
  std::lock_guard lock(mutex_);
  shut_down_ = true;
  for (auto const& e : heap_) e.owner->deadline_slot_ = no_slot;
  heap_.clear();
  timer_.reset();
  armed_ = clock::time_point::max();
}

}  // namespace tether::detail
