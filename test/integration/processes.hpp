#pragma once
// Programs the tests run beside Tether: the examples, redis-server, nginx.
// Each is a child process that ends with the test.

#include "support.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace test {

/// Where meson put the example programs (test/meson.build sets it).
inline std::string examples_dir() {
  char const* dir = std::getenv("TETHER_EXAMPLES_DIR");
  BOOST_REQUIRE_MESSAGE(dir, "TETHER_EXAMPLES_DIR is not set");
  return dir;
}

/// A child process whose standard output we read (its standard error is
/// the test's); SIGTERM ends it, SIGKILL if it does not go within 10 s.
class child {
 public:
  explicit child(std::vector<std::string> args) {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    pid_ = ::fork();
    BOOST_REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      std::_Exit(127);
    }
    ::close(fds[1]);
    out_ = ::fdopen(fds[0], "r");
  }

  ~child() {
    if (pid_ > 0) stop();
    if (out_) std::fclose(out_);
  }

  child(child const&) = delete;
  child& operator=(child const&) = delete;

  std::string line() {
    char buffer[512] = {};
    if (!std::fgets(buffer, sizeof buffer, out_)) return {};
    return buffer;
  }

  /// Sends `signal` and returns at once.
  void signal(int signal) {
    if (pid_ > 0) ::kill(pid_, signal);
  }

  /// Sends `signal`, then returns the exit status (-1 for a death by
  /// signal, or when it did not end within 10 s).
  int stop(int signal = SIGTERM) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signal);
    for (int i = 0; i < 1000; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1;
  }

  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

/// True once something accepts TCP connections on 127.0.0.1:port.
inline bool accepts(std::uint16_t port, std::chrono::milliseconds limit = 10s) {
  return eventually(
      [&] {
        net::io_context ctx;
        tcp::socket socket(ctx);
        boost::system::error_code ec;
        socket.connect({net::ip::make_address("127.0.0.1"), port}, ec);
        return !ec;
      },
      limit);
}

/// Debian's redis-server on a loopback port, with a directory of its own
/// and nothing saved to disk. stop() and start() again keep the port, as
/// a restarted Redis would.
class redis_server {
 public:
  explicit redis_server(std::uint16_t port = free_port(), std::string password = {})
      : port_(port), password_(std::move(password)),
        dir_(std::filesystem::temp_directory_path() / ("tether-redis-" + std::to_string(::getpid()) + "-" +
                                                       std::to_string(port))) {
    std::filesystem::create_directories(dir_);
    start();
  }

  ~redis_server() {
    process_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  void start() {
    BOOST_REQUIRE_MESSAGE(std::filesystem::exists(binary), binary << " is missing: run scripts/install-deps");
    std::vector<std::string> args{binary, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--dir", dir_.string(), "--save", "", "--appendonly", "no",
                                  "--daemonize", "no", "--loglevel", "warning"};
    if (!password_.empty()) args.insert(args.end(), {"--requirepass", password_});
    process_.emplace(args);
    BOOST_REQUIRE_MESSAGE(accepts(port_), "redis-server did not start on port " << port_);
  }

  /// SIGKILL: no goodbye, no saving; the kernel closes its connections.
  void stop() {
    if (process_) process_->stop(SIGKILL);
    process_.reset();
  }

  std::uint16_t port() const { return port_; }

  static constexpr char const* binary = "/usr/bin/redis-server";

 private:
  std::uint16_t port_;
  std::string password_;
  std::filesystem::path dir_;
  std::optional<child> process_;
};

}  // namespace test
