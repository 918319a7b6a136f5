#pragma once
// Negotiating permessage-deflate (RFC 7692 section 7.1) in both roles.

#include <tether/options.hpp>

#include <string>
#include <string_view>

namespace tether::detail {

/// What both sides agreed, seen from the local side.
struct deflate_agreement {
  bool on = false;
  int send_window_bits = 15;     // the peer decodes with this window; 8 means we never compress
  int receive_window_bits = 15;  // the peer compresses with at most this window
  bool send_reset = false;       // our compressor starts each message afresh
  bool receive_reset = false;    // the peer's compressor does
};

/// Server: the Sec-WebSocket-Extensions value answering the first offer in
/// `offers` that we accept; empty (and `out.on` false) when none is.
std::string answer_deflate_offer(std::string_view offers, compression_options const& ours, deflate_agreement& out);

/// Client: the offer to send.
std::string make_deflate_offer(compression_options const& ours);

/// Client: checks the server's answer to our offer. An empty answer means
/// no compression. Returns false, with `why`, for an answer we must fail.
bool accept_deflate_answer(std::string_view answer, compression_options const& ours, deflate_agreement& out,
                           std::string& why);

}  // namespace tether::detail
