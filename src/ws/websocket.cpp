#include <tether/websocket.hpp>

#include "ws/connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

namespace net = boost::asio;

namespace tether {

namespace {

boost::system::error_code no_connection() {
  return make_error_code(net::error::not_connected);
}

net::awaitable<result<message>> read_without_connection() { co_return no_connection(); }
net::awaitable<failure> fail_without_connection() { co_return no_connection(); }

std::string const empty_string;
endpoint const empty_endpoint;

}  // namespace

namespace detail {

websocket make_websocket(std::shared_ptr<connection> const& conn) {
  // An aliasing handle: its deleter keeps the real owner and, when the last
  // handle goes, asks the connection (on its own executor) to close. The
  // deleter lives on while weak references to the handle do (a hub's), so
  // it gives up the owner when it runs.
  std::shared_ptr<connection> handle(conn.get(), [owner = conn](connection*) mutable {
    auto const owner_now = std::move(owner);
    try {
      // A handle kept past its server finds the loop gone: the connection
      // ended with it, and is simply freed here.
      owner_now->liveness().post(owner_now->executor(), [owner = owner_now] {
        if (!owner->finished())
          net::co_spawn(owner->executor(), owner->close(close_code::normal, {}, owner), net::detached);
      });
    } catch (...) {
      // Posting only fails when memory is gone; the peer's timeouts end it.
    }
  });
  return websocket(std::move(handle));
}

}  // namespace detail

websocket::websocket(std::shared_ptr<detail::connection> impl) noexcept : impl_(std::move(impl)) {}

// Plain functions, not coroutines: the connection's own coroutine is the
// only frame an operation needs.
net::awaitable<result<message>> websocket::read() {
  return impl_ ? impl_->read(impl_) : read_without_connection();
}

net::awaitable<failure> websocket::write(std::string_view payload, message_kind kind) {
  // The one copy of the payload happens here, into the coroutine's frame.
  return impl_ ? impl_->write(std::string(payload), kind, impl_) : fail_without_connection();
}

net::awaitable<failure> websocket::write(message&& msg) {
  return impl_ ? impl_->write(std::move(msg.payload), msg.kind, impl_) : fail_without_connection();
}

net::awaitable<failure> websocket::read_batch(std::vector<message>& into) {
  return impl_ ? impl_->read_batch(into, impl_) : fail_without_connection();
}

net::awaitable<failure> websocket::write_batch(std::span<message> messages) {
  return impl_ ? impl_->write_batch(messages, impl_) : fail_without_connection();
}

net::awaitable<failure> websocket::ping(std::string_view payload) {
  return impl_ ? impl_->ping(std::string(payload), impl_) : fail_without_connection();
}

net::awaitable<failure> websocket::close(close_code code, std::string_view reason) {
  return impl_ ? impl_->close(code, std::string(reason), impl_) : fail_without_connection();
}

bool websocket::is_open() const noexcept { return impl_ && impl_->is_open(); }

close_code websocket::peer_close_code() const noexcept {
  return impl_ ? impl_->peer_close_code() : close_code::abnormal;
}

std::string const& websocket::peer_close_reason() const noexcept {
  return impl_ ? impl_->peer_close_reason() : empty_string;
}

bool websocket::compressed() const noexcept { return impl_ && impl_->compressed(); }

std::string const& websocket::subprotocol() const noexcept {
  return impl_ ? impl_->subprotocol() : empty_string;
}

endpoint const& websocket::remote() const noexcept { return impl_ ? impl_->remote() : empty_endpoint; }

std::uint64_t websocket::id() const noexcept { return impl_ ? impl_->id() : 0; }

net::any_io_executor websocket::get_executor() const noexcept {
  return impl_ ? impl_->executor() : net::any_io_executor{};
}

}  // namespace tether
