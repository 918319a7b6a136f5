// A live SVG drawing: the server moves a shape and extends a plot several
// times a second and pushes each frame to every page; a click on the
// drawing goes back to the server, which drops a marker there for all
// pages to see and makes the shape jump toward it.
//   08_live_svg [--port N] [--rate FRAMES_PER_SECOND] [--stop-after SECONDS]
#include <tether/tether.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

constexpr char page[] = R"html(<!doctype html>
<meta charset="utf-8"><link rel="icon" href="data:,"><title>Tether live SVG</title>
<style>body{font:16px system-ui;margin:2em}svg{border:1px solid #ccc;background:#fafafa;cursor:crosshair}</style>
<h1>Tether live SVG</h1>
<p><span id="status">connecting…</span> · frames: <b id="frames">0</b> · <span id="clicks">click the drawing</span></p>
<svg id="svg" width="600" height="300" viewBox="0 0 600 300">
  <polyline id="plot" fill="none" stroke="#4a7" stroke-width="2" points=""/>
  <g id="markers"></g>
  <circle id="shape" r="14" cx="300" cy="150" fill="#36c"/>
</svg>
<script>
const svg = document.getElementById('svg');
const ws = new WebSocket(`ws://${location.host}/live`);
let frames = 0;
ws.onopen = () => { document.getElementById('status').textContent = 'open'; };
ws.onclose = (e) => { document.getElementById('status').textContent = `closed (${e.code})`; };
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.frame) {
    const shape = document.getElementById('shape');
    shape.setAttribute('cx', m.x);
    shape.setAttribute('cy', m.y);
    shape.setAttribute('fill', m.color);
    document.getElementById('plot').setAttribute('points', m.plot);
    document.getElementById('frames').textContent = ++frames;
    if (frames === 3) document.getElementById('status').textContent = 'receiving frames';
  } else if (m.marker) {
    const dot = document.createElementNS('http://www.w3.org/2000/svg', 'circle');
    dot.setAttribute('cx', m.marker[0]);
    dot.setAttribute('cy', m.marker[1]);
    dot.setAttribute('r', 5);
    dot.setAttribute('fill', '#c33');
    document.getElementById('markers').appendChild(dot);
    document.getElementById('clicks').textContent = `the server saw click ${m.count}`;
  }
};
svg.onclick = (e) => {
  const box = svg.getBoundingClientRect();
  ws.send(JSON.stringify({ click: [Math.round(e.clientX - box.left), Math.round(e.clientY - box.top)] }));
};
</script>
)html";

// The drawing's state; everything runs on the server's one event loop, so
// nothing here needs a lock.
struct scene {
  // Every page subscribes to one topic: a frame or a marker is framed once
  // and shared by all the pages' write queues.
  tether::hub& viewers;
  double t = 0;
  double pull_x = 300, pull_y = 150;  // where the last click pulls the shape
  double pull = 0;                    // how strongly, fading
  int clicks = 0;
  std::string plot{};

  static constexpr char topic[] = "live";

  std::string next_frame() {
    t += 0.05;
    double const free_x = 300 + 250 * std::sin(t * 1.3), free_y = 150 + 110 * std::sin(t * 2.1);
    double const x = free_x + (pull_x - free_x) * pull, y = free_y + (pull_y - free_y) * pull;
    pull *= 0.9;
    plot.clear();  // the last 120 samples of a signal, scrolling left
    for (int i = 0; i < 120; ++i) {
      double const s = t - (119 - i) * 0.05;
      plot += std::to_string(i * 5) + "," + std::to_string(static_cast<int>(150 - 60 * std::sin(s * 3) * std::cos(s * 0.7))) + " ";
    }
    char color[8];
    std::snprintf(color, sizeof color, "#%02x%02x%02x", 50 + static_cast<int>(pull * 200), 100, 200);
    return "{\"frame\":true,\"x\":" + std::to_string(static_cast<int>(x)) + ",\"y\":" +
           std::to_string(static_cast<int>(y)) + ",\"color\":\"" + color + "\",\"plot\":\"" + plot + "\"}";
  }

