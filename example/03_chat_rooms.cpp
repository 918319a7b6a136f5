// Chat rooms: a page at /, WebSocket rooms at /rooms/{room} that only this
// site's pages may open (origin allow-list), and an admin socket at /admin
// that needs a signed, time-limited token, minted by the /admin page.
//   03_chat_rooms [--port N] [--stop-after SECONDS] [--debug]
#include <tether/tether.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr char chat_page[] = R"html(<!doctype html>
<meta charset="utf-8"><title>Tether rooms</title>
<style>body{font:16px system-ui;margin:2em;max-width:40em}#log{white-space:pre-wrap;border:1px solid #ccc;padding:.5em;min-height:10em}</style>
<h1>Tether rooms</h1>
<form id="join">Name <input id="name" value="guest"> Room <input id="room" value="lobby"> <button>Join</button></form>
<form id="say" hidden><input id="text" size="40" autofocus> <button>Send</button></form>
<div id="log"></div>
<script>
const log = (line) => { document.getElementById('log').textContent += line + '\n'; };
let ws;
document.getElementById('join').onsubmit = (e) => {
  e.preventDefault();
  const room = encodeURIComponent(document.getElementById('room').value);
  const name = encodeURIComponent(document.getElementById('name').value);
  ws = new WebSocket(`ws://${location.host}/rooms/${room}?name=${name}`);
  ws.onopen = () => { document.getElementById('say').hidden = false; log('joined ' + decodeURIComponent(room)); };
  ws.onmessage = (e) => log(e.data);
  ws.onclose = (e) => log(`closed (${e.code})`);
};
document.getElementById('say').onsubmit = (e) => {
  e.preventDefault();
  ws.send(document.getElementById('text').value);
  document.getElementById('text').value = '';
};
</script>
)html";

// All rooms live on the server's one event loop, so no locking is needed;
// with threads > 1 this map would need a strand.
struct rooms {
  std::map<std::string, std::map<std::uint64_t, tether::websocket>> members;

  // Each write is its own coroutine: a slow reader delays only itself.
  void broadcast(std::string const& room, std::string const& text) {
    for (auto& [id, ws] : members[room])
      net::co_spawn(ws.get_executor(), [ws, text]() mutable -> net::awaitable<void> { co_await ws.write(text); },
                    net::detached);
  }
  void announce(std::string const& text) {
    for (auto const& [room, who] : members) broadcast(room, text);
  }
  std::string summary() const {
    std::string text = "rooms:";
    for (auto const& [room, who] : members) text += " " + room + "(" + std::to_string(who.size()) + ")";
    return text;
  }
};

net::awaitable<void> chat(rooms& all, tether::websocket& ws, tether::request const& req) {
  std::string const room(req.param("room"));
  std::string const name = req.query_value("name").value_or("guest").substr(0, 32);
  all.members[room][ws.id()] = ws;
  all.broadcast(room, name + " joined");
  while (auto msg = co_await ws.read()) {
    if (msg->is_text()) all.broadcast(room, name + ": " + msg->payload);
  }
  all.members[room].erase(ws.id());
  if (all.members[room].empty()) all.members.erase(room);
  all.broadcast(room, name + " left");
}

net::awaitable<void> admin(rooms& all, tether::websocket& ws, tether::request const&) {
  co_await ws.write(all.summary());
  while (auto msg = co_await ws.read()) {
    if (msg->payload == "rooms") co_await ws.write(all.summary());
    else all.announce("[admin] " + msg->payload);
  }
}

std::string admin_page(std::string const& token) {
  return R"html(<!doctype html><meta charset="utf-8"><title>Tether rooms admin</title>
<h1>Admin</h1><p>Type "rooms" for a summary; anything else is announced in every room.</p>
<form id="f"><input id="t" size="40" autofocus> <button>Send</button></form><pre id="log"></pre>
<script>
const ws = new WebSocket(`ws://${location.host}/admin?token=)html" + token + R"html(`);
ws.onmessage = (e) => { document.getElementById('log').textContent += e.data + '\n'; };
ws.onclose = (e) => { document.getElementById('log').textContent += `closed (${e.code})\n`; };
document.getElementById('f').onsubmit = (e) => { e.preventDefault(); ws.send(document.getElementById('t').value); };
</script>)html";
}

}  // namespace

int main(int argc, char** argv) {
  tether::server_options options;
  options.port = 8080;
  int stop_after = 0;
  for (int i = 1; i < argc; ++i) {
    std::string const arg = argv[i];
    if (arg == "--port" && i + 1 < argc) options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (arg == "--stop-after" && i + 1 < argc) stop_after = std::atoi(argv[++i]);
    else if (arg == "--debug") options.logger = tether::logger(tether::log_level::debug);
    else {
      std::fprintf(stderr, "usage: %s [--port N] [--stop-after SECONDS] [--debug]\n", argv[0]);
      return 2;
    }
  }
  std::string const here = "http://127.0.0.1:" + std::to_string(options.port);
  std::string const here_by_name = "http://localhost:" + std::to_string(options.port);

  rooms all;
  // A fresh secret per run: tokens from an earlier run stop working.
  auto tokens = std::make_shared<tether::url_token const>(tether::url_token::with_random_secret());
  tether::router app;
  app.get("/", [](tether::request const&) { return tether::response::html(chat_page); });
  app.get("/admin", [tokens](tether::request const&) {
    return tether::response::html(admin_page(tokens->mint("/admin", 60s)));
  });
  app.websocket("/rooms/{room}",
                [&all](tether::websocket& ws, tether::request const& req) { return chat(all, ws, req); },
                {.origins = tether::origin::allow({here, here_by_name})});
  app.websocket("/admin", [&all](tether::websocket& ws, tether::request const& req) { return admin(all, ws, req); },
                {.token = tokens});

  try {
    tether::server server(app, options);
    std::printf("chat rooms on %s (admin: %s/admin)\n", here.c_str(), here.c_str());
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
    running = false;
    if (stopper.joinable()) stopper.join();
    return status;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cannot start: %s\n", e.what());
    return 1;
  }
}
