#include "net/tls.hpp"

#include <boost/asio/ip/address.hpp>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace tether {

namespace detail {

namespace {

struct bio_free {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using bio_ptr = std::unique_ptr<BIO, bio_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

std::string last_openssl_error() {
  unsigned long const code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof buffer);
  std::string_view const full(buffer);
  auto const colon = full.rfind(':');
  return std::string(colon == std::string_view::npos ? full : full.substr(colon + 1));
}

// OpenSSL reports a file it cannot open as "system lib", which tells a
// user nothing: say what is wrong with the file before OpenSSL tries.
void check_readable(std::string const& what, std::string const& path) {
  if (std::FILE* file = std::fopen(path.c_str(), "rb")) {
    std::fclose(file);
    return;
  }
  int const why = errno;
  if (why == ENOENT) throw std::invalid_argument("the " + what + " \"" + path + "\" does not exist");
  throw std::invalid_argument("cannot read the " + what + " \"" + path + "\": " + std::generic_category().message(why));
}

bio_ptr memory_bio(std::string const& text) {
  return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::vector<x509_ptr> read_certificates(std::string const& pem) {
  std::vector<x509_ptr> out;
  auto bio = memory_bio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the end of the text reads as an error
  return out;
}

pkey_ptr read_key(std::string const& pem) {
  auto bio = memory_bio(pem);
  return pkey_ptr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Settings both roles share: how the transport drives OpenSSL.
void configure_common(SSL_CTX* ctx, bool tls13_only) {
  SSL_CTX_set_min_proto_version(ctx, tls13_only ? TLS1_3_VERSION : TLS1_2_VERSION);
  // A peer that ends TCP without close_notify after a finished WebSocket
  // close is normal; message framing, not TLS, says whether data is whole.
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // Partial writes and moving buffers suit the gather writes of the
  // connection; released buffers keep idle TLS connections small.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_read_ahead(ctx, 1);
}

int select_http11(SSL*, unsigned char const** out, unsigned char* outlen, unsigned char const* in, unsigned inlen,
                  void*) {
  static unsigned char const ours[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, ours, sizeof ours, in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // no ALPN answer rather than a failed handshake
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

ssl_context server_context_for(certificate const& cert, std::size_t index, bool tls13_only) {
  ssl_context ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) throw std::bad_alloc();
  configure_common(ctx.get(), tls13_only);
  std::string const which = "certificate " + std::to_string(index + 1) + ": ";
  auto chain = read_certificates(cert.chain_pem);
  if (chain.empty()) throw std::invalid_argument("tether::server: " + which + "no PEM certificate in chain_pem");
  auto key = read_key(cert.key_pem);
  if (!key) throw std::invalid_argument("tether::server: " + which + "no PEM private key in key_pem");
  if (SSL_CTX_use_certificate(ctx.get(), chain.front().get()) != 1)
    throw std::invalid_argument("tether::server: " + which + last_openssl_error());
  for (std::size_t i = 1; i < chain.size(); ++i)
    if (SSL_CTX_add1_chain_cert(ctx.get(), chain[i].get()) != 1)
      throw std::invalid_argument("tether::server: " + which + last_openssl_error());
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1)
    throw std::invalid_argument("tether::server: " + which + "the key does not match the certificate (" +
                                last_openssl_error() + ")");
  SSL_CTX_set_alpn_select_cb(ctx.get(), select_http11, nullptr);
  return ctx;
}

bool name_matches(std::string_view pattern, std::string_view name) {
  if (pattern == name) return true;
  if (!pattern.starts_with("*.")) return false;
  auto const suffix = pattern.substr(1);  // ".example.org"
  return name.size() > suffix.size() && name.ends_with(suffix) &&
         name.substr(0, name.size() - suffix.size()).find('.') == std::string_view::npos;
}

}  // namespace

void ssl_ctx_free::operator()(SSL_CTX* ctx) const noexcept { SSL_CTX_free(ctx); }

tls_server_context::tls_server_context(tls_server_options const& options) {
  if (options.certificates.empty()) throw std::invalid_argument("tether::server: TLS needs at least one certificate");
  for (std::size_t i = 0; i < options.certificates.size(); ++i) {
    auto const& cert = options.certificates[i];
    entries_.push_back({server_context_for(cert, i, options.tls13_only), certificate_dns_names(cert.chain_pem)});
  }
  SSL_CTX_set_tlsext_servername_callback(get(), on_server_name);
  SSL_CTX_set_tlsext_servername_arg(get(), this);
}

SSL_CTX const* tls_server_context::choose(std::string_view name) const noexcept {
  for (auto const& e : entries_)
    for (auto const& pattern : e.names)
      if (name_matches(pattern, name)) return e.context.get();
  return nullptr;
}

int tls_server_context::on_server_name(SSL* ssl, int*, void* self) {
  char const* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  auto const* context = static_cast<tls_server_context const*>(self);
  if (auto const* chosen = context->choose(lower(name)); chosen && chosen != context->get())
    SSL_set_SSL_CTX(ssl, const_cast<SSL_CTX*>(chosen));
  return SSL_TLSEXT_ERR_OK;  // unknown names get the default certificate
}

std::shared_ptr<SSL_CTX> client_tls_context(tls_client_options const& options) {
  auto make = [&options] {
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()), ssl_ctx_free{});
    if (!ctx) throw std::bad_alloc();
    configure_common(ctx.get(), false);
    static unsigned char const alpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx.get(), alpn, sizeof alpn);
    SSL_CTX_set_verify(ctx.get(), options.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (!options.verify) return ctx;
    if (!options.ca_file.empty()) {
      check_readable("CA file", options.ca_file);
      if (SSL_CTX_load_verify_locations(ctx.get(), options.ca_file.c_str(), nullptr) != 1)
        throw std::invalid_argument("cannot load CA file \"" + options.ca_file + "\": " + last_openssl_error());
    }
    if (!options.ca_pem.empty()) {
      auto cas = read_certificates(options.ca_pem);
      if (cas.empty()) throw std::invalid_argument("ca_pem holds no PEM certificate");
      X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
      for (auto& ca : cas) X509_STORE_add_cert(store, ca.get());
    }
    if (options.ca_file.empty() && options.ca_pem.empty()) SSL_CTX_set_default_verify_paths(ctx.get());
    return ctx;
  };
  if (options.verify && options.ca_file.empty() && options.ca_pem.empty()) {
    static std::shared_ptr<SSL_CTX> const system_store = make();
    return system_store;
  }
  return make();
}

std::vector<std::string> certificate_dns_names(std::string const& chain_pem) {
  std::vector<std::string> names;
  auto chain = read_certificates(chain_pem);
  if (chain.empty()) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(chain.front().get(), NID_subject_alt_name, nullptr, nullptr));
  if (!sans) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    GENERAL_NAME const* entry = sk_GENERAL_NAME_value(sans, i);
    if (entry->type != GEN_DNS) continue;
    auto const* text = entry->d.dNSName;
    names.push_back(lower({reinterpret_cast<char const*>(ASN1_STRING_get0_data(text)),
                           static_cast<std::size_t>(ASN1_STRING_length(text))}));
  }
  GENERAL_NAMES_free(sans);
  return names;
}

