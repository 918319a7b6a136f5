// Chat rooms: a page at /, WebSocket rooms at /rooms/{room} that only this
// site's pages may open (origin allow-list), and an admin page at /admin,
// behind a password, whose socket needs a signed, time-limited, single-use
// token that the page mints.
// Rooms are topics of a tether::hub; with --redis, several instances
// share them (scripts/chat-cluster runs two behind nginx).
//   03_chat_rooms [--port N] [--name NAME] [--redis HOST:PORT] [--origin URL]...
//                 [--trust-proxy ADDRESS]... [--admin-secret TEXT] [--token-secret TEXT]
//                 [--stop-after SECONDS] [--debug]
// Without --admin-secret (or TETHER_ADMIN_SECRET) there is no admin page.
// Instances behind one load balancer need the same --token-secret: the
// admin page may come from one and its socket go to another.
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr char chat_page[] = R"html(<!doctype html>
<meta charset="utf-8"><link rel="icon" href="data:,"><title>Tether rooms</title>
<style>body{font:16px system-ui;margin:2em;max-width:40em}#log{white-space:pre-wrap;border:1px solid #ccc;padding:.5em;min-height:10em}</style>
<h1>Tether rooms</h1>
<form id="join">Name <input id="name" value="guest"> Room <input id="room" value="lobby"> <button>Join</button></form>
<form id="say" hidden><input id="text" size="40" autofocus> <button>Send</button></form>
<div id="log"></div>
<script>
const log = (line) => { document.getElementById('log').textContent += line + '\n'; };
let ws, retry = 500, failures = 0;
// 1001 is a server going away (a restart); 1006 a lost connection; 1012
// and 1013 ask to come back later. Behind a load balancer the next try
// reaches another instance.
const comes_back = (code) => [1001, 1006, 1011, 1012, 1013].includes(code);
const open = (room, name, again) => {
  ws = new WebSocket(`ws://${location.host}/rooms/${room}?name=${name}`);
  ws.onopen = () => {
    retry = 500;
    failures = 0;
    document.getElementById('say').hidden = false;
    log((again ? 'rejoined ' : 'joined ') + decodeURIComponent(room));
  };
  ws.onmessage = (e) => log(e.data);
  ws.onclose = (e) => {
    document.getElementById('say').hidden = true;
    // A refusal (a wrong origin, say) also looks like 1006: give up after
    // five tries in a row that never opened.
    if (!comes_back(e.code) || (!e.wasClean && ++failures > 5)) { log(`closed (${e.code})`); return; }
    log(`closed (${e.code}), reconnecting`);
    setTimeout(() => open(room, name, true), retry * (1 + Math.random() / 4));
    retry = Math.min(retry * 2, 8000);
  };
};
document.getElementById('join').onsubmit = (e) => {
  e.preventDefault();
  if (ws) { ws.onclose = null; ws.close(); }
  const room = encodeURIComponent(document.getElementById('room').value);
  const name = encodeURIComponent(document.getElementById('name').value);
  open(room, name, false);
};
document.getElementById('say').onsubmit = (e) => {
  e.preventDefault();
  ws.send(document.getElementById('text').value);
  document.getElementById('text').value = '';
};
</script>
)html";

// Every room is a topic of the hub; "announcements" reaches every room.
// The counts are this instance's own; with threads > 1 they would need a
// lock.
struct rooms {
  tether::hub& topics;
  std::string const instance;
  std::map<std::string, int> here;

  static std::string topic_of(std::string const& room) { return "room/" + room; }
  void say(std::string const& room, std::string const& text) { topics.publish(topic_of(room), text); }
  void announce(std::string const& text) { topics.publish("announcements", text); }
  std::string summary() const {
    std::string text = "rooms on " + instance + ":";
    for (auto const& [room, count] : here) text += " " + room + "(" + std::to_string(count) + ")";
    return text;
  }
};

net::awaitable<void> chat(rooms& all, tether::websocket& ws, tether::request const& req) {
  std::string const room(req.param("room"));
  std::string name = req.query_value("name").value_or("guest");
  // At most 32 bytes, cut between characters: half a character would make
  // every message of this member invalid UTF-8, which the hub refuses.
  if (name.size() > 32) {
    std::size_t cut = 32;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    name.resize(cut);
  }
  // Subscribed before the welcome: nothing said after it is missed.
  all.topics.subscribe(ws, rooms::topic_of(room));
  all.topics.subscribe(ws, "announcements");
  ++all.here[room];
  co_await ws.write("welcome to " + room + " on " + all.instance);
  all.say(room, name + " joined");
  while (auto msg = co_await ws.read()) {
    if (msg->is_text()) all.say(room, name + ": " + msg->payload);
  }
  if (--all.here[room] == 0) all.here.erase(room);
  all.say(room, name + " left");
}  // the hub lets go of a closed connection by itself

