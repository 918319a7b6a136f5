#pragma once
// The completion handler that an awaitable<> coroutine hands to an
// operation it co_awaits directly (Asio's "async operation" awaiting, since
// Boost 1.81). Knowing its type lets a connection keep a waiting coroutine's
// handler in its own memory instead of type-erasing it onto the heap, and
// awaiting an operation directly costs no coroutine frame, unlike a
// use_awaitable token, whose initiation is a coroutine of its own.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>

#include <coroutine>
#include <utility>

namespace tether::detail {

// An operation of `Signature` that does nothing: only its handler's type matters.
template <class Signature>
struct operation_with_signature {
  struct ignore {
    template <class Handler>
    void operator()(Handler&&) const noexcept {}
  };
  // Constrained, so that Asio's probing of other await_transform overloads
  // with a frame pointer fails quietly.
  template <boost::asio::completion_token_for<Signature> Token>
  auto operator()(Token&& token) {
    return boost::asio::async_initiate<Token, Signature>(ignore{}, token);
  }
};

// The handler depends on the signature and the executor alone, so a
// stand-in operation computes it for every operation of that signature.
template <class Signature, class Executor = boost::asio::any_io_executor>
using awaited_handler = typename decltype(std::declval<
    typename std::coroutine_traits<boost::asio::awaitable<void, Executor>>::promise_type&>()
    .await_transform(std::declval<operation_with_signature<Signature>>()))::handler_type;

}  // namespace tether::detail
