#pragma once
// Limits and timeouts of one WebSocket connection, for either role.

#include <chrono>
#include <cstddef>

namespace tether {

/// permessage-deflate (RFC 7692). Off by default; see docs/compression.md
/// for the memory each choice costs.
struct compression_options {
  /// Server: accept a client's offer. Client: make one.
  bool enabled = false;
  /// Keep the compression history from one message to the next. Better
  /// ratios for many small similar messages, but each connection then owns
  /// its zlib streams: with window_bits 15 and mem_level 8 about 300 KiB.
  /// Off, both directions start every message afresh and Tether shares one
  /// zlib stream per thread, so a connection costs nothing extra.
  bool context_takeover = false;
  /// LZ77 window of both directions, 9..15 (2^bits bytes). A peer may ask
  /// for less; one that asks our side for 8 gets uncompressed messages,
  /// which RFC 7692 allows (zlib cannot write with a 256-byte window).
  int window_bits = 15;
  int mem_level = 8;  ///< zlib memory level of our compressor, 1..9
  int level = 6;      ///< zlib level, 1 (fast) .. 9 (small)
  /// Messages shorter than this many bytes are sent uncompressed.
  std::size_t threshold = 64;
  /// Refuse (1009) a message that inflates to more than this many times
  /// its compressed size; 0 turns it off. max_message_size always bounds
  /// the inflated size; deflate cannot exceed about 1032:1.
  std::size_t max_ratio = 0;
};

/// Every field has a default suited to a public server; a zero duration
/// turns that timer off. docs/guide.md ("Limits and what a peer can cost")
/// gives the memory one connection may hold as a formula of these fields.
struct websocket_options {
  /// Largest incoming message in bytes, all fragments together and after
  /// decompression; a larger one closes the connection with 1009 as soon
  /// as its header (or its inflated size) shows it. 1 MiB, as
  /// python3-websockets: inflating a compressed message costs about 14 ms
  /// of CPU per MiB, during which the thread serves no one else.
  std::size_t max_message_size = 1024 * 1024;
  /// Bytes of outgoing messages queued but not yet written, the message
  /// being added included; a writer whose message does not fit awaits until
  /// the queue drains (backpressure). A message larger than the limit is
  /// accepted into an empty queue, so that it can be sent at all.
  std::size_t max_write_queue = 4 * 1024 * 1024;
  /// Bytes of received messages waiting for read(); once a message would
  /// pass it, the connection stops reading the socket until the application
  /// catches up.
  std::size_t max_read_queue = 4 * 1024 * 1024;
  /// Send a ping when nothing was received for this long. Keeps running
  /// while reading is paused (max_read_queue): an application that stops
  /// reading for ping_interval + pong_timeout loses the connection.
  std::chrono::milliseconds ping_interval = std::chrono::seconds(30);
  /// Drop the connection when a ping got no pong for this long.
  std::chrono::milliseconds pong_timeout = std::chrono::seconds(30);
  /// Close with 1001 when nothing at all was received for this long.
  std::chrono::milliseconds idle_timeout{0};
  /// Fail with error::too_slow and reset the TCP connection when queued
  /// outgoing bytes made no progress for this long: a peer that never
  /// reads cannot hold the write queue (and the writers behind it) forever.
  std::chrono::milliseconds send_timeout = std::chrono::seconds(30);
  /// Close with 1008 (error::message_timeout) when a message, from the
  /// first byte of its first frame to the last of its last, takes longer
  /// than this: a peer dripping a large message byte by byte cannot hold
  /// it forever. 60 s lets a full max_message_size arrive at 17 KiB/s.
  std::chrono::milliseconds message_timeout = std::chrono::seconds(60);
  /// Upper bound for the close handshake, from our close frame (or the
  /// peer's) to the end of the TCP connection.
  std::chrono::milliseconds close_timeout = std::chrono::seconds(5);
  compression_options compression{};
};

}  // namespace tether
