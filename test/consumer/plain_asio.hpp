#pragma once
#include <string>

// Answers the body of GET / from 127.0.0.1:port, or "error: ...".
std::string plain_asio_get(unsigned short port);
