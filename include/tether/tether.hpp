#pragma once
// Everything a Tether application needs.

#include <tether/backoff.hpp>
#include <tether/client.hpp>
#include <tether/close_code.hpp>
#include <tether/error.hpp>
#include <tether/failure.hpp>
#include <tether/hub.hpp>
#include <tether/logger.hpp>
#include <tether/message.hpp>
#include <tether/options.hpp>
#include <tether/origin.hpp>
#include <tether/reconnect.hpp>
#include <tether/redis.hpp>
#include <tether/request.hpp>
#include <tether/response.hpp>
#include <tether/route_pattern.hpp>
#include <tether/router.hpp>
#include <tether/server.hpp>
#include <tether/tls.hpp>
#include <tether/token.hpp>
#include <tether/websocket.hpp>
