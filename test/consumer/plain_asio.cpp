// A file of the consumer's own that knows nothing of Tether: header-only
// Asio, built in a library without Tether's dependency or flags. Linked
// into the same program as Tether, it must still link and run.
#include "plain_asio.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <istream>
#include <iterator>

namespace net = boost::asio;
using net::ip::tcp;

std::string plain_asio_get(unsigned short port) {
  net::io_context ctx;
  tcp::socket socket(ctx);
  boost::system::error_code ec;
  socket.connect({net::ip::make_address("127.0.0.1"), port}, ec);
  if (ec) return "error: connect: " + ec.message();
  std::string const request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  net::write(socket, net::buffer(request), ec);
  if (ec) return "error: write: " + ec.message();
  net::streambuf answer;
  net::read(socket, answer, ec);
  if (ec && ec != net::error::eof) return "error: read: " + ec.message();
  std::string const text{std::istreambuf_iterator<char>(&answer), {}};
  auto const body = text.find("\r\n\r\n");
  return body == std::string::npos ? "error: no body in: " + text : text.substr(body + 4);
}