// The admin page asks for HTTP Basic authentication, which every browser
// (and curl -u admin:SECRET) speaks: user "admin", the secret as password.
// Send it over TLS, or through a TLS proxy, beyond loopback.
class admin_password {
 public:
  explicit admin_password(std::string const& secret) : expected_(digest("Basic " + base64("admin:" + secret))) {}

  bool admits(tether::request const& req) const {
    // Digests of equal length, compared in constant time: neither the
    // time taken nor an early length mismatch tells a guesser anything.
    auto const given = digest(req.header("Authorization"));
    return CRYPTO_memcmp(given.data(), expected_.data(), expected_.size()) == 0;
  }

 private:
  static std::string base64(std::string const& text) {
    std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
    auto const n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                   reinterpret_cast<unsigned char const*>(text.data()), static_cast<int>(text.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
  }

  static std::string digest(std::string_view text) {
    std::string out(EVP_MAX_MD_SIZE, '\0');
    unsigned int n = 0;
    EVP_Digest(text.data(), text.size(), reinterpret_cast<unsigned char*>(out.data()), &n, EVP_sha256(), nullptr);
    out.resize(n);
    return out;
  }

  std::string expected_;
};

// A signed token alone can be replayed until it expires (from a proxy's
// log, say): each one is minted for /admin/<nonce>, and a nonce opens one
// socket. A nonce is kept only while its token could still be valid. Each
// instance keeps its own, so behind a load balancer a replay could get in
// once per instance; a shared store (Redis SET NX EX) closes that.
constexpr auto token_lifetime = 60s;

struct spent_nonces {
  std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> until;

  bool first_use(std::string_view nonce) {
    auto const now = std::chrono::steady_clock::now();
    std::erase_if(until, [now](auto const& entry) { return entry.second < now; });
    return until.emplace(std::string(nonce), now + token_lifetime).second;
  }
};

std::string random_nonce() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("RAND_bytes failed");
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char const b : bytes) {
    hex += digits[b >> 4];
    hex += digits[b & 0xF];
  }
  return hex;
}

net::awaitable<void> admin(rooms& all, spent_nonces& spent, tether::websocket& ws, tether::request const& req) {
  if (!spent.first_use(req.param("nonce"))) {
    co_await ws.close(tether::close_code::policy_violation, "this token was used already");
    co_return;
  }
  co_await ws.write(all.summary());
  while (auto msg = co_await ws.read()) {
    if (msg->payload == "rooms") co_await ws.write(all.summary());
    else all.announce("[admin] " + msg->payload);
  }
}

std::string admin_page(std::string const& socket_path, std::string const& token) {
  return R"html(<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>Tether rooms admin</title>
<h1>Admin</h1><p>Type "rooms" for a summary; anything else is announced in every room.</p>
<form id="f"><input id="t" size="40" autofocus> <button>Send</button></form><pre id="log"></pre>
<script>
const ws = new WebSocket(`ws://${location.host})html" + socket_path + "?token=" + token + R"html(`);
ws.onmessage = (e) => { document.getElementById('log').textContent += e.data + '\n'; };
ws.onclose = (e) => { document.getElementById('log').textContent += `closed (${e.code})\n`; };
document.getElementById('f').onsubmit = (e) => { e.preventDefault(); ws.send(document.getElementById('t').value); };
</script>)html";
}

}  // namespace

// For load balancers and people: is this instance up, and is it linked?
std::string status_json(rooms const& all, tether::server const& server, tether::redis_bridge const* bridge) {
  std::string json = "{\"instance\":\"" + all.instance + "\",\"connections\":" + std::to_string(server.connections());
  if (bridge) {
    auto const s = bridge->status();
    json += ",\"redis\":{\"connected\":" + std::string(s.connected ? "true" : "false") +
            ",\"channels\":" + std::to_string(s.channels) + ",\"forwarded\":" + std::to_string(s.forwarded) +
            ",\"received\":" + std::to_string(s.received) + ",\"lost\":" + std::to_string(s.lost) + "}";
  }
  return json + "}";
}

