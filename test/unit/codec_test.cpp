// The frame codec without sockets: bytes in, events out, every rule checked.
#define BOOST_TEST_MODULE codec
#include <boost/test/unit_test.hpp>

#include "codec/frame.hpp"
#include "codec/frame_reader.hpp"
#include "codec/payload_pool.hpp"
#include "codec/utf8.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

using namespace tether;
using namespace tether::detail;
using event = frame_reader::event;

namespace {

std::string frame(opcode op, std::string_view payload, bool fin = true, bool masked = true,
                  std::uint8_t extra_bits = 0) {
  header_bytes header{};
  mask_key const key{0x12, 0x34, 0x56, 0x78};
  auto const size = encode_header(header, fin, op, payload.size(), masked ? &key : nullptr);
  header[0] = static_cast<char>(header[0] | extra_bits);
  std::string out(header.data(), size);
  std::string body(payload);
  if (masked) apply_mask({body.data(), body.size()}, key, 0);
  return out + body;
}

// Feeds `bytes` to a server-role reader in pieces of `piece` bytes, keeping
// unconsumed bytes like the connection does, and records the events.
struct feed_result {
  std::vector<event> events;
  std::vector<message> messages;
  std::vector<std::string> controls;
  tether::error failure{};
};

feed_result feed(std::string bytes, std::size_t piece = 1 << 30, std::size_t max_message = 1 << 20,
                 role r = role::server) {
  frame_reader reader(r, max_message);
  feed_result out;
  std::string pending;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    pending += bytes.substr(at, piece);
    std::size_t used = 0;
    for (;;) {
      auto const step = reader.next({pending.data() + used, pending.size() - used});
      used += step.consumed;
      if (step.what == event::need_more) break;
      out.events.push_back(step.what);
      if (step.what == event::message) out.messages.push_back(reader.take_message());
      if (step.what == event::ping || step.what == event::pong || step.what == event::close)
        out.controls.emplace_back(reader.control_payload());
      if (step.what == event::failed) {
        out.failure = reader.failure();
        return out;
      }
    }
    pending.erase(0, used);
    BOOST_TEST(pending.size() < max_header_size);
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(frame_format)

// A client's keep-alive ping is framed on the watchdog's path, where an
// exception would end the event loop: drawing a mask key cannot throw.
static_assert(noexcept(tether::detail::random_mask_key()));

BOOST_AUTO_TEST_CASE(mask_keys_differ_from_one_frame_to_the_next) {
  std::set<std::uint32_t> seen;
  for (int i = 0; i < 4096; ++i) {  // across several batches
    auto const key = tether::detail::random_mask_key();
    std::uint32_t value = 0;
    std::memcpy(&value, key.data(), sizeof value);
    seen.insert(value);
  }
  BOOST_TEST(seen.size() > 4000u);
}

BOOST_AUTO_TEST_CASE(every_length_encoding_at_its_boundaries_round_trips) {
  for (std::size_t size : {0u, 1u, 125u, 126u, 127u, 65535u, 65536u, 70000u}) {
    header_bytes header{};
    auto const header_size = encode_header(header, true, opcode::binary, size, nullptr);
    std::size_t const expected = size < 126 ? 2 : size <= 65535 ? 4 : 10;
    BOOST_TEST(header_size == expected, "size " << size);
    std::string payload(size, 'x');
    auto const result = feed(frame(opcode::binary, payload), 1 << 30, 1 << 20, role::server);
    BOOST_REQUIRE_EQUAL(result.messages.size(), 1u);
    BOOST_TEST(result.messages[0].payload == payload);
    BOOST_TEST(!result.messages[0].is_text());
  }
}

BOOST_AUTO_TEST_CASE(masking_in_pieces_matches_masking_at_once) {
  std::string data(1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  mask_key const key{1, 2, 3, 250};
  std::string whole = data;
  apply_mask({whole.data(), whole.size()}, key, 0);
  for (std::size_t split : {1u, 3u, 5u, 8u, 13u, 999u}) {
    std::string pieces = data;
    apply_mask({pieces.data(), split}, key, 0);
    apply_mask({pieces.data() + split, pieces.size() - split}, key, split);
    BOOST_TEST(pieces == whole, "split at " << split);
  }
  apply_mask({whole.data(), whole.size()}, key, 0);
  BOOST_TEST(whole == data);
}

BOOST_AUTO_TEST_CASE(unmasking_while_copying_matches_masking_in_place) {
  std::string data(1100, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  for (mask_key const key : {mask_key{1, 2, 3, 250}, mask_key{}}) {
    for (std::size_t size : {0u, 1u, 7u, 8u, 9u, 31u, 32u, 33u, 63u, 100u, 1099u}) {
      for (std::uint64_t offset = 0; offset < 5; ++offset) {
        // RFC 6455 5.3, byte by byte: a reference apart from the code under test.
        std::string expected = data.substr(0, size);
        for (std::size_t i = 0; i < size; ++i) expected[i] = static_cast<char>(expected[i] ^ key[(offset + i) % 4]);
        std::string in_place = data.substr(0, size);
        apply_mask({in_place.data(), in_place.size()}, key, offset);
        BOOST_TEST(in_place == expected, "size " << size << ", offset " << offset);
        std::string copied(size, '\0');
        bool const ascii = unmask_into(copied.data(), data.data(), size, key, offset);
        BOOST_TEST(copied == expected, "size " << size << ", offset " << offset);
        bool const expect_ascii = std::all_of(expected.begin(), expected.end(),
                                              [](char c) { return static_cast<unsigned char>(c) < 0x80; });
        BOOST_TEST(ascii == expect_ascii, "size " << size << ", offset " << offset);
      }
    }
  }
}

// Payloads are unmasked and checked in blocks: characters that straddle
// a block, and a bad byte after kilobytes of ASCII, are judged as anywhere.
BOOST_AUTO_TEST_CASE(large_text_is_validated_across_every_block_and_read) {
  std::string valid(40000, 'x');
  valid.replace(8191, 2, "\xC3\xA9");
  valid.replace(16382, 4, "\xF0\x9F\x98\x80");
  valid.replace(32767, 3, "\xE2\x82\xAC");
  std::string const unfinished = std::string(8191, 'x') + "\xC3" + std::string(9000, 'y');
  std::string const late_bad = std::string(30000, 'x') + "\xFF" + std::string(100, 'x');
  for (std::size_t piece : {1000u, 8192u, 8193u, 1u << 30}) {
    for (role r : {role::server, role::client}) {
      bool const masked = r == role::server;
      auto const ok = feed(frame(opcode::text, valid, true, masked), piece, 1 << 20, r);
      BOOST_REQUIRE_EQUAL(ok.messages.size(), 1u);
      BOOST_TEST(ok.messages[0].payload == valid);
      BOOST_TEST((feed(frame(opcode::text, unfinished, true, masked), piece, 1 << 20, r).failure ==
                  tether::error::invalid_utf8));
      BOOST_TEST((feed(frame(opcode::text, late_bad, true, masked), piece, 1 << 20, r).failure ==
                  tether::error::invalid_utf8));
      // Binary is not checked.
      auto const binary = feed(frame(opcode::binary, late_bad, true, masked), piece, 1 << 20, r);
      BOOST_REQUIRE_EQUAL(binary.messages.size(), 1u);
      BOOST_TEST(binary.messages[0].payload == late_bad);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_input_is_left_as_it_was) {
  std::string const bytes = frame(opcode::text, std::string(300, 'z')) + frame(opcode::ping, "pp");
  std::string const copy = bytes;
  frame_reader reader(role::server, 1 << 20);
  auto const step = reader.next({bytes.data(), bytes.size()});
  BOOST_TEST((step.what == event::message));
  BOOST_TEST(reader.take_message().payload == std::string(300, 'z'));
  BOOST_TEST((reader.next({bytes.data() + step.consumed, bytes.size() - step.consumed}).what == event::ping));
  BOOST_TEST(reader.control_payload() == "pp");
  BOOST_TEST(bytes == copy);
}

BOOST_AUTO_TEST_CASE(messages_arrive_whole_when_fed_one_byte_at_a_time) {
  std::string const text = "héllo wörld, a message split everywhere";
  auto const result = feed(frame(opcode::text, text) + frame(opcode::binary, "\x01\x02"), 1);
  BOOST_REQUIRE_EQUAL(result.messages.size(), 2u);
  BOOST_TEST(result.messages[0].payload == text);
  BOOST_TEST(result.messages[1].payload == "\x01\x02");
}

BOOST_AUTO_TEST_CASE(fragments_join_and_pings_between_them_are_delivered_first) {
  std::string bytes = frame(opcode::text, "one ", false) + frame(opcode::ping, "p1") +
                      frame(opcode::continuation, "two ", false) + frame(opcode::pong, "") +
                      frame(opcode::continuation, "three", true);
  for (std::size_t piece : {1u, 2u, 7u, 1000u}) {
    auto const result = feed(bytes, piece);
    BOOST_REQUIRE_EQUAL(result.events.size(), 3u);
    BOOST_TEST((result.events[0] == event::ping));
    BOOST_TEST((result.events[1] == event::pong));
    BOOST_TEST((result.events[2] == event::message));
    BOOST_TEST(result.controls[0] == "p1");
    BOOST_TEST(result.messages[0].payload == "one two three");
  }
}

BOOST_AUTO_TEST_CASE(client_role_reads_unmasked_frames) {
  auto const result = feed(frame(opcode::text, "from server", true, false), 3, 1 << 20, role::client);
  BOOST_REQUIRE_EQUAL(result.messages.size(), 1u);
  BOOST_TEST(result.messages[0].payload == "from server");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(protocol_errors)

void expect_failure(std::string bytes, tether::error expected, role r = role::server, std::size_t max = 1 << 20) {
  auto const result = feed(std::move(bytes), 1 << 30, max, r);
  BOOST_REQUIRE(!result.events.empty());
  BOOST_TEST((result.events.back() == event::failed));
  BOOST_TEST((result.failure == expected), make_error_code(result.failure).message());
}

BOOST_AUTO_TEST_CASE(reserved_bits_without_extension_are_1002) {
  for (std::uint8_t bits : {0x40, 0x20, 0x10})
    expect_failure(frame(opcode::text, "x", true, true, bits), tether::error::protocol_error);
}

BOOST_AUTO_TEST_CASE(reserved_opcodes_are_1002) {
  for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF})
    expect_failure(frame(static_cast<opcode>(op), "x"), tether::error::protocol_error);
}

BOOST_AUTO_TEST_CASE(fragmented_or_long_control_frames_are_1002) {
  expect_failure(frame(opcode::ping, "x", false), tether::error::protocol_error);
  expect_failure(frame(opcode::ping, std::string(126, 'x')), tether::error::protocol_error);
  expect_failure(frame(opcode::close, std::string(126, 'x')), tether::error::protocol_error);
  BOOST_TEST(feed(frame(opcode::ping, std::string(125, 'x'))).controls.at(0).size() == 125u);
}

BOOST_AUTO_TEST_CASE(continuation_without_start_and_new_message_inside_fragments_are_1002) {
  expect_failure(frame(opcode::continuation, "x"), tether::error::protocol_error);
  expect_failure(frame(opcode::text, "a", false) + frame(opcode::text, "b"), tether::error::protocol_error);
  expect_failure(frame(opcode::binary, "a", false) + frame(opcode::binary, "b"), tether::error::protocol_error);
}

BOOST_AUTO_TEST_CASE(masking_must_match_the_role) {
  expect_failure(frame(opcode::text, "unmasked from client", true, false), tether::error::protocol_error);
  expect_failure(frame(opcode::text, "masked from server", true, true), tether::error::protocol_error, role::client);
}

BOOST_AUTO_TEST_CASE(oversize_message_is_1009_as_soon_as_the_header_arrives) {
  std::string header = frame(opcode::binary, std::string(2000, 'x')).substr(0, 8);
  expect_failure(header, tether::error::message_too_big, role::server, 1000);
  expect_failure(frame(opcode::text, std::string(600, 'a'), false) + frame(opcode::continuation, std::string(600, 'a')),
                 tether::error::message_too_big, role::server, 1000);
}

BOOST_AUTO_TEST_CASE(a_64_bit_length_with_the_top_bit_set_is_1002) {
  std::string bytes = "\x82\xFF";
  bytes += std::string("\x80\0\0\0\0\0\0\0", 8);
  bytes += std::string(4, '\0');
  expect_failure(bytes, tether::error::protocol_error);
}

BOOST_AUTO_TEST_CASE(invalid_utf8_fails_fast_even_mid_message) {
  expect_failure(frame(opcode::text, "\xC3\x28"), tether::error::invalid_utf8);
  // The bad byte is in the first fragment of a message whose end never comes.
  auto const result = feed(frame(opcode::text, "ok \xFF", false));
  BOOST_TEST((result.failure == tether::error::invalid_utf8));
  // A character split across fragments is fine; an unfinished one at the end is not.
  BOOST_TEST(feed(frame(opcode::text, "\xE2\x82", false) + frame(opcode::continuation, "\xAC")).messages.at(0).payload ==
             "\xE2\x82\xAC");
  expect_failure(frame(opcode::text, "\xE2\x82", false) + frame(opcode::continuation, "x"),
                 tether::error::invalid_utf8);
  expect_failure(frame(opcode::text, "\xE2\x82"), tether::error::invalid_utf8);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(close_frames)

BOOST_AUTO_TEST_CASE(close_payload_rules) {
  close_payload out;
  BOOST_TEST((parse_close_payload("", out) == tether::error{}));
  BOOST_TEST(out.code == 1005);
  BOOST_TEST((parse_close_payload("\x03", out) == tether::error::protocol_error));
  for (unsigned code : {0u, 999u, 1004u, 1005u, 1006u, 1015u, 1016u, 2999u, 5000u}) {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    BOOST_TEST((parse_close_payload(p, out) == tether::error::protocol_error), "code " << code);
  }
  for (unsigned code : {1000u, 1001u, 1002u, 1003u, 1007u, 1008u, 1009u, 1010u, 1011u, 3000u, 4999u}) {
    std::string const p = std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)} + "bye";
    BOOST_TEST((parse_close_payload(p, out) == tether::error{}), "code " << code);
    BOOST_TEST(out.code == code);
    BOOST_TEST(out.reason == "bye");
  }
  BOOST_TEST((parse_close_payload("\x03\xE8\xFF", out) == tether::error::invalid_utf8));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(utf8)

BOOST_AUTO_TEST_CASE(multibyte_characters_split_at_every_position_are_valid) {
  std::string const text = "a\xC3\xA9" "b\xE2\x82\xAC" "c\xF0\x9F\x98\x80" "d\xEF\xBF\xBF\xF4\x8F\xBF\xBF";
  for (std::size_t split = 0; split <= text.size(); ++split) {
    for (std::size_t split2 = split; split2 <= text.size(); ++split2) {
      utf8_validator v;
      BOOST_TEST(v.feed(std::string_view(text).substr(0, split)));
      BOOST_TEST(v.feed(std::string_view(text).substr(split, split2 - split)));
      BOOST_TEST(v.feed(std::string_view(text).substr(split2)));
      BOOST_TEST(v.complete());
    }
  }
}

BOOST_AUTO_TEST_CASE(invalid_sequences_are_rejected) {
  for (std::string_view bad : {"\x80", "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF0\x80\x80\xAF",
                               "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFE", "\xFF", "\xC3\x28"}) {
    BOOST_TEST(!is_valid_utf8(bad), "sequence of " << bad.size() << " bytes");
  }
  BOOST_TEST(is_valid_utf8(""));
  BOOST_TEST(is_valid_utf8(std::string(100, 'x')));
  BOOST_TEST(!is_valid_utf8(std::string(100, 'x') + "\xE2\x82"));
}

BOOST_AUTO_TEST_CASE(errors_are_detected_at_the_first_bad_byte) {
  utf8_validator v;
  BOOST_TEST(v.feed("\xED"));
  BOOST_TEST(!v.feed("\xA0"));  // a surrogate is known bad at its second byte
  utf8_validator w;
  BOOST_TEST(w.feed("\xF4"));
  BOOST_TEST(!w.feed("\x90"));  // above U+10FFFF at its second byte
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(payload_pool)

// Each test runs on the main thread and leaves the pool as it found it (empty).
BOOST_AUTO_TEST_CASE(keeps_large_strings_only_and_within_its_budget) {
  namespace pool = tether::detail::payload_pool;
  pool::give(std::string(100, 'x'));  // the small tier's
  BOOST_TEST(pool::take(0, 1 << 30).capacity() < pool::min_capacity);
  (void)pool::take_small(50);  // leaves the small tier as it was
  pool::give(std::string(64 << 20, 'x'));  // larger than the pool keeps
  BOOST_TEST(pool::take(0, 1 << 30).capacity() < pool::min_capacity);
  for (int i = 0; i < 10; ++i) pool::give(std::string(1 << 20, 'x'));
  int kept = 0;
  while (pool::take(1, 1 << 30).capacity() >= (1u << 20)) ++kept;
  BOOST_TEST(kept == 4);  // 4 MiB in all
}

BOOST_AUTO_TEST_CASE(small_strings_come_back_by_size_class) {
  namespace pool = tether::detail::payload_pool;
  auto first = pool::take_small(16);
  BOOST_TEST(first.empty());
  BOOST_TEST(first.capacity() >= 16u);
  BOOST_TEST(first.capacity() <= 2 * 16u);  // a peer's 16 bytes cost at most twice that
  first.assign(16, 'a');
  char const* const storage = first.data();
  pool::give(std::move(first));
  auto again = pool::take_small(20);  // the same class
  BOOST_TEST(again.empty());
  BOOST_TEST((again.data() == storage));
  BOOST_TEST(pool::take_small(200).capacity() >= 200u);  // another class: a new string
  BOOST_TEST(pool::take_small(100000).capacity() >= 100000u);  // above the tier: exact
  // A class keeps at most 128 KiB of strings: of 1,000 given back, 128 of 1 KiB.
  std::vector<std::string> many;
  std::set<char const*> given;
  for (int i = 0; i < 1000; ++i) {
    many.push_back(pool::take_small(1000));
    given.insert(many.back().data());
  }
  for (auto& s : many) pool::give(std::move(s));
  std::vector<std::string> back;
  for (int i = 0; i < 1000; ++i) back.push_back(pool::take_small(1000));
  auto const reused = std::count_if(back.begin(), back.end(), [&](auto const& s) { return given.count(s.data()) > 0; });
  BOOST_TEST(reused == 128);
  pool::give(std::move(again));
  (void)pool::take_small(20);  // leaves the pool as it found it
}

BOOST_AUTO_TEST_CASE(hands_out_the_smallest_string_in_range_and_empty) {
  namespace pool = tether::detail::payload_pool;
  pool::give(std::string(256 << 10, 'a'));
  pool::give(std::string(32 << 10, 'b'));
  pool::give(std::string(1 << 20, 'c'));
  BOOST_TEST(pool::take(300 << 10, 600 << 10).capacity() < pool::min_capacity);  // none in range
  auto const fits = pool::take(100 << 10, 2 << 20);
  BOOST_TEST(fits.empty());
  BOOST_TEST(fits.capacity() >= (256u << 10));
  BOOST_TEST(fits.capacity() < (1u << 20));
  BOOST_TEST(pool::take(1 << 20, 2 << 20).capacity() >= (1u << 20));
  BOOST_TEST(pool::take(1, 64 << 10).capacity() >= (32u << 10));
  BOOST_TEST(pool::take(0, 1 << 30).capacity() < pool::min_capacity);  // nothing left
}

BOOST_AUTO_TEST_CASE(a_large_message_reuses_a_kept_string_of_its_size) {
  namespace pool = tether::detail::payload_pool;
  std::string kept(400 << 10, 'k');
  auto const* const storage = kept.data();
  pool::give(std::move(kept));
  frame_reader reader(role::server, 1 << 20);
  std::string const payload(300 << 10, 'p');
  auto bytes = frame(opcode::binary, payload);
  BOOST_TEST((reader.next(bytes).what == event::message));
  auto const msg = reader.take_message();
  BOOST_TEST(msg.payload == payload);
  BOOST_TEST(static_cast<void const*>(msg.payload.data()) == static_cast<void const*>(storage));
}

// Growing to twice what is present, but never past what the frame has
// left to bring: a message that arrives in a few reads ends at its size.
BOOST_AUTO_TEST_CASE(a_message_arriving_in_pieces_grows_no_larger_than_its_frame) {
  std::string const payload(100 << 10, 'p');
  auto bytes = frame(opcode::binary, payload);
  for (std::size_t first : {std::size_t{64 << 10}, std::size_t{80 << 10}}) {
    frame_reader reader(role::server, 1 << 20);
    BOOST_TEST((reader.next({bytes.data(), first}).what == event::need_more));
    BOOST_TEST((reader.next({bytes.data() + first, bytes.size() - first}).what == event::message));
    auto const msg = reader.take_message();
    BOOST_TEST(msg.payload == payload);
    BOOST_TEST(msg.payload.capacity() == payload.size());
  }
}

BOOST_AUTO_TEST_CASE(a_promise_in_a_header_does_not_take_a_large_string) {
  namespace pool = tether::detail::payload_pool;
  pool::give(std::string(1 << 20, 'k'));
  frame_reader reader(role::server, 1 << 20);
  std::string const payload(900 << 10, 'p');
  auto bytes = frame(opcode::binary, payload);
  auto const step = reader.next({bytes.data(), 20 << 10});  // 20 KiB of a promised 900
  BOOST_TEST((step.what == event::need_more));
  BOOST_TEST(pool::take(1 << 20, 2 << 20).capacity() >= (1u << 20));  // still kept
}

BOOST_AUTO_TEST_SUITE_END()
