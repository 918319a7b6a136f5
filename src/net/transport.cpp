#include "net/transport.hpp"

#include "net/poller.hpp"

#include <tether/error.hpp>

#include <boost/asio/ip/address.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

namespace net = boost::asio;

namespace tether::detail {

namespace {

// TLS records carry at most 16 KiB; gathering small frames up to that
// size keeps one record (and one system call) per flush.
constexpr std::size_t record_size = 16 * 1024;

std::string openssl_reason() {
  std::string text;
  while (unsigned long const code = ERR_get_error()) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof buffer);
    if (!text.empty()) text += "; ";
    // "error:0A000086:SSL routines::certificate verify failed" -> the reason
    std::string_view const full(buffer);
    auto const colon = full.rfind(':');
    text += colon == std::string_view::npos ? full : full.substr(colon + 1);
  }
  return text;
}

// OpenSSL's own socket BIO writes with write(2), and a write to a peer
// that has gone raises SIGPIPE, which kills the process. This one sends
// with MSG_NOSIGNAL, as Asio does for plain sockets.
int descriptor_of(BIO* bio) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(bio))); }

bool would_block(int error) { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

int bio_write(BIO* bio, char const* data, int size) {
  BIO_clear_retry_flags(bio);
  auto const n = ::send(descriptor_of(bio), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n < 0 && would_block(errno)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int bio_read(BIO* bio, char* data, int size) {
  BIO_clear_retry_flags(bio);
  auto const n = ::recv(descriptor_of(bio), data, static_cast<std::size_t>(size), 0);
  if (n < 0 && would_block(errno)) BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int command, long, void*) { return command == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

BIO_METHOD const* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "tether socket");
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

}  // namespace

void transport::ssl_free::operator()(SSL* ssl) const noexcept { SSL_free(ssl); }

transport::transport(socket_type socket) : socket_(std::move(socket)) {
  error_code ignored;
  socket_.non_blocking(true, ignored);
}

transport::transport(transport&& other) noexcept
    : socket_(std::move(other.socket_)),
      descriptor_(std::exchange(other.descriptor_, -1)),
      poller_(std::exchange(other.poller_, nullptr)),
      read_wants_(other.read_wants_),
      write_wants_(other.write_wants_),
      handshake_wants_(other.handshake_wants_),
      read_blocked_(other.read_blocked_),
      tls_(std::move(other.tls_)) {}

std::string const& transport::tls_failure() const noexcept {
  static std::string const none;
  return tls_ ? tls_->failure : none;
}

transport::~transport() {
  if (descriptor_ >= 0) close();
}

bool transport::use_poller(poller& readiness, readiness_listener& listener) {
  int const descriptor = socket_.native_handle();
  if (descriptor_ >= 0 || !socket_.is_open() || !readiness.add(descriptor, listener)) return false;
  error_code ec;
  socket_.release(ec);  // Asio forgets it, and stops watching it
  if (ec) {
    readiness.remove(descriptor);
    return false;
  }
  descriptor_ = descriptor;
  poller_ = &readiness;
  return true;
}

std::size_t transport::receive(net::mutable_buffer buffer, error_code& ec) {
  if (descriptor_ < 0) return socket_.read_some(buffer, ec);
  for (;;) {
    auto const n = ::recv(descriptor_, buffer.data(), buffer.size(), 0);
    if (n > 0) {
      ec = {};
      return static_cast<std::size_t>(n);
    }
    if (n == 0 && buffer.size() > 0) {
      ec = net::error::eof;
      return 0;
    }
    if (n == 0) {
      ec = {};
      return 0;
    }
    if (errno != EINTR) {
      ec.assign(errno, boost::system::system_category());
      return 0;
    }
  }
}

std::size_t transport::send(std::span<net::const_buffer const> buffers, error_code& ec) {
  if (descriptor_ < 0) return socket_.write_some(buffers, ec);
  // Linux takes at most IOV_MAX (1024) buffers per call.
  std::array<iovec, 1024> vectors;
  std::size_t count = 0;
  for (auto const& b : buffers) {
    if (count == vectors.size()) break;
    vectors[count++] = {const_cast<void*>(b.data()), b.size()};
  }
  msghdr message{};
  message.msg_iov = vectors.data();
  message.msg_iovlen = count;
  for (;;) {
    auto const n = ::sendmsg(descriptor_, &message, MSG_NOSIGNAL);
    if (n >= 0) {
      ec = {};
      return static_cast<std::size_t>(n);
    }
    if (errno != EINTR) {
      ec.assign(errno, boost::system::system_category());
      return 0;
    }
  }
}

bool transport::use_tls(SSL_CTX* context, bool server, std::string const& host, bool verify_host) {
  tls_ = std::make_unique<tls_state>();
  tls_->ssl.reset(SSL_new(context));
  BIO* bio = BIO_new(socket_method());
  if (!tls_->ssl || !bio) throw std::bad_alloc();
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(socket_.native_handle())));
  SSL_set_bio(ssl(), bio, bio);  // the SSL owns the BIO; the socket stays Asio's
  if (server) {
    SSL_set_accept_state(ssl());
    return true;
  }
  SSL_set_connect_state(ssl());
  error_code not_ip;
  auto const address = net::ip::make_address(host, not_ip);
  if (not_ip && !host.empty()) SSL_set_tlsext_host_name(ssl(), host.c_str());  // SNI carries names only
  if (!verify_host || host.empty()) return true;
  if (!not_ip) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl()), address.to_string().c_str()) == 1;
  return SSL_set1_host(ssl(), host.c_str()) == 1;
}