int main(int argc, char** argv) {
  tether::server_options options;
  options.port = 8080;
  int stop_after = 0;
  std::string instance = "tether";
  std::string redis;
  std::string secret;
  std::string admin_secret = std::getenv("TETHER_ADMIN_SECRET") ? std::getenv("TETHER_ADMIN_SECRET") : "";
  std::vector<std::string> origins;
  for (int i = 1; i < argc; ++i) {
    std::string const arg = argv[i];
    if (arg == "--port" && i + 1 < argc) options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (arg == "--name" && i + 1 < argc) instance = argv[++i];
    else if (arg == "--redis" && i + 1 < argc) redis = argv[++i];
    else if (arg == "--origin" && i + 1 < argc) origins.emplace_back(argv[++i]);
    else if (arg == "--trust-proxy" && i + 1 < argc) options.trusted_proxies.emplace_back(argv[++i]);
    else if (arg == "--admin-secret" && i + 1 < argc) admin_secret = argv[++i];
    else if (arg == "--token-secret" && i + 1 < argc) secret = argv[++i];
    else if (arg == "--stop-after" && i + 1 < argc) stop_after = std::atoi(argv[++i]);
    else if (arg == "--debug") options.logger = tether::logger(tether::log_level::debug);
    else {
      bool const asked = arg == "--help" || arg == "-h";
      std::fprintf(asked ? stdout : stderr,
                   "usage: %s [--port N] [--name NAME] [--redis HOST:PORT] [--origin URL]... [--trust-proxy ADDRESS]...\n"
                   "          [--admin-secret TEXT] [--token-secret TEXT] [--stop-after SECONDS] [--debug]\n"
                   "  --admin-secret  password of the admin page at /admin (user \"admin\"), 16 bytes or more;\n"
                   "                  TETHER_ADMIN_SECRET in the environment does the same. Without it there is\n"
                   "                  no admin page.\n",
                   argv[0]);
      return asked ? 0 : 2;
    }
  }
  if (!admin_secret.empty() && admin_secret.size() < 16) {
    std::fprintf(stderr, "the admin secret needs 16 bytes or more\n");
    return 2;
  }
  std::string const here = "http://127.0.0.1:" + std::to_string(options.port);
  origins.push_back(here);
  origins.push_back("http://localhost:" + std::to_string(options.port));

  tether::hub topics;
  std::optional<tether::redis_bridge> bridge;
  if (!redis.empty()) {
    auto const colon = redis.rfind(':');
    tether::redis_options link;
    link.host = redis.substr(0, colon);
    if (colon != std::string::npos) link.port = static_cast<std::uint16_t>(std::atoi(redis.c_str() + colon + 1));
    link.logger = options.logger;
    bridge.emplace(topics, link);
  }
  rooms all{topics, instance, {}};
  // Without a secret, a fresh one per run: tokens from an earlier run stop
  // working.
  auto tokens = std::make_shared<tether::url_token const>(secret.empty() ? tether::url_token::with_random_secret()
                                                                         : tether::url_token(secret));
  tether::router app;
  app.get("/", [](tether::request const&) { return tether::response::html(chat_page); });
  app.websocket("/rooms/{room}",
                [&all](tether::websocket& ws, tether::request const& req) { return chat(all, ws, req); },
                {.origins = tether::origin::allow(origins)});
  tether::server const* serving = nullptr;  // set once the server exists, before it serves
  app.get("/status", [&](tether::request const&) {
    return tether::response::json(status_json(all, *serving, bridge ? &*bridge : nullptr));
  });
  spent_nonces spent;
  if (!admin_secret.empty()) {
    app.get("/admin", [tokens, password = admin_password(admin_secret)](tether::request const& req) {
      if (!password.admits(req)) {
        auto refusal = tether::response::text("the admin page needs the admin secret\n", 401);
        refusal.headers.push_back({"WWW-Authenticate", "Basic realm=\"Tether rooms admin\", charset=\"UTF-8\""});
        return refusal;
      }
      auto const path = "/admin/" + random_nonce();
      auto page = tether::response::html(admin_page(path, tokens->mint(path, token_lifetime)));
      page.headers.push_back({"Cache-Control", "no-store"});  // the token is in it
      return page;
    });
    app.websocket("/admin/{nonce}",
                  [&all, &spent](tether::websocket& ws, tether::request const& req) { return admin(all, spent, ws, req); },
                  {.token = tokens});
  }

  try {
    tether::server server(app, options);
    serving = &server;
    std::printf("chat rooms on %s as %s (admin: %s)\n", here.c_str(), instance.c_str(),
                admin_secret.empty() ? "off, see --help" : (here + "/admin").c_str());
    std::fflush(stdout);
    std::atomic<bool> running{true};
    std::thread stopper;
    if (stop_after > 0) {
      stopper = std::thread([&] {
        auto const deadline = std::chrono::steady_clock::now() + std::chrono::seconds(stop_after);
        while (running && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
        server.stop(2s);  // idempotent: harmless after Ctrl-C
      });
    }
    int const status = server.run_until_signal();
    // No message from Redis may reach a connection while the server's
    // loops are destroyed.
    bridge.reset();
    running = false;
    if (stopper.joinable()) stopper.join();
    return status;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cannot start: %s\n", e.what());
    return 1;
  }
}
