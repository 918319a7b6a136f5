// Static files over a real socket, from a directory made at test time.
#define BOOST_TEST_MODULE files
#include "support.hpp"

#include <filesystem>
#include <fstream>

using namespace test;
namespace fs = std::filesystem;

namespace {

struct site {
  site() {
    base = fs::temp_directory_path() / ("tether-files-" + std::to_string(::getpid()));
    fs::remove_all(base);
    fs::create_directories(base / "www" / "sub");
    write(base / "www" / "index.html", "<h1>home</h1>");
    write(base / "www" / "a.txt", "0123456789");
    write(base / "www" / "sub" / "b.css", "body{}");
    write(base / "www" / ".secret", "hidden");
    write(base / "outside.txt", "outside the root");
    fs::create_symlink(base / "outside.txt", base / "www" / "escape.txt");
    fs::create_symlink(base / "www" / "a.txt", base / "www" / "inner.txt");
  }
  ~site() { fs::remove_all(base); }
  static void write(fs::path const& p, std::string const& text) { std::ofstream(p, std::ios::binary) << text; }
  fs::path base;
};

struct reply {
  std::string head;
  std::string body;
  int status() const { return std::stoi(head.substr(9, 3)); }
  bool has(std::string const& header_line) const { return head.find(header_line + "\r\n") != std::string::npos; }
  std::string header(std::string const& name) const {
    auto const at = head.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    auto const from = at + name.size() + 4;
    return head.substr(from, head.find("\r\n", from) - from);
  }
};

reply fetch(std::uint16_t port, std::string const& target, std::string const& extra = "", std::string method = "GET") {
  auto const all = http_exchange(port, method, target, extra);
  auto const split = all.find("\r\n\r\n");
  return {all.substr(0, split + 2), all.substr(split + 4)};
}

}  // namespace

BOOST_AUTO_TEST_CASE(files_are_served_with_types_lengths_and_validators) {
  site s;
  tether::router app;
  app.files("/static", s.base / "www", {.cache_control = "max-age=60"});
  running_server server(std::move(app));
  auto const port = server.port();

  auto const a = fetch(port, "/static/a.txt");
  BOOST_TEST(a.status() == 200);
  BOOST_TEST(a.body == "0123456789");
  BOOST_TEST(a.has("Content-Type: text/plain; charset=utf-8"));
  BOOST_TEST(a.has("Content-Length: 10"));
  BOOST_TEST(a.has("Cache-Control: max-age=60"));
  BOOST_TEST(!a.header("ETag").empty());
  BOOST_TEST(!a.header("Last-Modified").empty());
  BOOST_TEST(fetch(port, "/static/sub/b.css").has("Content-Type: text/css; charset=utf-8"));
  BOOST_TEST(fetch(port, "/static/").body == "<h1>home</h1>");
  BOOST_TEST(fetch(port, "/static").body == "<h1>home</h1>");
  BOOST_TEST(fetch(port, "/static/inner.txt").body == "0123456789");  // a symlink inside the root

  auto const head = fetch(port, "/static/a.txt", "", "HEAD");
  BOOST_TEST(head.status() == 200);
  BOOST_TEST(head.has("Content-Length: 10"));
  BOOST_TEST(head.body.empty());

  auto const not_modified = fetch(port, "/static/a.txt", "If-None-Match: " + a.header("ETag") + "\r\n");
  BOOST_TEST(not_modified.status() == 304);
  BOOST_TEST(not_modified.header("Content-Length").empty());  // RFC 9110 8.6
  BOOST_TEST(not_modified.header("ETag") == a.header("ETag"));
  BOOST_TEST(fetch(port, "/static/a.txt", "If-None-Match: \"other\"\r\n").status() == 200);
  BOOST_TEST(fetch(port, "/static/a.txt", "If-Modified-Since: " + a.header("Last-Modified") + "\r\n").status() == 304);
  BOOST_TEST(fetch(port, "/static/a.txt", "If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT\r\n").status() == 200);
}

BOOST_AUTO_TEST_CASE(byte_ranges) {
  site s;
  tether::router app;
  app.files("/", s.base / "www");
  running_server server(std::move(app));
  auto const port = server.port();
  auto const part = fetch(port, "/a.txt", "Range: bytes=2-5\r\n");
  BOOST_TEST(part.status() == 206);
  BOOST_TEST(part.body == "2345");
  BOOST_TEST(part.has("Content-Range: bytes 2-5/10"));
  BOOST_TEST(fetch(port, "/a.txt", "Range: bytes=7-\r\n").body == "789");
  BOOST_TEST(fetch(port, "/a.txt", "Range: bytes=-3\r\n").body == "789");
  BOOST_TEST(fetch(port, "/a.txt", "Range: bytes=5-100\r\n").body == "56789");
  auto const beyond = fetch(port, "/a.txt", "Range: bytes=10-\r\n");
  BOOST_TEST(beyond.status() == 416);
  BOOST_TEST(beyond.has("Content-Range: bytes */10"));
  BOOST_TEST(fetch(port, "/a.txt", "Range: bytes=0-1,3-4\r\n").status() == 200);  // several ranges: the whole
  BOOST_TEST(fetch(port, "/a.txt", "Range: bytes=2-5\r\nIf-Range: \"stale\"\r\n").status() == 200);
}

BOOST_AUTO_TEST_CASE(traversal_dotfiles_and_symlink_escapes_are_refused) {
  site s;
  tether::router app;
  app.files("/static", s.base / "www");
  running_server server(std::move(app));
  auto const port = server.port();
  for (std::string const target :
       {"/static/../outside.txt", "/static/%2E%2E/outside.txt", "/static/..%2Foutside.txt", "/static/sub/..%2F..%2Foutside.txt",
        "/static/.secret", "/static/escape.txt", "/static/missing.txt", "/static/a.txt%00.html"}) {
    auto const r = fetch(port, target);
    BOOST_TEST(r.status() == 404, target << " gave " << r.head);
    BOOST_TEST(r.body.find("outside the root") == std::string::npos);
  }
  BOOST_CHECK_THROW(tether::router{}.files("/x", s.base / "nope"), std::invalid_argument);
}
