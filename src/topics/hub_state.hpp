#pragma once
// What a hub shares with the bridges that carry its topics to other
// processes: the topic table, local delivery, and the link hook.

#include <tether/hub.hpp>

#include "ws/connection.hpp"

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tether::detail {

/// A carrier of publishes between processes (the Redis bridge). The hub
/// tells it which topics have local subscribers and hands it every local
/// publish; it hands back what other processes published.
class hub_link {
 public:
  virtual ~hub_link() = default;
  /// A topic got its first subscriber, or lost its last. Called with the
  /// hub's mutex held: must not block and must not call back into the hub.
  virtual void topic_opened(std::string_view topic) = 0;
  virtual void topic_closed(std::string_view topic) = 0;
  /// A publish() of this process, already delivered locally. Any thread.
  virtual void forward(std::string_view topic, std::string_view payload, message_kind kind) = 0;
};

}  // namespace tether::detail

namespace tether {

struct hub::state : std::enable_shared_from_this<hub::state> {
  struct subscriber {
    std::weak_ptr<detail::connection> handle;  // never keeps a connection open
    detail::connection const* key;
    overflow when_full;
  };
  using topic_table = std::map<std::string, std::vector<subscriber>, std::less<>>;

  mutable std::mutex mutex;
  topic_table topics;
  std::shared_ptr<detail::hub_link> link;  // under mutex
  std::atomic<std::uint64_t> published{0}, queued{0}, dropped{0}, closed{0}, compressed_once{0}, own_frames{0};
  std::uint64_t subscribes_since_sweep = 0;

  /// Queues the message for this process's subscribers of `topic` and
  /// returns how many there were. The payload must already be valid for
  /// its kind. With `link`, also hands back the link, taken under the same
  /// lock.
  std::size_t deliver(std::string_view topic, std::string_view payload, message_kind kind,
                      std::shared_ptr<detail::hub_link>* link = nullptr);

  /// Attaches a link and tells it every topic there is; throws
  /// std::logic_error when the hub already has one.
  void attach(std::shared_ptr<detail::hub_link> carrier);
  void detach(detail::hub_link const* carrier);

  // The rest is called with the mutex held.
  topic_table::iterator open_topic(std::string_view name);
  topic_table::iterator close_topic(topic_table::iterator it);
  void sweep();
  void forget(detail::connection const* key, std::string_view topic);  // takes the mutex itself
};

}  // namespace tether
