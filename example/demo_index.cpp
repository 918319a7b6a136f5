// The demo's front page (scripts/demo): links to the browser examples,
// which scripts/demo runs on ports of their own.
//   demo_index [--port 8080] "Title=URL=What it shows" ...
#include <tether/tether.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  tether::server_options options;
  std::string items;
  for (int i = 1; i < argc; ++i) {
    std::string_view const arg = argv[i];
    if (arg == "--port" && i + 1 < argc) {
      options.port = static_cast<std::uint16_t>(std::atoi(argv[++i]));
      continue;
    }
    auto const first = arg.find('='), second = arg.find('=', first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) {
      bool const asked = arg == "--help" || arg == "-h";
      std::fprintf(asked ? stdout : stderr, "usage: %s [--port N] \"Title=URL=What it shows\"...\n", argv[0]);
      return asked ? 0 : 2;
    }
    items += "<li><a href=\"" + escape(arg.substr(first + 1, second - first - 1)) + "\">" +
             escape(arg.substr(0, first)) + "</a>: " + escape(arg.substr(second + 1)) + "</li>\n";
  }
  std::string const page =
      "<!doctype html><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>Tether demo</title>"
      "<style>body{font:16px system-ui;margin:2em;max-width:44em}li{margin:.5em 0}</style>"
      "<h1>Tether demo</h1><p>Each example is its own program; the source is in <code>example/</code>.</p><ul>\n" +
      items + "</ul>";
  tether::router app;
  app.get("/", [page](tether::request const&) { return tether::response::html(page); });
  try {
    tether::server server(app, options);
    std::printf("Tether demo: http://127.0.0.1:%u  (Ctrl-C to stop)\n", server.port());
    std::fflush(stdout);
    return server.run_until_signal();
  } catch (std::exception const& e) {
    std::fprintf(stderr, "cannot start: %s\n", e.what());
    return 1;
  }
}
