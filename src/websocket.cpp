#include <tether/websocket.hpp>

#include "connection.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

namespace net = boost::asio;

namespace tether {

namespace {

boost::system::error_code no_connection() {
  return make_error_code(net::error::not_connected);
}

std::string const empty_string;
endpoint const empty_endpoint;

}  // namespace

namespace detail {

websocket make_websocket(std::shared_ptr<connection> const& conn) {
  // An aliasing handle: its deleter keeps the real owner and, when the last
  // handle goes, asks the connection (on its own executor) to close.
  std::shared_ptr<connection> handle(conn.get(), [owner = conn](connection*) mutable {
    try {
      net::post(owner->executor(), [owner] {
        if (!owner->finished())
          net::co_spawn(owner->executor(), owner->close(close_code::normal, {}), net::detached);
      });
    } catch (...) {
      // Posting only fails when memory is gone; the peer's timeouts end it.
    }
  });
  return websocket(std::move(handle));
}

}  // namespace detail

websocket::websocket(std::shared_ptr<detail::connection> impl) noexcept : impl_(std::move(impl)) {}

net::awaitable<boost::system::result<message>> websocket::read() {
  if (!impl_) co_return no_connection();
  co_return co_await impl_->read();
}

net::awaitable<boost::system::error_code> websocket::write(std::string_view payload, message_kind kind) {
  if (!impl_) co_return no_connection();
  co_return co_await impl_->write(payload, kind);
}

net::awaitable<boost::system::error_code> websocket::ping(std::string_view payload) {
  if (!impl_) co_return no_connection();
  co_return co_await impl_->ping(payload);
}

net::awaitable<boost::system::error_code> websocket::close(close_code code, std::string_view reason) {
  if (!impl_) co_return no_connection();
  co_return co_await impl_->close(code, reason);
}

bool websocket::is_open() const noexcept { return impl_ && impl_->is_open(); }

close_code websocket::peer_close_code() const noexcept {
  return impl_ ? impl_->peer_close_code() : close_code::abnormal;
}

std::string const& websocket::peer_close_reason() const noexcept {
  return impl_ ? impl_->peer_close_reason() : empty_string;
}

std::string const& websocket::subprotocol() const noexcept {
  return impl_ ? impl_->subprotocol() : empty_string;
}

endpoint const& websocket::remote() const noexcept { return impl_ ? impl_->remote() : empty_endpoint; }

std::uint64_t websocket::id() const noexcept { return impl_ ? impl_->id() : 0; }

net::any_io_executor websocket::get_executor() const noexcept {
  return impl_ ? impl_->executor() : net::any_io_executor{};
}

}  // namespace tether
