// The WebSocket session with no socket: every transition driven by bytes,
// a clock of the test's own and the application's calls, in both roles.
// Two sessions talk through a wire of strings; raw frames from the codec
// play a peer that breaks the rules.
#define BOOST_TEST_MODULE sansio
#include <boost/test/unit_test.hpp>

#include "codec/frame.hpp"
#include "codec/frame_reader.hpp"
#include "ws/session.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace tether;
using namespace tether::detail;
using namespace std::chrono_literals;
using state = session::state;
using time_point = session::time_point;

namespace {

time_point const t0 = time_point{} + 1h;

websocket_options quiet_timers() {
  websocket_options o;
  o.ping_interval = 0ms;
  o.pong_timeout = 0ms;
  o.message_timeout = 0ms;
  o.send_timeout = 0ms;
  o.close_timeout = 0ms;
  return o;
}

// One side of a connection: a session and what it asked its transport for.
struct side {
  explicit side(role r, websocket_options o = quiet_timers())
      : local(r), s({.local_role = r, .settings = tether::detail::share_settings(o, logger::silent()), .id = 1}, t0) {}

  role local;
  session s;
  std::string wire;  // written by this side, not yet read by the other
  bool fin = false, ended = false, reset = false, eof_delivered = false;
  unsigned reader_wakes = 0, writer_wakes = 0, all_wakes = 0, read_again = 0;
  std::size_t write_room = std::numeric_limits<std::size_t>::max();  // what the transport takes now

  void act(time_point now = t0) {
    while (auto const todo = s.take_actions()) {
      if (todo & session::end_transport) {
        ended = true;
        reset = (todo & session::end_with_reset) != 0;
      }
      if (todo & session::shutdown_send) fin = true;
      if (todo & session::wake_reader) ++reader_wakes;
      if (todo & session::wake_writer) ++writer_wakes;
      if (todo & session::wake_all) ++all_wakes;
      if (todo & session::read_again) ++read_again;
      if (todo & session::write_output) flush(now);
    }
  }

  void flush(time_point now) {
    constexpr auto unlimited = std::numeric_limits<std::size_t>::max();
    while (!ended && write_room > 0) {
      auto const out = s.output();
      if (out.empty()) return;
      std::size_t n = 0;
      for (auto const& b : out) {
        std::size_t const take = std::min(b.size(), write_room - n);
        wire.append(static_cast<char const*>(b.data()), take);
        n += take;
        if (take < b.size()) break;
      }
      if (write_room != unlimited) write_room -= n;
      s.wrote(n, now);
    }
  }

  // The transport now takes everything again.
  void drain(time_point now = t0) {
    write_room = std::numeric_limits<std::size_t>::max();
    flush(now);
    act(now);
  }

  void receive(std::string bytes, time_point now = t0) {
    s.receive({bytes.data(), bytes.size()}, now);
    act(now);
  }

