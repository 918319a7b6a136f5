#include "http/static_files.hpp"

#include "ws/handshake.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace tether::detail {

namespace {

// Appends pieces: g++ 12 at -O3 warns falsely (-Wrestrict) on chains of
// std::string operator+ that start with a short literal.
std::string text_of(std::initializer_list<std::string_view> pieces) {
  std::string out;
  for (auto const piece : pieces) out.append(piece);
  return out;
}

std::vector<std::string_view> split_on_slash(std::string_view text) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto const slash = text.find('/');
    parts.push_back(text.substr(0, slash));
    if (slash == std::string_view::npos) return parts;
    text.remove_prefix(slash + 1);
  }
}

std::string_view content_type_of(fs::path const& file) {
  static constexpr std::pair<std::string_view, std::string_view> types[] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"}, {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"}, {".svg", "image/svg+xml"},
      {".png", "image/png"},                 {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},               {".gif", "image/gif"},
      {".webp", "image/webp"},               {".ico", "image/x-icon"},
      {".wasm", "application/wasm"},         {".xml", "application/xml"},
      {".pdf", "application/pdf"},           {".woff", "font/woff"},
      {".woff2", "font/woff2"},              {".mp4", "video/mp4"},
      {".webm", "video/webm"},               {".map", "application/json"},
  };
  auto const ext = file.extension().string();
  for (auto const& [suffix, type] : types)
    if (ext.size() == suffix.size() &&
        std::equal(ext.begin(), ext.end(), suffix.begin(), [](char a, char b) { return std::tolower(a) == b; }))
      return type;
  return "application/octet-stream";
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
  std::tm tm{};
  std::string copy(text);
  char const* end = strptime(copy.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// The one range of "bytes=first-last", "bytes=first-" or "bytes=-suffix";
// nothing for anything else (several ranges are answered with the whole).
struct byte_range {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};
enum class range_result { none, ok, unsatisfiable };

range_result parse_range(std::string_view header, std::uint64_t size, byte_range& out) {
  if (!header.starts_with("bytes=")) return range_result::none;
  header.remove_prefix(6);
  if (header.find(',') != std::string_view::npos) return range_result::none;
  auto const dash = header.find('-');
  if (dash == std::string_view::npos) return range_result::none;
  auto number = [](std::string_view s, std::uint64_t& v) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && p == s.data() + s.size();
  };
  std::string_view const a = header.substr(0, dash), b = header.substr(dash + 1);
  std::uint64_t first = 0, last = 0;
  if (a.empty()) {  // the last b bytes
    if (!number(b, last) || last == 0) return b.empty() ? range_result::none : range_result::unsatisfiable;
    if (size == 0) return range_result::unsatisfiable;
    out = {size > last ? size - last : 0, size - 1};
    return range_result::ok;
  }
  if (!number(a, first)) return range_result::none;
  if (b.empty()) {
    last = size == 0 ? 0 : size - 1;
  } else if (!number(b, last) || last < first) {
    return range_result::none;
  }
  if (first >= size) return range_result::unsatisfiable;
  out = {first, std::min(last, size - 1)};
  return range_result::ok;
}

// The file under `root` that `rest` names, or nothing when the name is not
// safe or the file does not resolve (symlinks included) inside the root.
std::optional<fs::path> resolve(fs::path const& root, std::string_view rest, file_options const& options) {
  fs::path candidate = root;
  for (auto const part : split_on_slash(rest)) {
    if (part.empty()) continue;
    // A decoded segment may hold '/' or '..' pieces (from %2F): check each.
    if (part == "." || part == ".." || part.find('\0') != std::string_view::npos) return std::nullopt;
    if (part.front() == '.' && !options.serve_dotfiles) return std::nullopt;
    candidate /= std::string(part);
  }
  std::error_code ec;
  fs::path real = fs::canonical(candidate, ec);
  if (ec) return std::nullopt;
  if (fs::is_directory(real, ec)) {
    real = fs::canonical(real / options.index, ec);
    if (ec) return std::nullopt;
  }
  auto const [root_end, real_it] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
  if (root_end != root.end()) return std::nullopt;  // a symlink led outside the root
  if (!fs::is_regular_file(real, ec)) return std::nullopt;
  return real;
}

