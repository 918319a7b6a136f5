#pragma once
// TLS settings: certificates for the server, trust for the client.

#include <chrono>
#include <string>
#include <vector>

namespace tether {

/// A certificate chain (leaf first) and its private key, both PEM text.
struct certificate {
  std::string chain_pem{};
  std::string key_pem{};

  /// Reads both files; throws std::runtime_error naming the file that
  /// cannot be read.
  static certificate from_files(std::string const& chain_path, std::string const& key_path);

  /// A self-signed certificate (ECDSA P-256) for `names`, DNS names or IP
  /// addresses, valid from now for `validity`. For development and tests:
  /// browsers warn about it, and clients must trust it explicitly.
  static certificate self_signed(std::vector<std::string> const& names,
                                 std::chrono::hours validity = std::chrono::hours(24 * 30));
};

struct tls_server_options {
  /// The first certificate answers clients that send no server name (SNI)
  /// or one that no certificate lists; the others are chosen by SNI
  /// against the DNS names of their subjectAltName (wildcards included).
  std::vector<certificate> certificates{};
  /// TLS 1.2 and 1.3 by default; true allows TLS 1.3 only.
  bool tls13_only = false;
};

struct tls_client_options {
  /// Trust these CAs (a PEM file, or PEM text) instead of the system store.
  std::string ca_file{};
  std::string ca_pem{};
  /// Check the server's certificate (chain, dates and host name). Turning
  /// this off accepts any server, including an attacker in the middle; the
  /// client logs a warning each time it connects that way.
  bool verify = true;
  /// The name sent as SNI and checked against the certificate; by default
  /// the URL's host.
  std::string server_name{};
};

}  // namespace tether
