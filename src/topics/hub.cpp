#include <tether/hub.hpp>

#include "codec/deflate.hpp"
#include "codec/frame.hpp"
#include "codec/utf8.hpp"
#include "ws/connection.hpp"
#include "topics/hub_state.hpp"

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
  std::shared_ptr<detail::hub_link> link;
  auto const count = state_->deliver(topic, payload, kind, &link);
  // Other processes get it through the link; ours never come back (the
  // bridge drops its own), so each subscriber anywhere gets it once.
  if (link) link->forward(topic, payload, kind);
  return count;
}

namespace {

// The server's frame of a message: header, then payload, in one shared
// string that every queue can point at.
std::shared_ptr<std::string const> frame_once(std::string_view payload, message_kind kind, bool compressed,
                                              std::size_t& header_size) {
  auto framed = std::make_shared<std::string>();
  detail::header_bytes header{};
  header_size = detail::encode_header(header, true, detail::data_opcode(kind), payload.size(), nullptr, compressed);
  framed->reserve(header_size + payload.size());
  framed->append(header.data(), header_size).append(payload);
  return framed;
}

// One published message in every form its subscribers need: plain, and
// compressed once per parameter set (without context takeover the
// result depends on nothing else).
class message_forms {
 public:
  message_forms(std::string_view payload, message_kind kind)
      : payload_(payload), kind_(kind), plain_(frame_once(payload, kind, false, header_size_)) {}

  std::shared_ptr<std::string const> const& plain() const { return plain_; }
  std::size_t header_size() const { return header_size_; }

  std::shared_ptr<std::string const> compressed(detail::connection::publish_format const& f,
                                                std::atomic<std::uint64_t>& compressions) {
    if (payload_.size() < f.threshold) return plain_;
    for (auto const& v : compressed_)
      if (v.window_bits == f.window_bits && v.mem_level == f.mem_level && v.level == f.level) return v.frame;
    std::string deflated;
    detail::thread_deflater(f.window_bits, f.mem_level, f.level).compress(payload_, deflated, true);
    compressions.fetch_add(1, std::memory_order_relaxed);
    std::size_t ignored = 0;
    // Incompressible: plain is smaller, and allowed (RFC 7692 6.1).
    auto frame = deflated.size() >= payload_.size() ? plain_ : frame_once(deflated, kind_, true, ignored);
    return compressed_.emplace_back(variant{f.window_bits, f.mem_level, f.level, std::move(frame)}).frame;
  }

 private:
  struct variant {
    int window_bits, mem_level, level;
    std::shared_ptr<std::string const> frame;
  };
  std::string_view payload_;
  message_kind kind_;
  std::size_t header_size_ = 0;
  std::shared_ptr<std::string const> plain_;
  std::vector<variant> compressed_;
};

}  // namespace

std::size_t hub::state::deliver(std::string_view topic, std::string_view payload, message_kind kind,
                                std::shared_ptr<detail::hub_link>* link_out) {
  using format = detail::connection::publish_format;
  struct target {
    std::shared_ptr<detail::connection> handle;
    overflow when_full;
    format how;
    std::shared_ptr<std::string const> frame;  // null: the connection frames its own
  };
  struct batch {
    net::any_io_executor executor;
    std::vector<target> targets;
  };
  std::vector<batch> batches;
  std::size_t count = 0;
  {
    std::lock_guard lock(mutex);
    if (link_out) *link_out = link;
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
        auto const how = handle->format_for_publishing();
        b->targets.push_back({std::move(handle), s.when_full, how, nullptr});
        ++count;
      }
      if (subscribers.empty()) close_topic(it);
    }
  }
  if (count == 0) return 0;

  // Framed (and compressed) here, on the publisher's thread, once per form.
  message_forms forms(payload, kind);
  for (auto& b : batches)
    for (auto& t : b.targets) {
      if (t.how.what == format::kind::plain)
        t.frame = forms.plain();
      else if (t.how.what == format::kind::compressed)
        t.frame = forms.compressed(t.how, compressed_once);
      else
        own_frames.fetch_add(1, std::memory_order_relaxed);
    }

  for (auto& b : batches) {
    // A subscriber's loop may be gone (its server destroyed before the hub):
    // nothing can be delivered there.
    auto& loop = b.targets.front().handle->liveness();
    loop.post(b.executor, [self = shared_from_this(), plain = forms.plain(), header_size = forms.header_size(), kind,
                           topic = std::string(topic), targets = std::move(b.targets)] {
      std::string_view const body(plain->data() + header_size, plain->size() - header_size);
      for (auto const& t : targets) {
        std::size_t dropped_older = 0;
        auto const what = t.handle->deliver(t.frame, body, kind, t.when_full, dropped_older);
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
          state_->dropped.load(std::memory_order_relaxed), state_->closed.load(std::memory_order_relaxed),
          state_->compressed_once.load(std::memory_order_relaxed), state_->own_frames.load(std::memory_order_relaxed)};
}

}  // namespace tether
