#pragma once
// OpenSSL contexts for both roles, and certificates made on the spot.

#include <tether/tls.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace tether::detail {

struct ssl_ctx_free {
  void operator()(SSL_CTX* ctx) const noexcept;
};
using ssl_context = std::unique_ptr<SSL_CTX, ssl_ctx_free>;

/// The server's contexts: one per certificate, switched by SNI. Throws
/// std::invalid_argument naming the certificate that cannot be used.
class tls_server_context {
 public:
  explicit tls_server_context(tls_server_options const& options);
  tls_server_context(tls_server_context const&) = delete;  // OpenSSL holds `this`
  tls_server_context& operator=(tls_server_context const&) = delete;
  SSL_CTX* get() const noexcept { return entries_.front().context.get(); }

 private:
  struct entry {
    ssl_context context;
    std::vector<std::string> names;  // lower case; "*.example.org" for wildcards
  };
  static int on_server_name(SSL* ssl, int* alert, void* self);
  SSL_CTX const* choose(std::string_view name) const noexcept;

  std::vector<entry> entries_;
};

/// A client context for `options`. Contexts that trust the system store are
/// shared (loading it is slow); the others are made per connection.
/// Throws std::invalid_argument when a CA cannot be loaded.
std::shared_ptr<SSL_CTX> client_tls_context(tls_client_options const& options);

/// What make_certificate() builds; times are relative to now.
struct certificate_spec {
  std::vector<std::string> names{};  // subjectAltName: DNS names and IP addresses
  std::string common_name = "tether";
  std::chrono::seconds not_before = std::chrono::hours(-1);
  std::chrono::seconds not_after = std::chrono::hours(24 * 30);
  bool is_ca = false;
  certificate const* issuer = nullptr;  // self-signed when null
};

certificate make_certificate(certificate_spec const& spec);

/// The DNS names of a PEM certificate's subjectAltName, lower case.
std::vector<std::string> certificate_dns_names(std::string const& chain_pem);

}  // namespace tether::detail
