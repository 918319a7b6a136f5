// websocketpp (Debian's libwebsocketpp-dev) as a single-threaded echo
// server on its Asio transport, for bench/run.  websocketpp_echo PORT
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cstdlib>

using server = websocketpp::server<websocketpp::config::asio>;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  server s;
  s.clear_access_channels(websocketpp::log::alevel::all);
  s.clear_error_channels(websocketpp::log::elevel::all);
  s.init_asio();
  s.set_reuse_addr(true);
  s.set_max_message_size(64 << 20);
  // Like every server measured here: no Nagle delay on small echoes.
  s.set_tcp_post_init_handler([&s](websocketpp::connection_hdl hdl) {
    boost::system::error_code ignored;
    s.get_con_from_hdl(hdl)->get_socket().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  });
  s.set_message_handler([&s](websocketpp::connection_hdl hdl, server::message_ptr msg) {
    websocketpp::lib::error_code ignored;
    s.send(hdl, msg->get_payload(), msg->get_opcode(), ignored);
  });
  s.listen(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                          static_cast<unsigned short>(std::atoi(argv[1]))));
  s.start_accept();
  s.run();
}
