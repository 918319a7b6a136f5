// permessage-deflate without sockets: zlib round trips, bombs, the RSV1
// rules of the reader, and the negotiation in both roles.
#define BOOST_TEST_MODULE compression
#include <boost/test/unit_test.hpp>

#include "codec/deflate.hpp"
#include "codec/frame.hpp"
#include "codec/frame_reader.hpp"
#include "ws/extensions.hpp"

#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace tether;
using namespace tether::detail;
using event = frame_reader::event;

namespace {

std::string random_bytes(std::size_t n, unsigned seed = 7) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen());
  return s;
}

std::string compress(std::string_view plain, int bits = 15) {
  deflate_stream d(bits, 8, 6);
  std::string out;
  d.compress(plain, out, true);
  return out;
}

// A masked client frame; `rsv1` marks it compressed.
std::string frame(opcode op, std::string_view payload, bool fin = true, bool rsv1 = false) {
  header_bytes header{};
  mask_key const key{1, 2, 3, 4};
  auto const size = encode_header(header, fin, op, payload.size(), &key, rsv1);
  std::string body(payload);
  apply_mask({body.data(), body.size()}, key, 0);
  return std::string(header.data(), size) + body;
}

struct outcome {
  std::vector<message> messages;
  tether::error failure{};
  close_code code = close_code::normal;
};