// OpenSSL's error queue is per thread and shared by every connection on it:
// each call starts from a clean queue and leaves one.
transport::error_code transport::tls_error(int result, wait_type& wants) {
  switch (SSL_get_error(ssl(), result)) {
    case SSL_ERROR_WANT_READ:
      wants = socket_type::wait_read;
      return net::error::would_block;
    case SSL_ERROR_WANT_WRITE:
      wants = socket_type::wait_write;
      return net::error::would_block;
    case SSL_ERROR_ZERO_RETURN:
      return net::error::eof;
    case SSL_ERROR_SYSCALL:
      ERR_clear_error();
      if (errno == 0) return net::error::eof;
      return {errno, boost::system::system_category()};
    default:
      tls_->failure = openssl_reason();
      return make_error_code(tether::error::tls_failed);
  }
}

transport::error_code transport::handshake_step() {
  // After close() the descriptor's number may already belong to another
  // connection: nothing may touch it any more.
  if (!ssl()) return net::error::bad_descriptor;
  ERR_clear_error();
  errno = 0;
  int const result = SSL_do_handshake(ssl());
  if (result == 1) return {};
  auto ec = tls_error(result, handshake_wants_);
  if (ec == net::error::eof) ec = make_error_code(tether::error::tls_failed), tls_->failure = "the peer closed the connection";
  return ec;
}

std::size_t transport::read_some(net::mutable_buffer buffer, error_code& ec) {
  if (!ssl()) return receive(buffer, ec);
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  int const result = SSL_read_ex(ssl(), buffer.data(), buffer.size(), &n);
  if (result == 1) {
    ec = {};
    read_blocked_ = false;
    read_wants_ = socket_type::wait_read;
    return n;
  }
  ec = tls_error(result, read_wants_);
  read_blocked_ = ec == net::error::would_block;
  return 0;
}

std::size_t transport::write_some(std::span<net::const_buffer const> buffers, error_code& ec) {
  if (!ssl()) return send(buffers, ec);
  net::const_buffer data = buffers.empty() ? net::const_buffer{} : buffers.front();
  if (data.size() < record_size && buffers.size() > 1) {
    // A retry after would_block sees the same bytes again, and at least as
    // many, which is what OpenSSL asks of a repeated SSL_write.
    auto& staging = tls_->staging;
    staging.clear();
    for (auto const& b : buffers) {
      std::size_t const take = std::min(b.size(), record_size - staging.size());
      auto const* p = static_cast<char const*>(b.data());
      staging.insert(staging.end(), p, p + take);
      if (staging.size() == record_size) break;
    }
    data = net::buffer(staging);
  }
  ERR_clear_error();
  errno = 0;
  std::size_t n = 0;
  int const result = SSL_write_ex(ssl(), data.data(), data.size(), &n);
  if (result == 1) {
    ec = {};
    return n;
  }
  ec = tls_error(result, write_wants_);
  return 0;
}

bool transport::has_buffered_input() const noexcept {
  return ssl() && (SSL_pending(ssl()) > 0 || (!read_blocked_ && SSL_has_pending(ssl()) == 1));
}

void transport::shutdown_send() {
  error_code ignored;
  if (ssl() && is_open()) {
    // Best effort: close_notify fits any socket buffer, and a peer that
    // never sees it still sees our FIN.
    ERR_clear_error();
    SSL_shutdown(ssl());
    ERR_clear_error();
  }
  if (descriptor_ >= 0)
    ::shutdown(descriptor_, SHUT_WR);
  else
    socket_.shutdown(socket_type::shutdown_send, ignored);
}

void transport::cancel() {
  error_code ignored;
  if (descriptor_ < 0) socket_.cancel(ignored);
}

void transport::close() {
  error_code ignored;
  if (descriptor_ >= 0) {
    // Out of the poller first: the number is free for reuse once closed.
    if (poller_) poller_->remove(descriptor_);
    ::shutdown(descriptor_, SHUT_RDWR);
    ::close(descriptor_);
    descriptor_ = -1;
  }
  socket_.shutdown(socket_type::shutdown_both, ignored);
  socket_.close(ignored);
  if (tls_) tls_->ssl.reset();  // it knows the descriptor's number, which the kernel may hand out again at once
}

void transport::reset() {
  ::linger const abortive{1, 0};
  int const fd = descriptor_ >= 0 ? descriptor_ : socket_.is_open() ? socket_.native_handle() : -1;
  if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  if (tls_) tls_->ssl.reset();  // no close_notify: it could not be delivered anyway
  if (descriptor_ >= 0) {
    if (poller_) poller_->remove(descriptor_);
    ::close(descriptor_);
    descriptor_ = -1;
  }
  error_code ignored;
  socket_.close(ignored);
}

}  // namespace tether::detail
