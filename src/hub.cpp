#include <tether/hub.hpp>

#include "codec/frame.hpp"
#include "codec/utf8.hpp"
#include "connection.hpp"
#include "hub_state.hpp"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace net = boost::asio;

namespace tether {

void hub::state::sweep() {
  for (auto it = topics.begin(); it != topics.end();) {
    std::erase_if(it->second, [](subscriber const& s) { return s.handle.expired(); });
    it = it->second.empty() ? close_topic(it) : std::next(it);
  }
}

hub::state::topic_table::iterator hub::state::open_topic(std::string_view name) {
  auto it = topics.find(name);
  if (it != topics.end()) return it;
  it = topics.emplace(std::string(name), std::vector<subscriber>{}).first;
  if (link) link->topic_opened(name);
  return it;
}

hub::state::topic_table::iterator hub::state::close_topic(topic_table::iterator it) {
  if (link) link->topic_closed(it->first);
  return topics.erase(it);
}

void hub::state::forget(detail::connection const* key, std::string_view topic) {
  std::lock_guard lock(mutex);
  auto const it = topics.find(topic);
  if (it == topics.end()) return;
  std::erase_if(it->second, [&](subscriber const& s) { return s.key == key; });
  if (it->second.empty()) close_topic(it);
}

void hub::state::attach(std::shared_ptr<detail::hub_link> carrier) {
  std::lock_guard lock(mutex);
  if (link) throw std::logic_error("tether::hub: this hub already has a bridge");
  link = std::move(carrier);
  for (auto const& [name, subscribers] : topics) link->topic_opened(name);
}

void hub::state::detach(detail::hub_link const* carrier) {
  std::lock_guard lock(mutex);
  if (link.get() == carrier) link.reset();
}

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
  auto& subscribers = state_->open_topic(topic)->second;
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
  state_->published.fetch_add(1, std::memory_order_relaxed);
  auto const count = state_->deliver(topic, payload, kind);
  std::shared_ptr<detail::hub_link> link;
  {
    std::lock_guard lock(state_->mutex);
    link = state_->link;
  }
  // Other processes get it through the link; ours never come back (the
  // bridge drops its own), so each subscriber anywhere gets it once.
  if (link) link->forward(topic, payload, kind);
  return count;
}

std::size_t hub::state::deliver(std::string_view topic, std::string_view payload, message_kind kind) {
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
    std::lock_guard lock(mutex);
    auto const it = topics.find(topic);
    if (it != topics.end()) {
      auto& subscribers = it->second;
      std::erase_if(subscribers, [](subscriber const& s) { return s.handle.expired(); });
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
      if (subscribers.empty()) close_topic(it);
    }
  }
  if (count == 0) return 0;

  // Framed once, for the server role (unmasked); every queue shares it.
  auto framed = std::make_shared<std::string>();
  detail::header_bytes header{};
  auto const header_size = detail::encode_header(header, true, detail::data_opcode(kind), payload.size(), nullptr, false);
  framed->reserve(header_size + payload.size());
  framed->append(header.data(), header_size).append(payload);
  std::shared_ptr<std::string const> shared = std::move(framed);

  for (auto& b : batches) {
    net::post(b.executor, [self = shared_from_this(), shared, header_size, kind, topic = std::string(topic),
                           targets = std::move(b.targets)] {
      std::string_view const body(shared->data() + header_size, shared->size() - header_size);
      for (auto const& t : targets) {
        std::size_t dropped_older = 0;
        auto const what = t.handle->deliver(shared, body, kind, t.when_full, dropped_older);
        self->dropped.fetch_add(dropped_older, std::memory_order_relaxed);
        switch (what) {
          case detail::connection::delivery::queued:
            self->queued.fetch_add(1, std::memory_order_relaxed);
            break;
          case detail::connection::delivery::dropped:
            self->dropped.fetch_add(1, std::memory_order_relaxed);
            break;
          case detail::connection::delivery::closed:
            self->dropped.fetch_add(1, std::memory_order_relaxed);
            self->closed.fetch_add(1, std::memory_order_relaxed);
            self->forget(t.handle.get(), topic);
            break;
          case detail::connection::delivery::gone:
            self->forget(t.handle.get(), topic);  // it closed: it leaves by itself
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
