#include <tether/hub.hpp>

#include "codec/frame.hpp"
#include "codec/utf8.hpp"
#include "connection.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace net = boost::asio;

namespace tether {

struct hub::state {
  struct subscriber {
    std::weak_ptr<detail::connection> handle;  // never keeps a connection open
    detail::connection const* key;
    overflow when_full;
  };

  mutable std::mutex mutex;
  std::map<std::string, std::vector<subscriber>, std::less<>> topics;
  std::atomic<std::uint64_t> published{0}, queued{0}, dropped{0}, closed{0};

  // Drops subscriptions whose handles are all gone, and empty topics.
  // Called with the mutex held.
  void sweep() {
    for (auto it = topics.begin(); it != topics.end();) {
      std::erase_if(it->second, [](subscriber const& s) { return s.handle.expired(); });
      it = it->second.empty() ? topics.erase(it) : std::next(it);
    }
  }

  std::uint64_t subscribes_since_sweep = 0;

  void forget(detail::connection const* key, std::string_view topic) {
    std::lock_guard lock(mutex);
    auto const it = topics.find(topic);
    if (it == topics.end()) return;
    std::erase_if(it->second, [&](subscriber const& s) { return s.key == key; });
    if (it->second.empty()) topics.erase(it);
  }
};

hub::hub() : state_(std::make_shared<state>()) {}
hub::~hub() = default;

void hub::subscribe(websocket const& ws, std::string_view topic, subscription_options options) {
  if (!ws.impl_) return;
  std::lock_guard lock(state_->mutex);
  // Topics that nobody publishes to any more would keep their dead
  // subscribers: every so often all of them are swept.
  if (++state_->subscribes_since_sweep >= 256) {
    state_->subscribes_since_sweep = 0;
    state_->sweep();
  }
  auto it = state_->topics.find(topic);
  if (it == state_->topics.end()) it = state_->topics.emplace(std::string(topic), std::vector<state::subscriber>{}).first;
  auto& subscribers = it->second;
  std::erase_if(subscribers, [](state::subscriber const& s) { return s.handle.expired(); });
  for (auto& s : subscribers)
    if (s.key == ws.impl_.get()) {
      s.when_full = options.when_full;
      return;
    }
  subscribers.push_back({ws.impl_, ws.impl_.get(), options.when_full});
}

void hub::unsubscribe(websocket const& ws, std::string_view topic) {
  if (ws.impl_) state_->forget(ws.impl_.get(), topic);
}

void hub::unsubscribe_all(websocket const& ws) {
  if (!ws.impl_) return;
  std::lock_guard lock(state_->mutex);
  for (auto& [name, subscribers] : state_->topics)
    std::erase_if(subscribers, [&](state::subscriber const& s) { return s.key == ws.impl_.get(); });
  state_->sweep();
}

std::size_t hub::publish(std::string_view topic, std::string_view payload, message_kind kind) {
  if (kind == message_kind::text && !detail::is_valid_utf8(payload)) return 0;

  struct target {
    std::shared_ptr<detail::connection> handle;
    overflow when_full;
  };
  struct batch {
    net::any_io_executor executor;
    std::vector<target> targets;
  };
  std::vector<batch> batches;
  std::size_t count = 0;
  {
    std::lock_guard lock(state_->mutex);
    auto const it = state_->topics.find(topic);
    if (it != state_->topics.end()) {
      auto& subscribers = it->second;
      std::erase_if(subscribers, [](state::subscriber const& s) { return s.handle.expired(); });
      for (auto const& s : subscribers) {
        auto handle = s.handle.lock();
        if (!handle) continue;
        // One post per event loop, not per subscriber.
        auto const& executor = handle->executor();
        auto b = std::find_if(batches.begin(), batches.end(), [&](batch const& x) { return x.executor == executor; });
        if (b == batches.end()) b = batches.insert(batches.end(), batch{executor, {}});
        b->targets.push_back({std::move(handle), s.when_full});
        ++count;
      }
      if (subscribers.empty()) state_->topics.erase(it);
    }
  }
  state_->published.fetch_add(1, std::memory_order_relaxed);
  if (count == 0) return 0;

  // Framed once, for the server role (unmasked); every queue shares it.
  auto framed = std::make_shared<std::string>();
  detail::header_bytes header{};
  auto const header_size = detail::encode_header(header, true, detail::data_opcode(kind), payload.size(), nullptr, false);
  framed->reserve(header_size + payload.size());
  framed->append(header.data(), header_size).append(payload);
  std::shared_ptr<std::string const> shared = std::move(framed);

  for (auto& b : batches) {
    net::post(b.executor, [state = state_, shared, header_size, kind, topic = std::string(topic),
                           targets = std::move(b.targets)] {
      std::string_view const body(shared->data() + header_size, shared->size() - header_size);
      for (auto const& t : targets) {
        std::size_t dropped_older = 0;
        auto const what = t.handle->deliver(shared, body, kind, t.when_full, dropped_older);
        state->dropped.fetch_add(dropped_older, std::memory_order_relaxed);
        switch (what) {
          case detail::connection::delivery::queued:
            state->queued.fetch_add(1, std::memory_order_relaxed);
            break;
          case detail::connection::delivery::dropped:
            state->dropped.fetch_add(1, std::memory_order_relaxed);
            break;
          case detail::connection::delivery::closed:
            state->dropped.fetch_add(1, std::memory_order_relaxed);
            state->closed.fetch_add(1, std::memory_order_relaxed);
            state->forget(t.handle.get(), topic);
            break;
          case detail::connection::delivery::gone:
            state->forget(t.handle.get(), topic);  // it closed: it leaves by itself
            break;
        }
      }
    });
  }
  return count;
}

std::size_t hub::subscribers(std::string_view topic) const {
  std::lock_guard lock(state_->mutex);
  auto const it = state_->topics.find(topic);
  if (it == state_->topics.end()) return 0;
  return static_cast<std::size_t>(
      std::count_if(it->second.begin(), it->second.end(), [](state::subscriber const& s) { return !s.handle.expired(); }));
}

hub_counters hub::counters() const {
  return {state_->published.load(std::memory_order_relaxed), state_->queued.load(std::memory_order_relaxed),
          state_->dropped.load(std::memory_order_relaxed), state_->closed.load(std::memory_order_relaxed)};
}

}  // namespace tether