// Opens `real` (checked to be inside `root`, with no symlink in between)
// one component at a time without following symlinks, so that a directory
// swapped for a symlink after the check cannot lead outside the root.
class open_file {
 public:
  open_file(fs::path const& root, fs::path const& real) {
    fd_ = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    auto const relative = real.lexically_relative(root);
    auto it = relative.begin();
    while (fd_ >= 0 && it != relative.end()) {
      auto const& part = *it++;
      bool const last = it == relative.end();
      int const next = ::openat(fd_, part.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
      ::close(fd_);
      fd_ = next;
    }
    if (fd_ >= 0 && (::fstat(fd_, &stat_) != 0 || !S_ISREG(stat_.st_mode))) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~open_file() {
    if (fd_ >= 0) ::close(fd_);
  }
  open_file(open_file const&) = delete;
  open_file& operator=(open_file const&) = delete;

  explicit operator bool() const noexcept { return fd_ >= 0; }
  struct stat const& status() const noexcept { return stat_; }

  bool read(std::uint64_t offset, std::string& out) const {
    std::size_t done = 0;
    while (done < out.size()) {
      auto const n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int fd_ = -1;
  struct stat stat_ {};
};

}  // namespace

std::string http_date(std::chrono::system_clock::time_point when) {
  std::time_t const t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[40];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return text;
}

http_handler make_file_handler(fs::path const& directory, file_options options) {
  std::error_code ec;
  fs::path root = fs::canonical(directory, ec);
  if (ec || !fs::is_directory(root))
    throw std::invalid_argument("tether::router::files: \"" + directory.string() + "\" is not a directory");
  return [root = std::move(root), options = std::move(options)](request const& req) -> response {
    auto const file = resolve(root, req.param("*"), options);
    if (!file) return response::text("not found\n", 404);
    open_file const opened(root, *file);
    if (!opened) return response::text("not found\n", 404);
    auto const& st = opened.status();
    auto const size = static_cast<std::uint64_t>(st.st_size);
    if (size > options.max_file_bytes) return response::text("file too large to serve\n", 500);
    auto const modified = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
    // Strong validator: inode, size and the modification time in
    // nanoseconds, so a rewrite within the same second changes it too.
    std::string const etag =
        text_of({"\"", std::to_string(st.st_ino), "-", std::to_string(size), "-", std::to_string(st.st_mtim.tv_sec), ".",
                 std::to_string(st.st_mtim.tv_nsec), "\""});

    response res(200, std::string(content_type_of(*file)), {});
    res.headers.push_back({"ETag", etag});
    res.headers.push_back({"Last-Modified", http_date(modified)});
    res.headers.push_back({"Accept-Ranges", "bytes"});
    if (!options.cache_control.empty()) res.headers.push_back({"Cache-Control", options.cache_control});

    // RFC 9110 13.2.2: If-None-Match wins over If-Modified-Since.
    if (auto const match = req.header("If-None-Match"); !match.empty()) {
      std::string const weak = text_of({"W/", etag});
      if (match == "*" || has_token(match, etag) || has_token(match, weak)) {
        res.status = 304;
        return res;
      }
    } else if (auto const since = parse_http_date(req.header("If-Modified-Since")); since && modified <= *since) {
      res.status = 304;
      return res;
    }

    std::uint64_t offset = 0, length = size;
    byte_range range;
    auto const if_range = req.header("If-Range");
    bool const range_allowed = if_range.empty() || if_range == etag;
    if (auto const wanted = req.header("Range"); !wanted.empty() && range_allowed) {
      switch (parse_range(wanted, size, range)) {
        case range_result::ok:
          offset = range.first;
          length = range.last - range.first + 1;
          res.status = 206;
          res.headers.push_back({"Content-Range", text_of({"bytes ", std::to_string(range.first), "-",
                                                           std::to_string(range.last), "/", std::to_string(size)})});
          break;
        case range_result::unsatisfiable: {
          auto refused = response::text("range not satisfiable\n", 416);
          refused.headers.push_back({"Content-Range", text_of({"bytes */", std::to_string(size)})});
          return refused;
        }
        case range_result::none:
          break;
      }
    }
    res.body.resize(length);
    if (!opened.read(offset, res.body)) return response::text("read failed\n", 500);
    return res;
  };
}

}  // namespace tether::detail
