#include "codec/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

namespace tether::detail {

namespace {

// The end of a sync flush; the sender removes it and the receiver puts it
// back (RFC 7692 7.2.1 and 7.2.2).
constexpr unsigned char flush_tail[] = {0x00, 0x00, 0xFF, 0xFF};

// zlib counts bytes in uInt (32 bits): input and output go in slices.
constexpr std::size_t max_slice = std::size_t{1} << 30;

unsigned char* bytes(std::string& s, std::size_t offset) { return reinterpret_cast<unsigned char*>(s.data() + offset); }

}  // namespace

deflate_stream::deflate_stream(int window_bits, int mem_level, int level)
    : z_(std::make_unique<z_stream>()), window_bits_(window_bits), mem_level_(mem_level), level_(level) {
  // Negative window bits: a raw deflate stream, no zlib header or trailer.
  if (deflateInit2(z_.get(), level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::bad_alloc();
}

deflate_stream::~deflate_stream() { deflateEnd(z_.get()); }

void deflate_stream::compress(std::string_view message, std::string& out, bool reset_after) {
  auto& z = *z_;
  // A shared stream must never keep one connection's history for the next,
  // also when this throws (bad_alloc).
  struct reset_guard {
    z_stream& z;
    bool active;
    ~reset_guard() {
      if (active) deflateReset(&z);
    }
  } guard{z, true};
  std::size_t const start = out.size();
  std::size_t used = start;
  std::string_view rest = message;
  // zlib counts in uInt; slices keep every count well inside it.
  do {
    auto const slice = rest.substr(0, max_slice);
    rest.remove_prefix(slice.size());
    int const flush = rest.empty() ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(slice.data()));
    z.avail_in = static_cast<uInt>(slice.size());
    // deflateBound is for a finished stream; a sync flush adds a few bytes more.
    std::size_t room = std::min<std::size_t>(deflateBound(&z, static_cast<uLong>(slice.size())) + 16, max_slice);
    for (;;) {
      out.resize(used + room);
      z.next_out = bytes(out, used);
      z.avail_out = static_cast<uInt>(room);
      int const result = deflate(&z, flush);
      used = out.size() - z.avail_out;
      if (result != Z_OK && result != Z_BUF_ERROR) throw std::runtime_error("deflate failed");
      if (z.avail_in == 0 && z.avail_out > 0) break;  // all input taken, and the flush (if any) finished
      room = std::max<std::size_t>(room, 1024);
    }
  } while (!rest.empty());
  if (used >= 4 && std::equal(std::begin(flush_tail), std::end(flush_tail), out.begin() + static_cast<std::ptrdiff_t>(used) - 4,
                              [](unsigned char a, char b) { return a == static_cast<unsigned char>(b); }))
    used -= 4;
  // An empty message right after a flush leaves zlib nothing to write; the
  // receiver still adds a flush tail, which must then follow a whole empty
  // block (RFC 7692 7.2.3.6).
  if (used == start) {
    out.resize(used + 1);
    out[used++] = '\0';
  }
  out.erase(used);  // only ever shortens; resize() here trips a false -Wrestrict in g++ 12
  guard.active = reset_after;
}

inflate_stream::inflate_stream(int window_bits) : z_(std::make_unique<z_stream>()) {
  if (inflateInit2(z_.get(), -window_bits) != Z_OK) throw std::bad_alloc();
}

inflate_stream::~inflate_stream() { inflateEnd(z_.get()); }

tether::error inflate_stream::decompress(std::string_view compressed, std::size_t limit, std::size_t max_ratio,
                                         std::string& out, bool reset_after) {
  auto& z = *z_;
  struct reset_guard {  // see deflate_stream::compress
    z_stream& z;
    bool active;
    ~reset_guard() {
      if (active) inflateReset(&z);
    }
  } guard{z, true};
  limit = std::min(limit, std::numeric_limits<std::size_t>::max() - 1);  // "limit + 1" below must not wrap
  std::size_t const start = out.size();
  std::size_t used = start;
  tether::error result{};
  // The message, then the flush tail it was sent without.
  std::string_view const tail(reinterpret_cast<char const*>(flush_tail), sizeof flush_tail);
  std::string_view rest = compressed;
  bool output_full = false;  // inflate may hold more output than fitted
  bool tail_done = false;
  while (result == tether::error{} && !tail_done) {
    std::string_view slice;
    if (!rest.empty()) {
      slice = rest.substr(0, max_slice);
      rest.remove_prefix(slice.size());
    } else {
      slice = tail;
      tail_done = true;
    }
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(slice.data()));
    z.avail_in = static_cast<uInt>(slice.size());
    while (z.avail_in > 0 || output_full) {
      std::size_t const produced = used - start;
      if (produced > limit) {
        result = tether::error::message_too_big;
        break;
      }
      // Grow with what arrived, never past the limit plus one byte: a bomb
      // is noticed before it costs more memory than an honest message.
      std::size_t const room = std::min(
          {limit + 1 - produced, max_slice, std::max<std::size_t>({slice.size() * 4, 4096, produced})});
      out.resize(used + room);
      z.next_out = bytes(out, used);
      z.avail_out = static_cast<uInt>(room);
      int const r = inflate(&z, Z_SYNC_FLUSH);
      used = out.size() - z.avail_out;
      output_full = z.avail_out == 0;
      if (r == Z_STREAM_END) {
        // The sender ended the deflate stream (BFINAL); what follows, if
        // anything, starts a new one.
        inflateReset(&z);
        continue;
      }
      if (r == Z_BUF_ERROR && !output_full) break;  // nothing more to do with this input
      if (r != Z_OK && r != Z_BUF_ERROR) {
        result = tether::error::protocol_error;
        break;
      }
    }
  }
  std::size_t const produced = used - start;
  if (result == tether::error{} && produced > limit) result = tether::error::message_too_big;
  if (result == tether::error{} && max_ratio > 0 && produced > 4096 &&
      produced / std::max<std::size_t>(compressed.size(), 1) > max_ratio)
    result = tether::error::message_too_big;
  out.erase(result == tether::error{} ? used : start);
  guard.active = reset_after || result != tether::error{};
  return result;
}

deflate_stream& thread_deflater(int window_bits, int mem_level, int level) {
  thread_local std::vector<std::unique_ptr<deflate_stream>> streams;
  for (auto& s : streams)
    if (s->window_bits() == window_bits && s->mem_level() == mem_level && s->level() == level) return *s;
  return *streams.emplace_back(std::make_unique<deflate_stream>(window_bits, mem_level, level));
}

inflate_stream& thread_inflater(int window_bits) {
  thread_local std::array<std::unique_ptr<inflate_stream>, 16> streams;
  auto& s = streams.at(static_cast<std::size_t>(window_bits));
  if (!s) s = std::make_unique<inflate_stream>(window_bits);
  return *s;
}

}  // namespace tether::detail
