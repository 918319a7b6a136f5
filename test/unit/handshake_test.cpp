// Handshake helpers and router setup rules.
#define BOOST_TEST_MODULE handshake
#include <boost/test/unit_test.hpp>

#include "http/upgrade.hpp"
#include "ws/handshake.hpp"

#include <tether/router.hpp>

using namespace tether::detail;

BOOST_AUTO_TEST_CASE(accept_key_matches_the_rfc_example) {
  BOOST_TEST(accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

BOOST_AUTO_TEST_CASE(client_keys_are_16_random_bytes_in_base64) {
  auto const a = random_client_key();
  auto const b = random_client_key();
  BOOST_TEST(is_valid_client_key(a));
  BOOST_TEST(a != b);
  BOOST_TEST(!is_valid_client_key(""));
  BOOST_TEST(!is_valid_client_key("dGhlIHNhbXBsZSBub25jZQ="));
  BOOST_TEST(!is_valid_client_key("dGhlIHNhbXBsZSBub25jZR=="));  // stray bits after 16 bytes
  BOOST_TEST(!is_valid_client_key("dGhlIHNhbXBsZSBub25j*Q=="));
}

BOOST_AUTO_TEST_CASE(header_tokens_are_trimmed_and_case_insensitive) {
  BOOST_TEST(has_token("keep-alive, Upgrade", "upgrade"));
  BOOST_TEST(!has_token("keep-alive", "upgrade"));
  BOOST_TEST(split_tokens(" a ,, b,c ").size() == 3u);
}

BOOST_AUTO_TEST_CASE(subprotocol_choice_follows_server_preference) {
  BOOST_TEST(choose_subprotocol("chat, superchat", {"superchat", "chat"}) == "superchat");
  BOOST_TEST(choose_subprotocol("chat", {"superchat"}) == "");
  BOOST_TEST(choose_subprotocol("", {"chat"}) == "");
  BOOST_TEST(choose_subprotocol("Chat", {"chat"}) == "");  // names are case-sensitive
}

namespace {

tether::request asking_to_upgrade(std::vector<tether::header_field> extra = {}) {
  tether::request req;
  req.method = "GET";
  req.target = req.path = "/chat";
  req.headers = {{"Host", "127.0.0.1"}, {"Upgrade", "websocket"}, {"Connection", "keep-alive, Upgrade"},
                 {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Sec-WebSocket-Version", "13"}};
  for (auto& field : extra) req.headers.push_back(std::move(field));
  return req;
}

}  // namespace

// The one decision both tether::server and tether::accept() answer with.
BOOST_AUTO_TEST_CASE(an_upgrade_is_agreed_with_the_first_subprotocol_of_ours_and_deflate_when_offered) {
  std::vector<std::string> const ours{"chat.v2", "chat.v1"};
  tether::websocket_options options;
  options.compression.enabled = true;
  upgrade_terms const terms{ours, false, options};
  auto const verdict = judge_upgrade(
      asking_to_upgrade({{"Sec-WebSocket-Protocol", "chat.v1, chat.v2"}, {"Sec-WebSocket-Extensions", "permessage-deflate"}}),
      11, terms);
  BOOST_TEST(!verdict.refusal);
  BOOST_TEST(verdict.accept_key == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  BOOST_TEST(verdict.agreement.subprotocol == "chat.v2");
  BOOST_TEST(verdict.agreement.deflate.on);
  BOOST_TEST(verdict.extensions.find("permessage-deflate") == 0u);

  auto const plain = judge_upgrade(asking_to_upgrade(), 11, terms);
  BOOST_TEST(!plain.refusal);
  BOOST_TEST(plain.agreement.subprotocol.empty());
  BOOST_TEST(!plain.agreement.deflate.on);
  BOOST_TEST(plain.extensions.empty());
}

BOOST_AUTO_TEST_CASE(an_upgrade_that_breaks_a_rule_is_refused_with_400) {
  std::vector<std::string> const ours{"chat.v1"};
  tether::websocket_options const options;
  upgrade_terms const terms{ours, true, options};
  auto status = [&](tether::request const& req, unsigned version = 11) {
    auto const verdict = judge_upgrade(req, version, terms);
    return verdict.refusal ? verdict.refusal->status : 0;
  };
  BOOST_TEST(status(asking_to_upgrade({{"Sec-WebSocket-Protocol", "chat.v1"}})) == 0);
  BOOST_TEST(status(asking_to_upgrade()) == 400);  // none of our subprotocols, which are required
  auto with = [](std::string_view name, std::string value) {
    auto req = asking_to_upgrade({{"Sec-WebSocket-Protocol", "chat.v1"}});
    tether::header_list changed;
    for (auto const& field : req.headers) changed.append(field.name, field.name == name ? value : field.value);
    req.headers = std::move(changed);
    return req;
  };
  BOOST_TEST(status(with("Connection", "keep-alive")) == 400);
  BOOST_TEST(status(with("Sec-WebSocket-Key", "c2hvcnQ=")) == 400);
  BOOST_TEST(status(with("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")) == 0);
  BOOST_TEST(status(with("Sec-WebSocket-Protocol", "chat.v1"), 10) == 400);
  auto post = with("Sec-WebSocket-Protocol", "chat.v1");
  post.method = "POST";
  BOOST_TEST(status(post) == 400);
  auto const old_version = judge_upgrade(with("Sec-WebSocket-Version", "8"), 11, terms);
  BOOST_TEST_REQUIRE(old_version.refusal.has_value());
  BOOST_TEST(old_version.refusal->status == 400);
  BOOST_TEST(old_version.refusal->headers.size() == 1u);
  BOOST_TEST(old_version.refusal->headers.front().name == "Sec-WebSocket-Version");
  BOOST_TEST(old_version.refusal->headers.front().value == "13");
}

BOOST_AUTO_TEST_CASE(router_misconfiguration_throws_naming_the_route) {
  tether::router app;
  auto page = [](tether::request const&) { return tether::response::text("x"); };
  app.get("/a", page);
  try {
    app.get("/a", page);
    BOOST_FAIL("duplicate route accepted");
  } catch (std::invalid_argument const& e) {
    BOOST_TEST(std::string(e.what()).find("\"/a\"") != std::string::npos);
  }
  BOOST_CHECK_THROW(app.get("no-slash", page), std::invalid_argument);
  BOOST_CHECK_THROW(app.websocket("/ws", {}), std::invalid_argument);
  BOOST_CHECK_THROW(app.websocket("/ws", [](tether::websocket&, tether::request const&) -> boost::asio::awaitable<void> { co_return; },
                                  {.require_subprotocol = true}),
                    std::invalid_argument);
}

// The upgrade request lives as long as its handler: its headers are kept
// in one block of views and text, which must stay right through growth,
// copies and moves.
BOOST_AUTO_TEST_CASE(a_requests_headers_stay_intact_through_growth_copies_and_moves) {
  tether::request req;
  for (int i = 0; i < 40; ++i)
    req.headers.push_back({"X-Field-" + std::to_string(i), std::string(static_cast<std::size_t>(i), 'v')});
  req.headers.append("Sec-WebSocket-Protocol", "chat.v1");
  BOOST_TEST(req.headers.size() == 41u);
  BOOST_TEST(req.header("x-field-39") == std::string(39, 'v'));
  BOOST_TEST(req.header("X-FIELD-0").empty());
  BOOST_TEST(req.has_header("x-field-0"));
  BOOST_TEST(!req.has_header("X-Field-41"));

  tether::request const copy = req;
  req.headers.clear();
  BOOST_TEST(!req.has_header("X-Field-1"));
  BOOST_TEST(copy.headers.size() == 41u);
  BOOST_TEST(copy.header("X-Field-7") == "vvvvvvv");
  BOOST_TEST((copy.subprotocols() == std::vector<std::string_view>{"chat.v1"}));

  tether::request moved = std::move(req);
  moved = copy;
  std::size_t n = 0;
  for (auto const& field : moved.headers) {
    if (n < 40) BOOST_TEST(field.name == "X-Field-" + std::to_string(n));
    ++n;
  }
  BOOST_TEST(n == 41u);
  moved.headers = {{"Host", "127.0.0.1"}, {"Empty", ""}};
  BOOST_TEST(moved.headers.size() == 2u);
  BOOST_TEST(moved.headers.front().value == "127.0.0.1");
  BOOST_TEST(moved.has_header("Empty"));
}

// Appending a list's own field: the views point into the block that
// growing replaces, so the copy must be made before the old block goes.
BOOST_AUTO_TEST_CASE(a_header_list_can_append_its_own_fields) {
  tether::header_list list{{"Host", "example.org"}};
  for (int i = 0; i < 6; ++i) list.append(list[0].name, list[0].value);  // grows on the way
  BOOST_TEST(list.size() == 7u);
  for (auto const& field : list) {
    BOOST_TEST(field.name == "Host");
    BOOST_TEST(field.value == "example.org");
  }
}
