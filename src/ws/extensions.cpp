#include "ws/extensions.hpp"

#include "ws/handshake.hpp"

#include <algorithm>
#include <optional>
#include <vector>

namespace tether::detail {

namespace {

struct parameter {
  std::string name;
  std::optional<std::string> value;
};

struct extension {
  std::string name;
  std::vector<parameter> params;
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits on `separator` outside quoted strings.
std::vector<std::string_view> split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  std::size_t begin = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') quoted = !quoted;
    else if (s[i] == '\\' && quoted) ++i;
    else if (s[i] == separator && !quoted) {
      parts.push_back(trim(s.substr(begin, i - begin)));
      begin = i + 1;
    }
  }
  parts.push_back(trim(s.substr(std::min(begin, s.size()))));
  return parts;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// RFC 6455 9.1 grammar, forgivingly: empty elements are skipped.
std::vector<extension> parse_extensions(std::string_view header) {
  std::vector<extension> out;
  for (auto element : split(header, ',')) {
    if (element.empty()) continue;
    auto pieces = split(element, ';');
    extension ext{lower(pieces.front()), {}};
    for (std::size_t i = 1; i < pieces.size(); ++i) {
      auto const piece = pieces[i];
      if (piece.empty()) continue;
      auto const eq = piece.find('=');
      parameter p{lower(trim(piece.substr(0, eq))), std::nullopt};
      if (eq != std::string_view::npos) {
        auto value = trim(piece.substr(eq + 1));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        p.value = std::string(value);
      }
      ext.params.push_back(std::move(p));
    }
    out.push_back(std::move(ext));
  }
  return out;
}

std::optional<int> window_bits(std::string const& text) {
  if (text.size() == 1 && text[0] == '8') return 8;
  if (text.size() == 1 && text[0] == '9') return 9;
  if (text.size() == 2 && text[0] == '1' && text[1] >= '0' && text[1] <= '5') return 10 + (text[1] - '0');
  return std::nullopt;
}

// The parameters of one permessage-deflate element; nothing when one is
// unknown, repeated or has a bad value.
struct deflate_params {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::optional<int> server_max_window_bits;
  bool client_max_window_bits = false;  // present, with or without a value
  std::optional<int> client_max_window_bits_value;
};

std::optional<deflate_params> read_params(extension const& ext, bool answer) {
  deflate_params p;
  std::vector<std::string> seen;
  for (auto const& param : ext.params) {
    if (std::find(seen.begin(), seen.end(), param.name) != seen.end()) return std::nullopt;
    seen.push_back(param.name);
    if (param.name == "server_no_context_takeover" || param.name == "client_no_context_takeover") {
      if (param.value) return std::nullopt;
      (param.name[0] == 's' ? p.server_no_context_takeover : p.client_no_context_takeover) = true;
    } else if (param.name == "server_max_window_bits") {
      if (!param.value || !(p.server_max_window_bits = window_bits(*param.value))) return std::nullopt;
    } else if (param.name == "client_max_window_bits") {
      p.client_max_window_bits = true;
      if (param.value && !(p.client_max_window_bits_value = window_bits(*param.value))) return std::nullopt;
      if (answer && !param.value) return std::nullopt;  // an answer must give the value
    } else {
      return std::nullopt;
    }
  }
  return p;
}

int clamp_bits(int bits) { return std::clamp(bits, 9, 15); }

}  // namespace

std::string answer_deflate_offer(std::string_view offers, compression_options const& ours, deflate_agreement& out) {
  out = {};
  if (!ours.enabled) return {};
  int const our_bits = clamp_bits(ours.window_bits);
  for (auto const& offer : parse_extensions(offers)) {
    if (offer.name != "permessage-deflate") continue;
    auto const p = read_params(offer, false);
    if (!p) continue;  // a broken offer is declined; the next one may do
    deflate_agreement a;
    a.on = true;
    std::string answer = "permessage-deflate";
    a.send_reset = !ours.context_takeover || p->server_no_context_takeover;
    if (a.send_reset) answer += "; server_no_context_takeover";
    // The client's own hint is taken up too: the promise then lets us
    // inflate with the shared stream.
    a.receive_reset = !ours.context_takeover || p->client_no_context_takeover;
    if (a.receive_reset) answer += "; client_no_context_takeover";
    a.send_window_bits = std::min(our_bits, p->server_max_window_bits.value_or(15));
    if (p->server_max_window_bits || a.send_window_bits < 15)
      answer += "; server_max_window_bits=" + std::to_string(a.send_window_bits);
    if (p->client_max_window_bits) {
      int const offered = p->client_max_window_bits_value.value_or(15);
      a.receive_window_bits = std::min(offered, our_bits);
      if (a.receive_window_bits < offered) answer += "; client_max_window_bits=" + std::to_string(a.receive_window_bits);
    }
    out = a;
    return answer;
  }
  return {};
}

std::string make_deflate_offer(compression_options const& ours) {
  if (!ours.enabled) return {};
  std::string offer = "permessage-deflate";
  if (!ours.context_takeover) offer += "; server_no_context_takeover; client_no_context_takeover";
  int const bits = clamp_bits(ours.window_bits);
  if (bits < 15) offer += "; server_max_window_bits=" + std::to_string(bits);
  offer += "; client_max_window_bits";  // the server may limit our window
  return offer;
}

bool accept_deflate_answer(std::string_view answer, compression_options const& ours, deflate_agreement& out,
                           std::string& why) {
  out = {};
  if (trim(answer).empty()) return true;
  auto const extensions = parse_extensions(answer);
  if (!ours.enabled) {
    why = "the server enabled an extension that was not offered";
    return false;
  }
  if (extensions.size() != 1 || extensions.front().name != "permessage-deflate") {
    why = "the server answered with extensions that were not offered: " + std::string(answer);
    return false;
  }
  auto const p = read_params(extensions.front(), true);
  if (!p) {
    why = "the server's permessage-deflate parameters are not valid: " + std::string(answer);
    return false;
  }
  int const bits = clamp_bits(ours.window_bits);
  if (!ours.context_takeover && !p->server_no_context_takeover) {
    why = "the server ignored our server_no_context_takeover";
    return false;
  }
  if (bits < 15 && (!p->server_max_window_bits || *p->server_max_window_bits > bits)) {
    why = "the server ignored our server_max_window_bits=" + std::to_string(bits);
    return false;
  }
  deflate_agreement a;
  a.on = true;
  a.receive_reset = p->server_no_context_takeover;
  a.receive_window_bits = p->server_max_window_bits.value_or(15);
  a.send_reset = !ours.context_takeover || p->client_no_context_takeover;
  // A smaller window than the server allows is always fine, and saves
  // memory with context takeover.
  a.send_window_bits = std::min(p->client_max_window_bits_value.value_or(15), bits);
  out = a;
  return true;
}

}  // namespace tether::detail
