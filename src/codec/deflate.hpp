#pragma once
// permessage-deflate (RFC 7692) payload transforms on zlib: whole messages
// in, whole messages out. Negotiation lives in extensions.hpp.

#include <tether/error.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

typedef struct z_stream_s z_stream;

namespace tether::detail {

class deflate_stream {
 public:
  /// window_bits 9..15 (zlib cannot produce raw streams with 8).
  deflate_stream(int window_bits, int mem_level, int level);
  ~deflate_stream();
  deflate_stream(deflate_stream const&) = delete;
  deflate_stream& operator=(deflate_stream const&) = delete;

  /// Appends the compressed message to `out`, without the final
  /// 00 00 FF FF that RFC 7692 7.2.1 removes. `reset_after` starts the next
  /// message without the history of this one (no context takeover).
  void compress(std::string_view message, std::string& out, bool reset_after);

  int window_bits() const noexcept { return window_bits_; }
  int mem_level() const noexcept { return mem_level_; }
  int level() const noexcept { return level_; }

 private:
  std::unique_ptr<z_stream> z_;
  int window_bits_, mem_level_, level_;
};

class inflate_stream {
 public:
  explicit inflate_stream(int window_bits);
  ~inflate_stream();
  inflate_stream(inflate_stream const&) = delete;
  inflate_stream& operator=(inflate_stream const&) = delete;

  /// Appends the decompressed message to `out`. Fails with
  /// message_too_big as soon as the output would pass `limit` bytes, or
  /// when it is more than `max_ratio` times the input (0: no ratio limit);
  /// with protocol_error for data that is not a deflate stream.
  tether::error decompress(std::string_view compressed, std::size_t limit, std::size_t max_ratio, std::string& out,
                           bool reset_after);

 private:
  std::unique_ptr<z_stream> z_;
};

/// Streams shared by every connection of the calling thread, for messages
/// without context takeover: such a stream is reset after each message, so
/// it holds nothing between two calls and costs a connection nothing.
deflate_stream& thread_deflater(int window_bits, int mem_level, int level);
inflate_stream& thread_inflater(int window_bits);

}  // namespace tether::detail
