#include "codec/deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <new>
#include <stdexcept>
#include <vector>

namespace tether::detail {

namespace {

// The end of a sync flush; the sender removes it and the receiver puts it
// back (RFC 7692 7.2.1 and 7.2.2).
constexpr unsigned char flush_tail[] = {0x00, 0x00, 0xFF, 0xFF};

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
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
  z.avail_in = static_cast<uInt>(message.size());
  std::size_t const start = out.size();
  std::size_t used = start;
  // deflateBound is for a finished stream; a sync flush adds a few bytes more.
  std::size_t room = deflateBound(&z, static_cast<uLong>(message.size())) + 16;
  for (;;) {
    out.resize(used + room);
    z.next_out = bytes(out, used);
    z.avail_out = static_cast<uInt>(room);
    int const result = deflate(&z, Z_SYNC_FLUSH);
    used = out.size() - z.avail_out;
    if (result != Z_OK && result != Z_BUF_ERROR) throw std::runtime_error("deflate failed");
    if (z.avail_in == 0 && z.avail_out > 0) break;  // all input taken and the flush finished
    room = std::max<std::size_t>(room, 1024);
  }
  if (used >= 4 && std::equal(std::begin(flush_tail), std::end(flush_tail), out.begin() + static_cast<std::ptrdiff_t>(used) - 4,
                              [](unsigned char a, char b) { return a == static_cast<unsigned char>(b); }))
    used -= 4;
  // An empty message right after a flush leaves zlib nothing to write; the
  // receiver still adds a flush tail, which must then follow a whole empty
  // block (RFC 7692 7.2.3.6).
  if (used == start) out[used++] = '\0';
  out.erase(used);  // only ever shortens; resize() here trips a false -Wrestrict in g++ 12
  if (reset_after) deflateReset(&z);
}

inflate_stream::inflate_stream(int window_bits) : z_(std::make_unique<z_stream>()) {
  if (inflateInit2(z_.get(), -window_bits) != Z_OK) throw std::bad_alloc();
}

inflate_stream::~inflate_stream() { inflateEnd(z_.get()); }

tether::error inflate_stream::decompress(std::string_view compressed, std::size_t limit, std::size_t max_ratio,
                                         std::string& out, bool reset_after) {
  auto& z = *z_;
  std::size_t const start = out.size();
  std::size_t used = start;
  tether::error result{};
  // The message, then the flush tail it was sent without.
  std::array<std::string_view, 2> const parts{
      compressed, std::string_view(reinterpret_cast<char const*>(flush_tail), sizeof flush_tail)};
  bool output_full = false;  // inflate may hold more output than fitted
  for (auto part : parts) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(part.data()));
    z.avail_in = static_cast<uInt>(part.size());
    while (z.avail_in > 0 || output_full) {
      std::size_t const produced = used - start;
      if (produced > limit) {
        result = tether::error::message_too_big;
        break;
      }
      // Grow with what arrived, never past the limit plus one byte: a bomb
      // is noticed before it costs more memory than an honest message.
      std::size_t const room =
          std::min(limit + 1 - produced, std::max<std::size_t>({compressed.size() * 4, 4096, produced}));
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
    if (result != tether::error{}) break;
  }
  if (result == tether::error{} && used - start > limit) result = tether::error::message_too_big;
  if (result == tether::error{} && max_ratio > 0 && used - start > 4096 &&
      used - start > max_ratio * std::max<std::size_t>(compressed.size(), 1))
    result = tether::error::message_too_big;
  out.erase(result == tether::error{} ? used : start);
  if (reset_after || result != tether::error{}) inflateReset(&z);
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