certificate make_certificate(certificate_spec const& spec) {
  auto fail = [](char const* step) { return std::runtime_error(std::string("making a certificate: ") + step + ": " + last_openssl_error()); };
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) throw fail("key");
  x509_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  BIGNUM* serial = BN_new();
  BN_rand(serial, 120, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert.get()));
  BN_free(serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(spec.not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.not_after.count()));
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                             reinterpret_cast<unsigned char const*>(spec.common_name.c_str()), -1, -1, 0);

  x509_ptr issuer_cert;
  pkey_ptr issuer_key;
  if (spec.issuer) {
    auto chain = read_certificates(spec.issuer->chain_pem);
    issuer_key = read_key(spec.issuer->key_pem);
    if (chain.empty() || !issuer_key) throw std::invalid_argument("making a certificate: the issuer is not PEM");
    issuer_cert = std::move(chain.front());
  }
  X509* const signer = issuer_cert ? issuer_cert.get() : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  auto add = [&](int nid, std::string const& value) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw fail("extension");
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  };
  add(NID_basic_constraints, spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add(NID_key_usage, spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  add(NID_subject_key_identifier, "hash");
  if (spec.issuer) add(NID_authority_key_identifier, "keyid:always");
  if (!spec.is_ca) add(NID_ext_key_usage, "serverAuth,clientAuth");
  if (!spec.names.empty()) {
    std::string alt;
    for (auto const& name : spec.names) {
      boost::system::error_code not_ip;
      boost::asio::ip::make_address(name, not_ip);
      if (!alt.empty()) alt += ",";
      alt += (not_ip ? "DNS:" : "IP:") + name;
    }
    add(NID_subject_alt_name, alt);
  }
  if (X509_sign(cert.get(), issuer_key ? issuer_key.get() : key.get(), EVP_sha256()) == 0) throw fail("signing");

  bio_ptr cert_out(BIO_new(BIO_s_mem()));
  bio_ptr key_out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_out.get(), cert.get());
  PEM_write_bio_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  auto text = [](BIO* bio) {
    char* data = nullptr;
    long const size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(size));
  };
  return {text(cert_out.get()), text(key_out.get())};
}

}  // namespace detail

certificate certificate::from_files(std::string const& chain_path, std::string const& key_path) {
  auto read = [](std::string const& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read \"" + path + "\"");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  return {read(chain_path), read(key_path)};
}

certificate certificate::self_signed(std::vector<std::string> const& names, std::chrono::hours validity) {
  detail::certificate_spec spec;
  spec.names = names;
  spec.common_name = names.empty() ? "tether" : names.front();
  spec.not_after = validity;
  return detail::make_certificate(spec);
}

}  // namespace tether