outcome read_all(std::string bytes, bool inflate = true, std::size_t max_message = 1 << 20, bool reset_each = true) {
  frame_reader reader(role::server, max_message);
  if (inflate) reader.enable_inflate(15, reset_each, 0);
  outcome out;
  std::size_t used = 0;
  for (;;) {
    auto const step = reader.next({bytes.data() + used, bytes.size() - used});
    used += step.consumed;
    if (step.what == event::need_more) break;
    if (step.what == event::message) out.messages.push_back(reader.take_message());
    if (step.what == event::failed) {
      out.failure = reader.failure();
      out.code = reader.failure_close_code();
      break;
    }
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(deflate)

BOOST_AUTO_TEST_CASE(round_trips_with_and_without_context_takeover) {
  std::vector<std::string> const inputs{"", "a", std::string(100000, 'x'), random_bytes(70000),
                                        "the quick brown fox jumps over the lazy dog"};
  for (bool reset : {true, false}) {
    deflate_stream d(15, 8, 6);
    inflate_stream i(15);
    for (int round = 0; round < 3; ++round) {
      for (auto const& input : inputs) {
        std::string packed;
        d.compress(input, packed, reset);
        std::string plain;
        BOOST_REQUIRE((i.decompress(packed, 1 << 20, 0, plain, reset) == tether::error{}));
        BOOST_REQUIRE(plain == input);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(context_takeover_makes_repeats_smaller) {
  std::string const text = "{\"type\":\"update\",\"value\":12345,\"name\":\"sensor\"}";
  deflate_stream keep(15, 8, 6);
  std::string first, second;
  keep.compress(text, first, false);
  keep.compress(text, second, false);
  BOOST_TEST(second.size() < first.size() / 2);
}

BOOST_AUTO_TEST_CASE(a_bomb_stops_at_the_limit_without_allocating_its_size) {
  std::string const huge(16 << 20, '\0');
  auto const packed = compress(huge);
  BOOST_TEST(packed.size() < 64 * 1024);
  inflate_stream i(15);
  std::string plain;
  BOOST_TEST((i.decompress(packed, 1 << 20, 0, plain, true) == tether::error::message_too_big));
  BOOST_TEST(plain.empty());
  BOOST_TEST(plain.capacity() <= 2 * ((1u << 20) + 4096));  // std::string grows by doubling
  // The same stream still works afterwards.
  std::string ok;
  BOOST_TEST((i.decompress(compress("fine"), 100, 0, ok, true) == tether::error{}));
  BOOST_TEST(ok == "fine");
}

BOOST_AUTO_TEST_CASE(ratio_limit_refuses_extreme_compression_only_when_asked) {
  std::string const zeros(1 << 20, '\0');
  auto const packed = compress(zeros);
  inflate_stream i(15);
  std::string plain;
  BOOST_TEST((i.decompress(packed, 16 << 20, 100, plain, true) == tether::error::message_too_big));
  BOOST_TEST((i.decompress(packed, 16 << 20, 0, plain, true) == tether::error{}));
  BOOST_TEST(plain.size() == zeros.size());
}

BOOST_AUTO_TEST_CASE(an_unlimited_size_limit_does_not_wrap) {
  inflate_stream i(15);
  std::string plain;
  BOOST_TEST((i.decompress(compress("unlimited"), std::numeric_limits<std::size_t>::max(), 0, plain, true) ==
              tether::error{}));
  BOOST_TEST(plain == "unlimited");
}

BOOST_AUTO_TEST_CASE(data_that_is_not_deflate_is_a_protocol_error) {
  inflate_stream i(15);
  std::string plain;
  BOOST_TEST((i.decompress("\xff\xff\xff\xff garbage", 1 << 20, 0, plain, true) == tether::error::protocol_error));
}

BOOST_AUTO_TEST_CASE(small_windows_round_trip) {
  for (int bits = 9; bits <= 15; ++bits) {
    auto const input = random_bytes(3000, static_cast<unsigned>(bits)) + std::string(5000, 'q');
    auto const packed = compress(input, bits);
    inflate_stream i(bits);
    std::string plain;
    BOOST_REQUIRE((i.decompress(packed, 1 << 20, 0, plain, true) == tether::error{}));
    BOOST_TEST(plain == input);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reader)

BOOST_AUTO_TEST_CASE(compressed_messages_single_and_fragmented) {
  auto const text = std::string(5000, 'z') + "end";
  auto const packed = compress(text);
  auto out = read_all(frame(opcode::text, packed, true, true));
  BOOST_REQUIRE(out.messages.size() == 1u);
  BOOST_TEST(out.messages[0].payload == text);
  // RSV1 on the first frame only; the continuation carries the rest.
  auto const half = packed.size() / 2;
  out = read_all(frame(opcode::binary, packed.substr(0, half), false, true) +
                 frame(opcode::continuation, packed.substr(half), true, false) + frame(opcode::text, "plain"));
  BOOST_REQUIRE(out.messages.size() == 2u);
  BOOST_TEST(out.messages[0].payload == text);
  BOOST_TEST(out.messages[1].payload == "plain");
}

BOOST_AUTO_TEST_CASE(rsv1_where_it_may_not_be_is_1002) {
  auto const packed = compress("hello hello hello");
  BOOST_TEST((read_all(frame(opcode::text, packed, true, true), false).code == close_code::protocol_error));
  BOOST_TEST((read_all(frame(opcode::ping, "x", true, true)).code == close_code::protocol_error));
  BOOST_TEST((read_all(frame(opcode::text, "abc", false, false) + frame(opcode::continuation, "", true, true)).code ==
              close_code::protocol_error));
}

BOOST_AUTO_TEST_CASE(inflated_size_and_utf8_are_checked) {
  auto const big = compress(std::string(2 << 20, 'a'));
  auto out = read_all(frame(opcode::text, big, true, true), true, 1 << 20);
  BOOST_TEST((out.code == close_code::message_too_big));
  auto const bad = compress(std::string(100, 'a') + "\xC0\xAF");
  out = read_all(frame(opcode::text, bad, true, true));
  BOOST_TEST((out.code == close_code::invalid_payload));
  out = read_all(frame(opcode::binary, "\xff\xff\xff\xff", true, true));
  BOOST_TEST((out.code == close_code::protocol_error));
}

BOOST_AUTO_TEST_CASE(context_takeover_across_messages) {
  deflate_stream d(15, 8, 6);
  std::string bytes;
  for (int i = 0; i < 50; ++i) {
    std::string packed;
    d.compress("message number " + std::to_string(i % 5), packed, false);
    bytes += frame(opcode::text, packed, true, true);
  }
  auto const out = read_all(bytes, true, 1 << 20, false);
  BOOST_REQUIRE(out.messages.size() == 50u);
  BOOST_TEST(out.messages[49].payload == "message number 4");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(negotiation)

compression_options enabled(bool takeover = false, int bits = 15) {
  compression_options o;
  o.enabled = true;
  o.context_takeover = takeover;
  o.window_bits = bits;
  return o;
}

BOOST_AUTO_TEST_CASE(server_answers_browser_and_library_offers) {
  deflate_agreement a;
  BOOST_TEST(answer_deflate_offer("permessage-deflate; client_max_window_bits", enabled(), a) ==
             "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  BOOST_TEST(a.on);
  BOOST_TEST(a.send_reset);
  BOOST_TEST(a.receive_reset);
  BOOST_TEST(answer_deflate_offer("permessage-deflate; client_max_window_bits", enabled(true), a) ==
             "permessage-deflate");
  BOOST_TEST(!a.send_reset);
  BOOST_TEST(!a.receive_reset);
  BOOST_TEST(answer_deflate_offer("permessage-deflate; client_max_window_bits", enabled(true, 10), a) ==
             "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10");
  BOOST_TEST(a.send_window_bits == 10);
  BOOST_TEST(a.receive_window_bits == 10);
  BOOST_TEST(answer_deflate_offer("permessage-deflate; server_max_window_bits=12; server_no_context_takeover",
                                  enabled(true), a) ==
             "permessage-deflate; server_no_context_takeover; server_max_window_bits=12");
  BOOST_TEST(a.send_window_bits == 12);
  BOOST_TEST(a.send_reset);
  BOOST_TEST(answer_deflate_offer("permessage-deflate; server_max_window_bits=8", enabled(true), a) ==
             "permessage-deflate; server_max_window_bits=8");
  BOOST_TEST(a.send_window_bits == 8);  // accepted, and we send uncompressed
}

BOOST_AUTO_TEST_CASE(server_declines_broken_offers_and_takes_the_next) {
  deflate_agreement a;
  for (std::string_view broken : {"permessage-deflate; unknown", "permessage-deflate; server_max_window_bits",
                                  "permessage-deflate; server_max_window_bits=16",
                                  "permessage-deflate; client_max_window_bits=7",
                                  "permessage-deflate; server_no_context_takeover=1",
                                  "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                                  "x-webkit-deflate-frame", ""}) {
    BOOST_TEST(answer_deflate_offer(broken, enabled(), a).empty(), broken);
    BOOST_TEST(!a.on);
  }
  BOOST_TEST(answer_deflate_offer("permessage-deflate; bogus, permessage-deflate; client_max_window_bits=\"12\"",
                                  enabled(true), a) == "permessage-deflate");
  BOOST_TEST(a.receive_window_bits == 12);
  BOOST_TEST(answer_deflate_offer("permessage-deflate", compression_options{}, a).empty());
}

BOOST_AUTO_TEST_CASE(client_offer_and_answers) {
  BOOST_TEST(make_deflate_offer(enabled()) ==
             "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits");
  BOOST_TEST(make_deflate_offer(enabled(true, 11)) == "permessage-deflate; server_max_window_bits=11; client_max_window_bits");
  BOOST_TEST(make_deflate_offer(compression_options{}).empty());

  deflate_agreement a;
  std::string why;
  BOOST_TEST(accept_deflate_answer("", enabled(), a, why));
  BOOST_TEST(!a.on);
  BOOST_TEST(accept_deflate_answer("permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
                                   enabled(), a, why));
  BOOST_TEST(a.on);
  BOOST_TEST(a.send_window_bits == 9);
  BOOST_TEST(a.receive_reset);
  BOOST_TEST(!accept_deflate_answer("permessage-deflate", enabled(), a, why));  // ignored our no_context_takeover
  BOOST_TEST(why.find("server_no_context_takeover") != std::string::npos);
  BOOST_TEST(!accept_deflate_answer("permessage-deflate", compression_options{}, a, why));
  BOOST_TEST(!accept_deflate_answer("permessage-deflate; client_max_window_bits", enabled(true), a, why));
  BOOST_TEST(!accept_deflate_answer("permessage-deflate; server_max_window_bits=15", enabled(true, 10), a, why));
  BOOST_TEST(!accept_deflate_answer("permessage-deflate, permessage-deflate", enabled(true), a, why));
  BOOST_TEST(accept_deflate_answer("permessage-deflate; server_max_window_bits=10", enabled(true, 10), a, why));
  BOOST_TEST(a.receive_window_bits == 10);
  BOOST_TEST(a.send_window_bits == 10);  // our own compressor keeps to our window too
}

BOOST_AUTO_TEST_SUITE_END()