  // Clicks arrive as {"click":[x,y]}; anything else is ignored.
  void on_click(std::string const& text) {
    int x = 0, y = 0;
    if (std::sscanf(text.c_str(), "{\"click\":[%d,%d]}", &x, &y) != 2) return;
    pull_x = std::clamp(x, 0, 600);
    pull_y = std::clamp(y, 0, 300);
    pull = 1;
    viewers.publish(topic, "{\"marker\":[" + std::to_string(static_cast<int>(pull_x)) + "," +
                               std::to_string(static_cast<int>(pull_y)) + "],\"count\":" + std::to_string(++clicks) + "}");
  }
};

net::awaitable<void> animate(scene& s, std::chrono::milliseconds period) {
  net::steady_timer tick(co_await net::this_coro::executor);
  for (;;) {
    tick.expires_after(period);
    co_await tick.async_wait(net::use_awaitable);
    if (s.viewers.subscribers(scene::topic) > 0) s.viewers.publish(scene::topic, s.next_frame());
  }
}

net::awaitable<void> stop_later(tether::server& server, std::chrono::seconds after) {
  net::steady_timer timer(co_await net::this_coro::executor, after);
  co_await timer.async_wait(net::use_awaitable);
  server.stop(2s);
}

net::awaitable<void> viewer(scene& s, tether::websocket& ws) {
  // A page that cannot keep up loses its oldest frames, not our memory:
  // each frame holds the whole picture, so the next one repairs it (a
  // marker dropped with them stays missing on that page).
  s.viewers.subscribe(ws, scene::topic, {.when_full = tether::overflow::drop_oldest});
  while (auto msg = co_await ws.read())
    if (msg->is_text()) s.on_click(msg->payload);
}  // a closed connection leaves the topic by itself

}  // namespace

int main(int argc, char** argv) {
  tether::server_options options;
  int rate = 20, stop_after = 0;
  for (int i = 1; i < argc; ++i) {
    std::string const arg = argv[i];
    if (arg == "--port" && i + 1 < argc) options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
    else if (arg == "--rate" && i + 1 < argc) rate = std::max(1, std::atoi(argv[++i]));
    else if (arg == "--stop-after" && i + 1 < argc) stop_after = std::atoi(argv[++i]);
    else {
      bool const asked = arg == "--help" || arg == "-h";
      std::fprintf(asked ? stdout : stderr, "usage: %s [--port N] [--rate FRAMES_PER_SECOND] [--stop-after SECONDS]\n",
                   argv[0]);
      return asked ? 0 : 2;
    }
  }
  tether::hub viewers;  // before the server: it outlives the connections
  scene s{viewers};
  tether::router app;
  app.get("/", [](tether::request const&) { return tether::response::html(page); });
  // A frame is about 1 KB: 64 KiB holds some 3 s of animation at 20 frames
  // per second, and caps what a page that stopped reading costs us. Clicks
  // are tiny: 64 KiB of them waiting to be read is a page clicking far
  // faster than a person can.
  tether::endpoint_options live;
  live.websocket.max_write_queue = 64 * 1024;
  live.websocket.max_read_queue = 64 * 1024;
  app.websocket("/live", [&s](tether::websocket& ws, tether::request const&) { return viewer(s, ws); }, live);
  try {
    tether::server server(app, options);
    // The animation runs on the server's loop; stop() cancels it.
    server.spawn(animate(s, std::chrono::milliseconds(1000 / rate)));
    if (stop_after > 0) server.spawn(stop_later(server, std::chrono::seconds(stop_after)));
    std::printf("Tether live SVG: http://127.0.0.1:%u  (Ctrl-C to stop)\n", server.port());
    std::fflush(stdout);
    return server.run_until_signal();
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cannot start: %s\n", e.what());
    return 1;
  }
}