  std::vector<std::string> messages() {
    std::vector<std::string> out;
    while (auto msg = s.take_message()) out.push_back(msg->payload);
    act();
    return out;
  }
};

// Carries bytes both ways, and each side's FIN or closed socket as the
// other's end of input, until nothing moves.
void exchange(side& a, side& b, time_point now = t0) {
  for (int round = 0; round < 16; ++round) {
    bool moved = false;
    for (auto [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
      if (!from->wire.empty()) {
        std::string bytes = std::exchange(from->wire, {});
        if (!to->ended) to->receive(bytes, now);
        moved = true;
      }
      if ((from->fin || from->ended) && !to->eof_delivered) {
        to->eof_delivered = true;
        to->s.transport_ended(make_error_code(boost::asio::error::eof));
        to->act(now);
        moved = true;
      }
    }
    if (!moved) return;
  }
}

std::string frame(opcode op, std::string_view payload, bool masked, bool fin = true, std::uint8_t extra_bits = 0) {
  header_bytes header{};
  mask_key const key{0x0f, 0xa0, 0x33, 0xc4};
  auto const size = encode_header(header, fin, op, payload.size(), masked ? &key : nullptr);
  header[0] = static_cast<char>(header[0] | extra_bits);
  std::string body(payload);
  if (masked) apply_mask({body.data(), body.size()}, key, 0);
  return std::string(header.data(), size) + body;
}

// A frame as the peer of `local` would send it (masked toward a server).
std::string from_peer(role local, opcode op, std::string_view payload, bool fin = true) {
  return frame(op, payload, local == role::server, fin);
}

// The n-th of the inbox tests' messages: 100 bytes of '0' + n.
std::string numbered_payload(int n) { return std::string(100, static_cast<char>('0' + n)); }

// An inbox full after two of them (each costs its payload and a message).
websocket_options inbox_for_two() {
  auto o = quiet_timers();
  o.max_read_queue = 200;
  return o;
}

// The first `count` of them, each in a binary frame from the peer of `local`.
std::string numbered_messages(role local, int count) {
  std::string bytes;
  for (int n = 0; n < count; ++n) bytes += from_peer(local, opcode::binary, numbered_payload(n));
  return bytes;
}

std::string close_body(std::uint16_t code, std::string_view reason = {}) {
  std::string body{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
  return body.append(reason);
}

struct seen {
  frame_reader::event what;
  std::string payload;
};

// Decodes what `writer` put on the wire, as its peer would.
std::vector<seen> decode(side const& writer, std::string bytes) {
  frame_reader reader(writer.local == role::server ? role::client : role::server, 1 << 24);
  std::vector<seen> out;
  std::span<char> rest(bytes.data(), bytes.size());
  while (!rest.empty()) {
    auto const step = reader.next(rest);
    rest = rest.subspan(step.consumed);
    if (step.what == frame_reader::event::need_more) break;
    if (step.what == frame_reader::event::message)
      out.push_back({step.what, reader.take_message().payload});
    else
      out.push_back({step.what, std::string(reader.control_payload())});
    if (step.what == frame_reader::event::failed) break;
  }
  return out;
}

std::uint16_t close_code_in(std::string_view payload) {
  close_payload parsed;
  BOOST_REQUIRE(parse_close_payload(payload, parsed) == tether::error{});
  return parsed.code;
}

constexpr role both_roles[] = {role::server, role::client};

}  // namespace

BOOST_AUTO_TEST_SUITE(close_handshake)

// Either side closes first, or both at once; every step of the states on
// both sides, the codes each one sees, FIN after both close frames, and the
// end of the transport.
BOOST_AUTO_TEST_CASE(from_either_side_and_both_at_once) {
  enum class who { server, client, both };
  for (auto const first : {who::server, who::client, who::both}) {
    BOOST_TEST_CONTEXT("first: " << static_cast<int>(first)) {
      side server(role::server), client(role::client);
      auto& closer = first == who::client ? client : server;
      auto& other = first == who::client ? server : client;

      BOOST_TEST(!closer.s.close(close_code::going_away, "bye", t0));
      closer.act();
      BOOST_TEST((closer.s.current() == state::closing_sent));
      BOOST_TEST(closer.s.write_refusal() == make_error_code(tether::error::closed));
      BOOST_TEST(!closer.s.read_error());  // the peer's messages still come
      if (first == who::both) {
        BOOST_TEST(!other.s.close(close_code::normal, {}, t0));
        other.act();
      }

      exchange(server, client);
      BOOST_TEST((server.s.current() == state::ended));
      BOOST_TEST((client.s.current() == state::ended));
      BOOST_TEST((server.s.error() == tether::error::closed));
      BOOST_TEST((client.s.error() == tether::error::closed));
      BOOST_TEST(!server.reset);
      BOOST_TEST(!client.reset);
      BOOST_TEST(server.fin);
      BOOST_TEST(client.fin);
      BOOST_TEST((other.s.peer_close_code() == close_code::going_away));
      if (first != who::both) {
        BOOST_TEST(other.s.peer_close_reason() == "bye");
        // The answer echoes the code, without the reason.
        BOOST_TEST((closer.s.peer_close_code() == close_code::going_away));
        BOOST_TEST(closer.s.peer_close_reason().empty());
      } else {
        BOOST_TEST((closer.s.peer_close_code() == close_code::normal));
      }
      BOOST_TEST(server.s.read_error() == make_error_code(tether::error::closed));
    }
  }
}

BOOST_AUTO_TEST_CASE(the_receiver_passes_through_closing_received_and_closed) {
  for (auto const r : both_roles) {
    side me(r);
    me.write_room = 0;  // our echo cannot leave yet
    me.receive(from_peer(r, opcode::close, close_body(1000, "done")));
    BOOST_TEST((me.s.current() == state::closing_received));
    BOOST_TEST(me.s.read_error() == make_error_code(tether::error::closed));
    BOOST_TEST(me.s.write_refusal() == make_error_code(tether::error::closed));
    BOOST_TEST(!me.fin);
    me.drain();
    BOOST_TEST((me.s.current() == state::closed));
    BOOST_TEST(me.fin);  // both close frames done: our FIN ends the exchange
    auto const sent = decode(me, me.wire);
    BOOST_REQUIRE(sent.size() == 1u);
    BOOST_TEST(close_code_in(sent[0].payload) == 1000u);
    me.s.transport_ended(make_error_code(boost::asio::error::eof));
    me.act();
    BOOST_TEST((me.s.current() == state::ended));
    BOOST_TEST((me.s.error() == tether::error::closed));
  }
}

// Messages that arrived before the peer's close frame are read first; the
// end of messages comes after them.
BOOST_AUTO_TEST_CASE(messages_before_the_close_frame_are_read_first) {
  for (auto const r : both_roles) {
    side me(r);
    me.receive(from_peer(r, opcode::text, "one") + from_peer(r, opcode::binary, "two") +
               from_peer(r, opcode::close, close_body(1001)) + from_peer(r, opcode::text, "after the close"));
    BOOST_TEST(me.messages() == (std::vector<std::string>{"one", "two"}));
    BOOST_TEST(me.s.read_error() == make_error_code(tether::error::closed));
    BOOST_TEST((me.s.peer_close_code() == close_code::going_away));
  }
}

// Every code an application may send reaches the peer as it was given;
// every code that may not be sent is refused before anything is queued.
BOOST_AUTO_TEST_CASE(every_close_code) {
  std::vector<std::uint16_t> const sendable{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                            1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
  std::vector<std::uint16_t> const refused{0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535};
  for (auto const r : both_roles) {
    for (auto const code : sendable) {
      BOOST_TEST_CONTEXT("role " << static_cast<int>(r) << ", code " << code) {
        side me(r);
        BOOST_TEST(!me.s.close(static_cast<close_code>(code), "why", t0));
        me.act();
        auto const sent = decode(me, me.wire);
        BOOST_REQUIRE(sent.size() == 1u);
        BOOST_TEST((sent[0].what == frame_reader::event::close));
        BOOST_TEST(close_code_in(sent[0].payload) == code);
      }
    }
    for (auto const code : refused) {
      BOOST_TEST_CONTEXT("role " << static_cast<int>(r) << ", code " << code) {
        side me(r);
        BOOST_TEST(me.s.close(static_cast<close_code>(code), {}, t0) ==
                   make_error_code(tether::error::invalid_argument));
        me.act();
        BOOST_TEST(me.wire.empty());
        BOOST_TEST((me.s.current() == state::open));
      }
    }
    side me(r);
    BOOST_TEST(me.s.close(close_code::normal, std::string(124, 'x'), t0) ==
               make_error_code(tether::error::invalid_argument));
    BOOST_TEST(me.s.close(close_code::normal, "\xff", t0) == make_error_code(tether::error::invalid_argument));
  }
}

// What the peer's close frame may carry, and what we answer.
BOOST_AUTO_TEST_CASE(the_peers_close_frame_is_checked) {
  struct row {
    char const* what;
    std::string payload;
    std::uint16_t answer;  // the code of our close frame
    tether::error error;
  };
  std::vector<row> const rows{
      {"empty", "", 1005, tether::error::closed},  // no status: our answer carries none
      {"a code", close_body(4000, "app"), 4000, tether::error::closed},
      {"one byte", std::string(1, '\x03'), 1002, tether::error::protocol_error},
      {"a code that may not be sent", close_body(1005), 1002, tether::error::protocol_error},
      {"a code out of range", close_body(999), 1002, tether::error::protocol_error},
      {"a reason that is not UTF-8", close_body(1000, "\xc3\x28"), 1007, tether::error::invalid_utf8},
  };
  for (auto const r : both_roles) {
    for (auto const& row : rows) {
      BOOST_TEST_CONTEXT(row.what << ", role " << static_cast<int>(r)) {
        side me(r);
        me.receive(from_peer(r, opcode::close, row.payload));
        auto const sent = decode(me, me.wire);
        BOOST_REQUIRE(sent.size() == 1u);
        BOOST_TEST((sent[0].what == frame_reader::event::close));
        if (row.answer == 1005)
          BOOST_TEST(sent[0].payload.empty());
        else
          BOOST_TEST(close_code_in(sent[0].payload) == row.answer);
        BOOST_TEST(me.fin);
        BOOST_TEST((me.s.error() == row.error));
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(protocol_errors)

// Each broken frame fails the session with its own error and close code;
// the close frame goes out, then FIN, and input after it is ignored.
BOOST_AUTO_TEST_CASE(each_rule_has_its_close_code) {
  struct row {
    char const* what;
    std::string (*bytes)(role);
    std::uint16_t code;
    tether::error error;
  };
  std::vector<row> const rows{
      {"masking the wrong way",
       [](role r) { return frame(opcode::text, "x", r == role::client); }, 1002, tether::error::protocol_error},
      {"a reserved opcode",
       [](role r) { return frame(static_cast<opcode>(0x3), "x", r == role::server); }, 1002,
       tether::error::protocol_error},
      {"RSV1 without permessage-deflate",
       [](role r) { return frame(opcode::text, "x", r == role::server, true, 0x40); }, 1002,
       tether::error::protocol_error},
      {"a fragmented ping",
       [](role r) { return frame(opcode::ping, "x", r == role::server, false); }, 1002,
       tether::error::protocol_error},
      {"a ping of 126 bytes",
       [](role r) { return frame(opcode::ping, std::string(126, 'p'), r == role::server); }, 1002,
       tether::error::protocol_error},
      {"a continuation with nothing to continue",
       [](role r) { return frame(opcode::continuation, "x", r == role::server); }, 1002,
       tether::error::protocol_error},
      {"a new message inside a fragmented one",
       [](role r) {
         return frame(opcode::text, "a", r == role::server, false) + frame(opcode::text, "b", r == role::server);
       },
       1002, tether::error::protocol_error},
      {"text that is not UTF-8",
       [](role r) { return frame(opcode::text, "\xc3\x28", r == role::server); }, 1007,
       tether::error::invalid_utf8},
      {"a message over max_message_size",
       [](role r) { return frame(opcode::binary, std::string(2000, 'b'), r == role::server); }, 1009,
       tether::error::message_too_big},
  };
  for (auto const r : both_roles) {
    for (auto const& row : rows) {
      BOOST_TEST_CONTEXT(row.what << ", role " << static_cast<int>(r)) {
        auto options = quiet_timers();
        options.max_message_size = 1000;
        side me(r, options);
        me.receive(row.bytes(r) + from_peer(r, opcode::text, "ignored"));
        BOOST_TEST((me.s.current() == state::failed));
        BOOST_TEST((me.s.error() == row.error));
        BOOST_TEST(me.s.read_error() == make_error_code(row.error));
        BOOST_TEST(me.s.write_refusal() == make_error_code(row.error));
        auto const sent = decode(me, me.wire);
        BOOST_REQUIRE(sent.size() == 1u);
        BOOST_TEST(close_code_in(sent[0].payload) == row.code);
        BOOST_TEST(me.fin);
        BOOST_TEST(!me.s.take_message().has_value());
        me.receive(from_peer(r, opcode::close, close_body(1000)));  // ignored too
        BOOST_TEST((me.s.current() == state::failed));
        me.s.transport_ended(make_error_code(boost::asio::error::eof));
        me.act();
        BOOST_TEST((me.s.current() == state::ended));
        BOOST_TEST((me.s.error() == row.error));
      }
    }
  }
}

// Input split at every byte gives the same messages as in one piece.
BOOST_AUTO_TEST_CASE(input_split_anywhere) {
  for (auto const r : both_roles) {
    std::string const bytes = from_peer(r, opcode::text, "first") + from_peer(r, opcode::ping, "p") +
                              from_peer(r, opcode::binary, std::string(300, 'b')) +
                              from_peer(r, opcode::text, "frag", false) +
                              from_peer(r, opcode::continuation, "mented");
    for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
      side me(r);
      me.receive(bytes.substr(0, cut));
      me.receive(bytes.substr(cut));
      BOOST_TEST(me.messages() == (std::vector<std::string>{"first", std::string(300, 'b'), "fragmented"}));
      auto const sent = decode(me, me.wire);
      BOOST_REQUIRE(sent.size() == 1u);
      BOOST_TEST((sent[0].what == frame_reader::event::pong));
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(timeouts)

// Each timer, its deadline, what happens when it passes, and what a timely
// peer does to it.
BOOST_AUTO_TEST_CASE(keep_alive_ping_and_pong) {
  for (auto const r : both_roles) {
    auto o = quiet_timers();
    o.ping_interval = 10s;
    o.pong_timeout = 5s;
    side me(r, o);
    BOOST_TEST((me.s.deadline() == t0 + 10s));
    me.s.timer_fired(t0 + 9s);  // early: nothing is due
    me.act();
    BOOST_TEST(me.wire.empty());
    me.s.timer_fired(t0 + 10s);
    me.act();
    auto sent = decode(me, std::exchange(me.wire, {}));
    BOOST_REQUIRE(sent.size() == 1u);
    BOOST_TEST((sent[0].what == frame_reader::event::ping));
    BOOST_TEST((me.s.deadline() == t0 + 15s));
    me.receive(from_peer(r, opcode::pong, ""), t0 + 12s);
    BOOST_TEST((me.s.deadline() == t0 + 22s));  // the next ping, from the pong
    me.s.timer_fired(t0 + 22s);
    me.act();
    BOOST_TEST(decode(me, std::exchange(me.wire, {})).size() == 1u);
    me.s.timer_fired(t0 + 27s);  // no pong this time
    me.act();
    BOOST_TEST((me.s.current() == state::ended));
    BOOST_TEST((me.s.error() == tether::error::pong_timeout));
    BOOST_TEST(me.ended);
    BOOST_TEST(me.wire.empty());  // a dead peer gets no close frame
  }
}

BOOST_AUTO_TEST_CASE(each_timer_ends_the_session_its_own_way) {
  struct row {
    char const* what;
    void (*configure)(websocket_options&);
    void (*provoke)(side&);       // at t0
    std::chrono::milliseconds at;  // when the timer fires
    std::uint16_t close_sent;     // 0: no close frame
    state after;
    tether::error error;
    bool reset;
  };
  std::vector<row> const rows{
      {"idle_timeout", [](websocket_options& o) { o.idle_timeout = 20s; }, [](side&) {}, 20s, 1001, state::failed,
       tether::error::idle_timeout, false},
      {"message_timeout",
       [](websocket_options& o) { o.message_timeout = 30s; },
       [](side& me) { me.receive(from_peer(me.local, opcode::text, "part", false)); }, 30s, 1008, state::failed,
       tether::error::message_timeout, false},
      {"message_timeout, header split",
       [](websocket_options& o) { o.message_timeout = 30s; },
       [](side& me) { me.receive(from_peer(me.local, opcode::text, "x").substr(0, 1)); }, 30s, 1008,
       state::failed, tether::error::message_timeout, false},
      {"close_timeout",
       [](websocket_options& o) { o.close_timeout = 5s; },
       [](side& me) {
         (void)me.s.close(close_code::normal, {}, t0);
         me.act();
         me.wire.clear();
       },
       5s, 0, state::ended, tether::error::close_timeout, false},
      {"send_timeout",
       [](websocket_options& o) { o.send_timeout = 30s; },
       [](side& me) {
         me.write_room = 0;
         me.s.send("stuck", message_kind::text, t0);
         me.act();
       },
       30s, 0, state::ended, tether::error::too_slow, true},
  };
  for (auto const r : both_roles) {
    for (auto const& row : rows) {
      BOOST_TEST_CONTEXT(row.what << ", role " << static_cast<int>(r)) {
        auto o = quiet_timers();
        row.configure(o);
        side me(r, o);
        row.provoke(me);
        BOOST_TEST((me.s.deadline() == t0 + row.at));
        me.s.timer_fired(t0 + row.at - 1ms);
        me.act();
        BOOST_TEST((me.s.current() != state::ended));
        BOOST_TEST((me.s.error() == tether::error{}));
        me.s.timer_fired(t0 + row.at);
        me.act();
        BOOST_TEST((me.s.current() == row.after));
        BOOST_TEST((me.s.error() == row.error));
        BOOST_TEST(me.reset == row.reset);
        auto const sent = decode(me, me.wire);
        if (row.close_sent == 0) {
          BOOST_TEST(sent.empty());
        } else {
          BOOST_REQUIRE(sent.size() == 1u);
          BOOST_TEST(close_code_in(sent[0].payload) == row.close_sent);
        }
      }
    }
  }
}

// A message completed forgets its deadline; progress on the next one
// starts a new one; a dripped byte does not move it.
BOOST_AUTO_TEST_CASE(message_deadline_runs_from_the_first_byte) {
  auto o = quiet_timers();
  o.message_timeout = 30s;
  side me(role::server, o);
  std::string const first = from_peer(role::server, opcode::binary, std::string(100, 'a'));
  me.receive(first.substr(0, 50), t0);
  BOOST_TEST((me.s.deadline() == t0 + 30s));
  me.receive(first.substr(50, 10), t0 + 20s);  // a drip
  BOOST_TEST((me.s.deadline() == t0 + 30s));
  me.receive(first.substr(60) + from_peer(role::server, opcode::text, "next").substr(0, 3), t0 + 25s);
  BOOST_TEST((me.s.deadline() == t0 + 25s + 30s));
  BOOST_TEST(me.messages().size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(back_pressure)

BOOST_AUTO_TEST_CASE(write_queue_counts_the_message_being_added) {
  auto o = quiet_timers();
  o.max_write_queue = 100;
  side me(role::server, o);
  me.write_room = 0;
  BOOST_TEST(me.s.write_fits(1000));  // an empty queue takes any one message
  me.s.send(std::string(60, 'a'), message_kind::binary, t0);
  me.act();
  BOOST_TEST(me.s.queued_bytes() == 60u);
  BOOST_TEST(me.s.write_fits(40));
  BOOST_TEST(!me.s.write_fits(41));
  me.s.writer_waits();
  me.drain();
  BOOST_TEST(me.s.queued_bytes() == 0u);
  BOOST_TEST(me.writer_wakes == 1u);  // room wakes one waiting writer
  me.s.writer_woke();
}

BOOST_AUTO_TEST_CASE(a_change_of_state_wakes_every_writer) {
  for (auto const r : both_roles) {
    side me(r);
    me.s.writer_waits();
    me.s.writer_waits();
    me.receive(from_peer(r, opcode::close, close_body(1000)));
    BOOST_TEST(me.all_wakes >= 1u);
    BOOST_TEST(me.s.write_refusal() == make_error_code(tether::error::closed));
  }
}

// A full inbox stops parsing; what was read is set aside, not lost, and
// parsed once read() made room.
BOOST_AUTO_TEST_CASE(a_full_inbox_sets_input_aside) {
  for (auto const r : both_roles) {
    side me(r, inbox_for_two());
    me.receive(numbered_messages(r, 10));
    BOOST_TEST(me.s.inbox_bytes() >= 200u);
    BOOST_TEST((me.s.wanted_input() == session::input::none));
    std::vector<std::string> got;
    for (int guard = 0; guard < 100 && got.size() < 10; ++guard) {
      auto msg = me.s.take_message();
      BOOST_REQUIRE(msg.has_value());
      got.push_back(msg->payload);
      me.act();
      if (me.s.wanted_input() == session::input::parse_set_aside) {
        me.s.resume();
        me.act();
      }
    }
    BOOST_REQUIRE(got.size() == 10u);
    for (int i = 0; i < 10; ++i) BOOST_TEST(got[i] == numbered_payload(i));
    BOOST_TEST(me.read_again >= 1u);
    BOOST_TEST((me.s.wanted_input() == session::input::read));
  }
}

// read_batch()'s taking: everything in the inbox at once, in order, the
// inbox's room traded for an empty vector's or appended to a full one, and
// a full inbox lets parsing go on.
BOOST_AUTO_TEST_CASE(taking_every_message_empties_a_full_inbox_in_order) {
  for (auto const r : both_roles) {
    side me(r, inbox_for_two());
    me.receive(numbered_messages(r, 4));
    BOOST_TEST((me.s.wanted_input() == session::input::none));  // full after two
    std::vector<message> into;
    me.s.take_messages(into);
    BOOST_REQUIRE(into.size() == 2u);
    BOOST_TEST(into[0].payload == numbered_payload(0));
    BOOST_TEST(into[1].payload == numbered_payload(1));
    BOOST_TEST(!me.s.has_message());
    BOOST_TEST(me.s.inbox_bytes() == 0u);
    me.act();
    BOOST_TEST(me.read_again >= 1u);
    BOOST_REQUIRE((me.s.wanted_input() == session::input::parse_set_aside));
    me.s.resume();
    me.act();
    me.s.take_messages(into);  // appended after the two
    BOOST_REQUIRE(into.size() == 4u);
    BOOST_TEST(into[2].payload == numbered_payload(2));
    BOOST_TEST(into[3].payload == numbered_payload(3));
    me.s.take_messages(into);  // nothing more: unchanged
    BOOST_TEST(into.size() == 4u);
    BOOST_TEST((me.s.wanted_input() == session::input::read));
  }
}

// Reads may be as large as the thread's buffer, yet input set aside stays
// within 64 KiB and a header: a read may bring at most that beyond the
// frame that is arriving.
BOOST_AUTO_TEST_CASE(reads_are_limited_so_that_input_set_aside_stays_small) {
  for (auto const r : both_roles) {
    auto o = quiet_timers();
    o.max_read_queue = 1000;
    o.max_message_size = 4 << 20;
    side me(r, o);
    std::size_t const between = session::max_set_aside + max_header_size;
    BOOST_TEST(me.s.read_limit() == between);
    // A 1 MiB frame has begun: the rest of it may come in one read.
    std::string const big = from_peer(r, opcode::binary, std::string(1 << 20, 'b'));
    me.receive(big.substr(0, 5000));
    BOOST_TEST(me.s.read_limit() == big.size() - 5000 + between);
    // Such a read ends the frame and brings small messages that fill the
    // inbox: what is set aside is parsed later, in order, nothing lost.
    std::string small;
    while (small.size() < session::max_set_aside) small += from_peer(r, opcode::binary, std::string(100, 's'));
    std::string const read = (big.substr(5000) + small).substr(0, me.s.read_limit());
    std::size_t const small_read = read.size() - (big.size() - 5000);
    me.receive(read);
    BOOST_TEST((me.s.wanted_input() == session::input::none));
    BOOST_TEST(me.s.unparsed_bytes() > 0u);
    BOOST_TEST(me.s.unparsed_bytes() <= session::max_set_aside + max_header_size);
    std::size_t got = 0;
    for (int guard = 0; guard < 10000 && (me.s.wanted_input() != session::input::read || me.s.inbox_bytes() > 0);
         ++guard) {
      while (auto msg = me.s.take_message()) {
        BOOST_TEST((got == 0 ? msg->payload.size() == (1u << 20) : msg->payload == std::string(100, 's')));
        ++got;
      }
      me.act();
      if (me.s.wanted_input() == session::input::parse_set_aside) {
        me.s.resume();
        me.act();
      }
    }
    std::size_t const small_frame = from_peer(r, opcode::binary, std::string(100, 's')).size();
    BOOST_TEST(got == 1 + small_read / small_frame);
    BOOST_TEST(me.s.read_limit() >= between);  // the cut may fall inside a small frame
    BOOST_TEST(me.s.read_limit() <= between + 100);
  }
}

// After our close frame the peer's answer is read past a full inbox.
BOOST_AUTO_TEST_CASE(closing_reads_past_a_full_inbox) {
  auto o = quiet_timers();
  o.max_read_queue = 100;
  side me(role::server, o);
  me.receive(from_peer(role::server, opcode::binary, std::string(150, 'x')));
  BOOST_TEST((me.s.wanted_input() == session::input::none));
  BOOST_TEST(!me.s.close(close_code::normal, {}, t0));
  me.act();
  BOOST_TEST((me.s.wanted_input() == session::input::read));
  me.receive(from_peer(role::server, opcode::binary, "dropped") + from_peer(role::server, opcode::close, close_body(1000)));
  BOOST_TEST((me.s.current() == state::closed));
  BOOST_TEST(me.messages().size() == 1u);  // the one before our close; the rest nobody reads
}

// A hub's published messages: drop_oldest makes room, close_policy closes
// with 1008 behind what is being written, drop_newest keeps the queue.
BOOST_AUTO_TEST_CASE(published_messages_follow_the_overflow_policy) {
  auto o = quiet_timers();
  o.max_write_queue = 100;
  std::size_t dropped = 0;
  {
    side me(role::server, o);
    me.write_room = 0;
    for (int i = 0; i < 3; ++i)
      BOOST_TEST((me.s.deliver(nullptr, std::string(40, 'a'), message_kind::binary, overflow::drop_oldest, dropped,
                               t0) == session::delivery::queued));
    BOOST_TEST(dropped == 1u);
    BOOST_TEST(me.s.queued_bytes() <= 100u);
  }
  {
    side me(role::server, o);
    me.write_room = 0;
    (void)me.s.deliver(nullptr, std::string(80, 'a'), message_kind::binary, overflow::drop_newest, dropped, t0);
    BOOST_TEST((me.s.deliver(nullptr, std::string(40, 'b'), message_kind::binary, overflow::drop_newest, dropped,
                             t0) == session::delivery::dropped));
  }
  {
    side me(role::server, o);
    me.write_room = 10;  // the first message is then on its way, in part
    (void)me.s.deliver(nullptr, std::string(80, 'a'), message_kind::binary, overflow::close_policy, dropped, t0);
    me.act();
    BOOST_TEST((me.s.deliver(nullptr, std::string(40, 'b'), message_kind::binary, overflow::close_policy, dropped,
                             t0) == session::delivery::closed));
    BOOST_TEST((me.s.error() == tether::error::too_slow));
    me.drain();
    auto const sent = decode(me, me.wire);
    BOOST_REQUIRE(sent.size() == 2u);  // the message in flight, then the close frame
    BOOST_TEST(close_code_in(sent[1].payload) == 1008u);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(ping_pong)

BOOST_AUTO_TEST_CASE(each_ping_gets_its_pong_up_to_a_bound) {
  for (auto const r : both_roles) {
    side me(r);
    me.receive(from_peer(r, opcode::ping, "hello"));
    auto sent = decode(me, std::exchange(me.wire, {}));
    BOOST_REQUIRE(sent.size() == 1u);
    BOOST_TEST((sent[0].what == frame_reader::event::pong));
    BOOST_TEST(sent[0].payload == "hello");

    // A flood against a peer that does not read: at most 32 pongs wait,
    // plus the batch already on its way.
    me.write_room = 0;
    for (int i = 0; i < 1000; ++i) me.receive(from_peer(r, opcode::ping, std::to_string(i)));
    me.drain();
    sent = decode(me, me.wire);
    BOOST_TEST(sent.size() <= 33u);
    BOOST_TEST(sent.size() >= 32u);
    BOOST_TEST(sent.back().payload == "999");  // the newest is answered
  }
}

BOOST_AUTO_TEST_CASE(application_pings) {
  for (auto const r : both_roles) {
    side me(r);
    BOOST_TEST(me.s.ping(std::string(126, 'p'), t0) == make_error_code(tether::error::invalid_argument));
    BOOST_TEST(!me.s.ping(std::string(125, 'p'), t0));
    me.act();
    auto const sent = decode(me, std::exchange(me.wire, {}));
    BOOST_REQUIRE(sent.size() == 1u);
    BOOST_TEST((sent[0].what == frame_reader::event::ping));
    BOOST_TEST(!me.s.close(close_code::normal, {}, t0));
    BOOST_TEST(me.s.ping("late", t0) == make_error_code(tether::error::closed));
    me.act();
    // After our close frame, a ping from the peer is not answered.
    me.wire.clear();
    me.receive(from_peer(r, opcode::ping, "x"));
    BOOST_TEST(me.wire.empty());
  }
}

// Control frames go ahead of queued data; data keeps its order.
BOOST_AUTO_TEST_CASE(control_frames_go_first) {
  side me(role::server);
  me.write_room = 0;
  me.s.send("a", message_kind::text, t0);
  me.s.send("b", message_kind::text, t0);
  (void)me.s.ping("p", t0);
  me.act();
  me.drain();
  auto const sent = decode(me, me.wire);
  BOOST_REQUIRE(sent.size() == 3u);
  BOOST_TEST((sent[0].what == frame_reader::event::ping));
  BOOST_TEST(sent[1].payload == "a");
  BOOST_TEST(sent[2].payload == "b");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(messages)

// Both roles talk to each other through the wire, partial writes included.
BOOST_AUTO_TEST_CASE(round_trip_through_partial_writes) {
  side server(role::server), client(role::client);
  std::vector<std::string> sent;
  for (int i = 0; i < 50; ++i) sent.push_back(std::string(static_cast<std::size_t>(i * 37), static_cast<char>('a' + i % 26)));
  for (std::size_t room : {std::size_t{1}, std::size_t{7}, std::size_t{1000}}) {
    client.write_room = room;
    for (auto const& m : sent) client.s.send(m, message_kind::binary, t0);
    client.act();
    for (int guard = 0; guard < 100000 && client.s.queued_bytes() > 0; ++guard) {
      client.write_room = room;
      client.flush(t0);
      client.act();
      exchange(client, server);
    }
    exchange(client, server);
    BOOST_TEST(server.messages() == sent);
  }
}

// Small frames leave in one buffer (fewer buffers per write: measured
// faster); a large one keeps its own, in order, and the queue counts
// payloads alone.
BOOST_AUTO_TEST_CASE(small_frames_leave_together_in_order) {
  for (auto const r : both_roles) {
    side me(r), peer(r == role::server ? role::client : role::server);
    std::vector<std::string> const sent{"one", "two", "three", std::string(2000, 'L'), "four", ""};
    std::size_t payloads = 0;
    for (auto const& m : sent) {
      me.s.send(m, message_kind::text, t0);
      payloads += m.size();
    }
    BOOST_TEST(me.s.queued_bytes() == payloads);
    auto const out = me.s.output();
    // A run, the large frame's header and payload, a run.
    BOOST_TEST_REQUIRE(out.size() == 4u);
    BOOST_TEST(out[1].size() <= max_header_size);
    BOOST_TEST(out[2].size() == 2000u);
    std::size_t total = 0;
    for (auto const& b : out) {
      me.wire.append(static_cast<char const*>(b.data()), b.size());
      total += b.size();
    }
    me.s.wrote(total, t0);
    me.act();
    BOOST_TEST(me.s.queued_bytes() == 0u);
    exchange(me, peer);
    BOOST_TEST(peer.messages() == sent);
  }
}

BOOST_AUTO_TEST_CASE(text_must_be_utf8) {
  BOOST_TEST(session::check_payload("\xff", message_kind::text) == make_error_code(tether::error::invalid_utf8));
  BOOST_TEST(!session::check_payload("\xff", message_kind::binary));
  BOOST_TEST(!session::check_payload("caf\xc3\xa9", message_kind::text));
}

BOOST_AUTO_TEST_CASE(a_transport_that_ends_ends_everything) {
  for (auto const r : both_roles) {
    side me(r);
    me.s.writer_waits();
    me.s.transport_ended(make_error_code(boost::asio::error::connection_reset));
    me.act();
    BOOST_TEST((me.s.current() == state::ended));
    BOOST_TEST((me.s.error() == tether::error::connection_lost));
    BOOST_TEST(me.ended);
    BOOST_TEST(me.all_wakes == 1u);
    BOOST_TEST(me.s.read_error() == make_error_code(tether::error::connection_lost));
    BOOST_TEST((me.s.deadline() == time_point::max()));
  }
}

BOOST_AUTO_TEST_SUITE_END()
