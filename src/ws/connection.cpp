#include "ws/connection.hpp"

#include "codec/payload_pool.hpp"
#include "codec/utf8.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>

namespace net = boost::asio;

namespace tether::detail {

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// Every connection of a thread reads into this one buffer: the pump waits
// for readability first and reads synchronously, so no read is ever pending
// on it, and a connection keeps only an incomplete frame header between
// reads. Large, so that a large message comes in few reads (a 64 KiB one
// in one, a 1 MiB one often in two) and its string grows once or twice;
// left uninitialised, so that a thread of small messages touches only its
// first pages. session::read_limit() keeps a connection's share small.
std::span<char> thread_read_buffer() {
  constexpr std::size_t size = 1024 * 1024;
  thread_local std::unique_ptr<char[]> const buffer(new char[size]);
  return {buffer.get(), size};
}

// Operations that stay pending for the life of a connection get memory of
// their exact size. Asio's recycling allocator would hand them whatever
// larger block a handshake operation left in its cache.
// What is posted for a moment (a flush, a turn of the pump) takes Asio's
// recycled blocks instead: a malloc and a free per flush cost a broadcast
// to 1,000 subscribers 4 %.
template <class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() noexcept = default;
  template <class U>
  exact_allocator(exact_allocator<U> const&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(exact_allocator<U> const&) const noexcept { return true; }
};

}  // namespace

