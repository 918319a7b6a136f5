// Handshake helpers and router setup rules.
#define BOOST_TEST_MODULE handshake
#include <boost/test/unit_test.hpp>

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
