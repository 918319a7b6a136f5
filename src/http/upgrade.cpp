#include "http/upgrade.hpp"

#include "http/http_message.hpp"
#include "http/refusal_log.hpp"
#include "ws/handshake.hpp"

namespace http = boost::beast::http;

namespace tether::detail {

upgrade_verdict judge_upgrade(request const& req, unsigned http_version, upgrade_terms const& terms) {
  upgrade_verdict verdict;
  if (auto const bad = check_upgrade_request(req.method, http_version, req.header("Connection"),
                                             req.header("Sec-WebSocket-Version"), req.header("Sec-WebSocket-Key"))) {
    verdict.refusal = refusal(bad->status, std::string(bad->reason));
    if (bad->offer_version) verdict.refusal->headers.push_back({"Sec-WebSocket-Version", "13"});
    return verdict;
  }
  auto& agreed = verdict.agreement;
  agreed.subprotocol = choose_subprotocol(req.header("Sec-WebSocket-Protocol"), terms.subprotocols);
  if (agreed.subprotocol.empty() && terms.require_subprotocol) {
    verdict.refusal = refusal(400, "none of the offered subprotocols is supported");
    return verdict;
  }
  verdict.accept_key = accept_key(req.header("Sec-WebSocket-Key"));
  verdict.extensions =
      answer_deflate_offer(req.header("Sec-WebSocket-Extensions"), terms.websocket.compression, agreed.deflate);
  return verdict;
}

http::response<http::string_body> refusal_of(upgrade_verdict& verdict, request const& req, unsigned http_version,
                                             tether::logger const& log, refusal_log& refusals) {
  refusals.report(log, [&] {
    return refusal_sentence(subject_of("WebSocket upgrade", req), verdict.refusal->status,
                            refusal_text(*verdict.refusal));
  });
  return make_http_response(std::move(*verdict.refusal), http_version, false);
}

http::response<http::empty_body> switching_protocols(upgrade_verdict const& verdict) {
  http::response<http::empty_body> res{http::status::switching_protocols, 11};
  res.set(http::field::upgrade, "websocket");
  res.set(http::field::connection, "Upgrade");
  res.set(http::field::sec_websocket_accept, verdict.accept_key);
  if (auto const& subprotocol = verdict.agreement.subprotocol; !subprotocol.empty())
    res.set(http::field::sec_websocket_protocol, subprotocol);
  if (!verdict.extensions.empty()) res.set(http::field::sec_websocket_extensions, verdict.extensions);
  return res;
}

std::shared_ptr<connection> start_websocket(transport&& stream, upgrade_request& up, upgrade_agreement agreed,
                                            std::shared_ptr<connection_settings const> settings,
                                            poller* readiness) {
  connection_config config{role::server, std::move(settings), std::move(agreed.subprotocol), up.req.remote,
                           agreed.deflate};
  config.readiness = readiness;
  auto conn = std::make_shared<connection>(std::move(stream), std::move(config));
  conn->start(std::move(up.early_bytes));
  if (auto const& log = conn->log(); log.enabled(log_level::debug))
    log.log(log_level::debug, conn->id(), "WebSocket open: " + up.req.remote.to_string() + " " + up.req.target);
  return conn;
}

}  // namespace tether::detail