std::uint64_t next_connection_id() noexcept {
  // Ids are unique per process so that log lines of two servers never clash.
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

connection::connection(connection_config config, net::any_io_executor executor, stream_mover move_stream,
                       void* stream)
    : executor_(std::move(executor)),
      own_executor_(executor_.target<net::io_context::executor_type>()),
      stream_(move_stream(stream_space_, stream)),
      session_({.local_role = config.local_role,
                .settings = std::move(config.settings),
                .deflate = config.deflate,
                .id = next_connection_id()},
               clock::now()),
      subprotocol_(config.subprotocol.empty() ? nullptr
                                              : std::make_unique<std::string const>(std::move(config.subprotocol))),
      remote_(std::move(config.remote)),
      liveness_(loop_liveness::of(executor_)) {
  liveness_->deadlines().use_executor(executor_);
  liveness_->enroll(*this);
  if (config.readiness) polled_ = stream_->use_poller(*config.readiness, *this);
}

connection::~connection() {
  liveness_->deadlines().cancel(*this);
  liveness_->withdraw(*this);
  destroy_stream();
}

void connection::destroy_stream() noexcept {
  if (stream_) std::exchange(stream_, nullptr)->~byte_stream();
}

void connection::start(std::string early_bytes) {
  if (!early_bytes.empty()) session_.receive({early_bytes.data(), early_bytes.size()}, clock::now());
  act();
  arm_watchdog();
  await_readable();
}

// A connection's state is touched only on its executor; the operations hop
// there themselves. Debug builds (TETHER_CHECK_EXECUTOR) check it at every
// event, since every event ends in act(): a call from another thread
// aborts with the connection's id instead of corrupting it quietly.
void connection::check_executor() const noexcept {
#ifdef TETHER_CHECK_EXECUTOR
  if (auto const* own = executor_.target<net::io_context::executor_type>(); own && !own->running_in_this_thread()) {
    std::fprintf(stderr, "tether: connection #%llu used outside its io_context's threads\n",
                 static_cast<unsigned long long>(session_.id()));
    std::abort();
  }
#endif
}

// One pass over what the session asked for. Nothing here calls back into
// the session: each step only starts I/O or posts a completion.
void connection::act() {
  check_executor();
  auto const todo = session_.take_actions();
  if (todo == 0) return;
  if (todo & session::end_transport) {
    if (todo & session::end_with_reset)
      stream_->reset();
    else
      stream_->close();
    disarm_watchdog();
  } else if (todo & session::shutdown_send) {
    stream_->shutdown_send();
  }
  if (todo & session::write_output) start_flush();
  if (todo & session::wake_reader) notify_reader();
  // No timer yet: no one has waited, so no one needs waking.
  if (wake_ && (todo & session::wake_all))
    wake_->cancel();
  else if (wake_ && (todo & session::wake_writer))
    wake_->cancel_one();
  if ((todo & session::rearm) && session_.deadline() < watchdog_deadline_) arm_watchdog();
  if (todo & session::read_again) await_readable();
}

// ---------------------------------------------------------------- reading

namespace {

// Wakes a waiting read() as cancelled when its caller cancels it.
struct read_waiter_cancellation {
  std::weak_ptr<connection> weak;
  void operator()(net::cancellation_type type) const {
    if (type == net::cancellation_type::none) return;
    if (auto const self = weak.lock()) self->cancel_read_wait();
  }
};

}  // namespace

// Awaited directly by read(): no coroutine frame of Asio's in between, and
// a handler whose type read_waiter_ names.
struct connection::input_wait {
  connection& self;
  template <net::completion_token_for<void(wakeup)> Token>
  auto operator()(Token&& token) {
    return net::async_initiate<Token, void(wakeup)>([&self = self](auto handler) { self.wait_for_input(std::move(handler)); },
                                                    token);
  }
};

template <class Handler>
void connection::wait_for_input(Handler handler) {
  auto& waiter = read_waiter_.emplace(std::move(handler));
  if (auto slot = net::get_associated_cancellation_slot(waiter); slot.is_connected())
    slot.template emplace<read_waiter_cancellation>(weak_from_this());
}

void connection::complete_read_wait(wakeup why) noexcept {
  if (!read_waiter_) return;
  try {
    net::post(executor_, net::append(std::move(*read_waiter_), why));
  } catch (...) {
    // Posting fails only when memory is gone; the waiter is dropped with it.
  }
  read_waiter_.reset();
}

void connection::notify_reader() noexcept { complete_read_wait(wakeup::input); }

void connection::cancel_read_wait() noexcept { complete_read_wait(wakeup::cancelled); }


// The pump is a chain of callbacks rather than a coroutine: an idle
// connection then costs one pending wait, not a coroutine frame and a spawn.
void connection::await_readable() {
  if (read_armed_) return;
  switch (session_.wanted_input()) {
    case session::input::none:
      return;  // ended, or the inbox is full: read() resumes us
    case session::input::parse_set_aside:
      post_pump();  // input set aside is parsed before the socket is read again
      return;
    case session::input::read:
      break;
  }
  read_armed_ = true;
  if (polled_) {
    // Otherwise the poller calls on_ready() when the socket has more.
    if (ready_for(stream_->read_wants()) || stream_->has_buffered_input()) post_pump();
    return;
  }
  auto on_ready = net::bind_allocator(exact_allocator<void>(), [hold = pump_hold{shared_from_this()}](error_code ec) mutable {
    std::exchange(hold.self, nullptr)->on_readable(ec);
  });
  if (stream_->has_buffered_input())
    net::post(executor_, [on_ready = std::move(on_ready)]() mutable { on_ready(error_code{}); });
  else
    stream_->wait(stream_->read_wants(), std::move(on_ready));
}

void connection::post_pump() {
  if (pump_posted_) return;
  pump_posted_ = true;
  net::post(executor_, [hold = pump_hold{shared_from_this()}]() mutable {
    auto const self = std::exchange(hold.self, nullptr);
    self->pump_posted_ = false;
    if (self->session_.wanted_input() == session::input::parse_set_aside)
      self->resume_parsing();
    else if (self->read_armed_)
      self->on_readable({});
  });
}

void connection::on_ready(bool readable, bool writable, bool hangup) {
  auto const self = shared_from_this();  // what runs below may let go of the last owner
  in_ready_ = in_ready_ || readable;
  out_ready_ = out_ready_ || writable;
  hangup_seen_ = hangup_seen_ || hangup;
  if (write_blocked_ && ready_for(stream_->write_wants())) {
    write_blocked_ = false;
    write_more();
  }
  if (read_armed_ && !pump_posted_ && !session_.ended() && ready_for(stream_->read_wants())) on_readable({});
}

// With the poller no operation is pending while the pump waits, so this is
// where a read() waiting on a connection is let go.
void connection::on_poller_shutdown() noexcept {
  auto const self = shared_from_this();
  if (stream_) stream_->forget_poller();  // it is going away (the loop may have taken the stream already)
  read_waiter_.reset();
}

// The pump's pending step holds the connection. When Asio destroys it
// unrun (its io_context is going away), a read() waiting in its slot would
// keep itself and the connection alive in a cycle: it is let go too.
connection::pump_hold::~pump_hold() {
  if (self) self->read_waiter_.reset();
}

void connection::on_readable(error_code ec) {
  read_armed_ = false;
  if (session_.ended()) return;
  if (ec) {
    session_.transport_ended(ec);
    act();
    return;
  }
  auto buffer = thread_read_buffer();
  buffer = buffer.first(std::min(buffer.size(), session_.read_limit()));
  std::size_t n = 0;
  // TLS hands out one record (16 KiB at most) per read; the bytes it still
  // holds are read now rather than after another wait.
  do {
    n += stream_->read_some(net::buffer(buffer.data() + n, buffer.size() - n), ec);
  } while (!ec && n < buffer.size() && stream_->has_buffered_input());
  if (polled_) {
    if (ec == net::error::would_block || ec == net::error::try_again)
      blocked_on(stream_->read_wants());
    else if (!ec && n < buffer.size() && !stream_->is_tls() && !hangup_seen_)
      in_ready_ = false;  // a short read drained the socket: new bytes bring a new event
  }
  if (n > 0) {
    session_.receive(buffer.first(n), clock::now());
    act();
    if (session_.ended()) return;
  }
  if (ec && ec != net::error::would_block && ec != net::error::try_again) {
    session_.transport_ended(ec);
    act();
    return;
  }
  await_readable();
}

void connection::resume_parsing() {
  session_.resume();
  act();
  await_readable();
}

namespace {
// Not `(co_await ...).cancelled()` in place: inside a template coroutine
// g++ 12 cannot parse it.
bool was_cancelled(net::cancellation_state const& state) noexcept {
  return state.cancelled() != net::cancellation_type::none;
}
}  // namespace

// Each operation may be awaited from any executor. The connection's state
// is only touched on its own, so a caller elsewhere runs the same operation
// there (one extra frame, only in that case).
// Once that loop is gone (a handle kept past its server), nothing can run
// there: the operation fails at once.
// On the connection's own thread (one thread runs its io_context, as the
// class requires) the caller's executor needs no comparing: copying and
// comparing it cost 4 % of a pipelined echo.
#define TETHER_RUN_ON_OWN_EXECUTOR(call)                                                     \
  if (!owner) owner = shared_from_this();                                                     \
  if (!on_own_thread()) {                                                                     \
    if (auto const caller = co_await net::this_coro::executor; caller != executor_) {         \
      if (!liveness_->alive()) co_return make_error_code(tether::error::stopped);             \
      co_return co_await net::co_spawn(executor_, call, net::use_awaitable);                  \
    }                                                                                         \
  }

net::awaitable<result<message>> connection::read(std::shared_ptr<void> owner) {
  return read_as<result<message>>(nullptr, std::move(owner));
}

net::awaitable<failure> connection::read_batch(std::vector<message>& into, std::shared_ptr<void> owner) {
  into.clear();
  return read_as<failure>(&into, std::move(owner));
}

// read() takes one message, read_batch() (`into` not null) all of them.
template <class Result>
net::awaitable<Result> connection::read_as(std::vector<message>* into, std::shared_ptr<void> owner) {
  TETHER_RUN_ON_OWN_EXECUTOR(read_as<Result>(into, owner))
  check_executor();
  if (reading_) co_return make_error_code(tether::error::operation_in_progress);
  reading_ = true;
  struct done_reading {
    bool& flag;
    ~done_reading() { flag = false; }
  } const guard{reading_};
  while (!session_.has_message() && !session_.read_error()) {
    auto const woke = co_await input_wait{*this};
    // Cancelled (say by `read() || timer`): leave the messages for the next read.
    if (woke == wakeup::cancelled || was_cancelled(co_await net::this_coro::cancellation_state))
      co_return make_error_code(net::error::operation_aborted);
  }
  if constexpr (std::is_same_v<Result, failure>)
    co_return take_messages(*into);
  else
    co_return take_message();
}

// Outside read(): every local of a coroutine has a place in its frame for
// as long as it waits.
result<message> connection::take_message() {
  if (auto msg = session_.take_message()) {
    act();  // a full inbox that drained lets the pump read again
    return std::move(*msg);
  }
  return session_.read_error();
}

failure connection::take_messages(std::vector<message>& into) {
  if (!session_.has_message()) return session_.read_error();
  session_.take_messages(into);
  act();
  return {};
}

// ---------------------------------------------------------------- writing

void connection::start_flush() {
  if (flushing_ || session_.ended()) return;
  flushing_ = true;
  // Deferred to the next turn of the loop, so that every write made before
  // the application next waits leaves in the same gather write.
  net::post(executor_, [self = shared_from_this()] { self->write_more(); });
}

// Writes the session's output until there is none or the socket is full;
// then waits for it to drain.
void connection::write_more() {
  for (;;) {
    auto const buffers = session_.output();
    if (buffers.empty()) {
      flushing_ = false;
      act();
      return;
    }
    error_code ec;
    std::size_t const written = stream_->write_some(buffers, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      act();
      if (polled_) {
        blocked_on(stream_->write_wants());
        write_blocked_ = true;  // on_ready() goes on
        return;
      }
      stream_->wait(stream_->write_wants(), [self = shared_from_this()](error_code ec) {
        // A wait that completed together with the pump's end of the
        // connection must not write: the stream is closed by now.
        if (self->session_.ended()) {
          self->flushing_ = false;
        } else if (ec) {
          self->flushing_ = false;
          self->session_.write_failed(ec);
          self->act();
        } else {
          self->write_more();
        }
      });
      return;
    }
    if (ec) {
      flushing_ = false;
      session_.write_failed(ec);
      act();
      return;
    }
    session_.wrote(written, clock::now());
  }
}

net::awaitable<failure> connection::write(std::string payload, message_kind kind, std::shared_ptr<void> owner) {
  return queue_messages({}, message(kind, std::move(payload)), std::move(owner));
}

namespace {
net::awaitable<failure> nothing_to_write() { co_return failure{}; }
}  // namespace

net::awaitable<failure> connection::write_batch(std::span<message> messages, std::shared_ptr<void> owner) {
  // queue_messages() reads an empty span as write()'s one message.
  if (messages.empty()) return nothing_to_write();
  return queue_messages(messages, {}, std::move(owner));
}

net::awaitable<failure> connection::queue_messages(std::span<message> batch, message one, std::shared_ptr<void> owner) {
  TETHER_RUN_ON_OWN_EXECUTOR(queue_messages(batch, std::move(one), owner))
  if (batch.empty()) batch = {&one, 1};
  for (auto& msg : batch) {
    if (auto const bad = session::check_payload(msg.payload, msg.kind)) {
      act();
      co_return bad;
    }
    // Writers take their turns in order: a new one waits behind those
    // already waiting, even if its message would fit.
    for (bool first = true;; first = false) {
      if (auto const refused = session_.write_refusal()) {
        act();
        co_return refused;
      }
      if ((!first || session_.waiting_writers() == 0) && session_.write_fits(msg.payload.size())) break;
      act();  // what this batch queued starts leaving
      session_.writer_waits();
      co_await wake_timer().async_wait(use_tuple);  // room for one writer, or a change of state
      session_.writer_woke();
      if (was_cancelled(co_await net::this_coro::cancellation_state)) {
        session_.pass_turn();  // a turn given to us passes on
        act();
        co_return make_error_code(net::error::operation_aborted);
      }
    }
    auto const now = time_to_queue(msg.payload.size());
    session_.send(std::move(msg.payload), msg.kind, now);
  }
  act();
  co_return error_code{};
}

// The clock is read only when queuing needs the time (it starts sending, or
// meets a full queue): reading it for every message of a busy connection
// cost 3 % of a pipelined echo and 4 % of a broadcast.
session::time_point connection::time_to_queue(std::size_t size) const noexcept {
  return session_.needs_time_to_queue(size) ? clock::now() : session::time_point{};
}

connection::delivery connection::deliver(std::shared_ptr<std::string const> const& framed, std::string_view payload,
                                         message_kind kind, overflow when_full, std::size_t& dropped_older) {
  auto const now = time_to_queue(framed ? framed->size() : payload.size());
  auto const what = session_.deliver(framed, payload, kind, when_full, dropped_older, now);
  act();
  return what;
}

net::awaitable<failure> connection::ping(std::string payload, std::shared_ptr<void> owner) {
  TETHER_RUN_ON_OWN_EXECUTOR(ping(std::move(payload), owner))
  auto const ec = session_.ping(std::move(payload), clock::now());
  act();
  co_return ec;
}

net::awaitable<failure> connection::close(close_code code, std::string reason,
                                                            std::shared_ptr<void> owner) {
  TETHER_RUN_ON_OWN_EXECUTOR(close(code, std::move(reason), owner))
  if (auto const bad = session_.close(code, reason, clock::now())) co_return bad;
  act();
  while (!session_.ended()) {
    session_.writer_waits();
    co_await wake_timer().async_wait(use_tuple);  // any change of state
    session_.writer_woke();
    if (was_cancelled(co_await net::this_coro::cancellation_state))
      co_return make_error_code(net::error::operation_aborted);  // the close goes on without us
  }
  co_return session_.error() == tether::error::closed ? error_code{} : make_error_code(session_.error());
}

net::steady_timer& connection::wake_timer() {
  if (!wake_) wake_ = std::make_unique<net::steady_timer>(executor_, clock::time_point::max());
  return *wake_;
}

// ---------------------------------------------------------------- ending

void connection::abort(tether::error why) {
  session_.abort(why);
  act();
}

void connection::on_loop_gone() noexcept {
  own_executor_.store(nullptr, std::memory_order_release);
  try {
    session_.abort(tether::error::stopped);
    if (session_.take_actions() & session::end_transport) stream_->close();
  } catch (...) {
    // Only its log line can fail; the stream is closed by then.
  }
  read_waiter_.reset();
  // Asio's sockets and timers reach their io_context's services even when
  // destroyed idle: they go now, while those services exist.
  destroy_stream();
  disarm_watchdog();
  wake_.reset();
}

// ---------------------------------------------------------------- timers

// Armed for the session's earliest deadline. act() re-arms only when a
// deadline comes before the armed one: the session checks every condition
// when the timer fires, and re-arming on each flush would cost a timer
// operation per message.
void connection::arm_watchdog() {
  auto const deadline = session_.deadline();
  if (deadline == clock::time_point::max()) return;
  watchdog_deadline_ = deadline;
  liveness_->deadlines().schedule(*this, deadline);
}

void connection::disarm_watchdog() noexcept {
  liveness_->deadlines().cancel(*this);
  watchdog_deadline_ = clock::time_point::max();
}

void connection::deadline_reached() {
  if (on_own_thread()) {
    on_watchdog();
    return;
  }
  net::post(executor_, [self = shared_from_this()] { self->on_watchdog(); });
}

void connection::on_watchdog() {
  watchdog_deadline_ = clock::time_point::max();
  session_.timer_fired(clock::now());
  act();  // timer_fired() always asks to re-arm, and nothing is armed now
}

}  // namespace tether::detail

#undef TETHER_RUN_ON_OWN_EXECUTOR
