#include "protocol/form.hpp"

namespace chatagent::protocol {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::string decode(std::string_view s) {
  std::string r;
  r.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    int hi = 0;
    int lo = 0;
    if (s[i] == '+') {
      r.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && (hi = hex_digit(s[i + 1])) >= 0 &&
               (lo = hex_digit(s[i + 2])) >= 0) {
      r.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      r.push_back(s[i]);
    }
  }
  return r;
}

} // namespace

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view form) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!form.empty()) {
    auto amp = form.find('&');
    auto pair = form.substr(0, amp);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      out.emplace_back(decode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? std::string{} : decode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos)
      break;
    form = form.substr(amp + 1);
  }
  return out;
}

std::string form_value(const std::vector<std::pair<std::string, std::string>>& pairs,
                       std::string_view name) {
  for (auto& [k, v] : pairs)
    if (k == name)
      return v;
  return {};
}

std::string form_escape(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

} // namespace chatagent::protocol
