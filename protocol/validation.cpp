#include "protocol/validation.hpp"

#include <string>

namespace chatagent::protocol {

namespace {

bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool valid_domain(std::string_view d) noexcept {
  if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos)
    return false;
  size_t start = 0;
  while (start <= d.size()) {
    auto end = d.find('.', start);
    if (end == std::string_view::npos)
      end = d.size();
    auto label = d.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-')
        return false;
    start = end + 1;
  }
  // The top-level label is not all digits (rules out "a@1.2.3.4"-style typos).
  auto tld = d.substr(d.rfind('.') + 1);
  for (char c : tld)
    if (!(c >= '0' && c <= '9'))
      return true;
  return false;
}

} // namespace

void append_utf8(std::string& out, char32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t utf8_length(std::string_view s) noexcept {
  size_t count = 0;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    if (c < 0x80)
      len = 1;
    else if ((c >> 5) == 0x6)
      len = 2;
    else if ((c >> 4) == 0xE)
      len = 3;
    else if ((c >> 3) == 0x1E)
      len = 4;
    else
      return std::string_view::npos;
    if (i + len > s.size())
      return std::string_view::npos;
    for (size_t j = 1; j < len; ++j)
      if ((static_cast<unsigned char>(s[i + j]) >> 6) != 0x2)
        return std::string_view::npos;
    i += len;
    ++count;
  }
  return count;
}

std::string to_lower_ascii(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string check_username(std::string_view s) {
  if (s.size() < account_limits::username_min || s.size() > account_limits::username_max)
    return "must be 3 to 32 characters long";
  for (char c : s)
    if (!is_alnum(c) && c != '_' && c != '-')
      return "may contain only letters, digits, '_' and '-'";
  return {};
}

std::string check_email(std::string_view s) {
  if (s.empty() || s.size() > account_limits::email_max)
    return "must be a valid email address of at most 254 characters";
  auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || s.find('@', at + 1) != std::string_view::npos)
    return "must be a valid email address";
  auto local = s.substr(0, at);
  if (local.size() > 64 || local.front() == '.' || local.back() == '.')
    return "must be a valid email address";
  for (char c : local) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || c == '(' || c == ')' || c == ',' || c == ':' || c == ';' ||
        c == '<' || c == '>' || c == '[' || c == ']' || c == '\\' || c == '"')
      return "must be a valid email address";
  }
  if (!valid_domain(s.substr(at + 1)))
    return "must be a valid email address";
  return {};
}

std::string check_password(std::string_view s) {
  auto n = utf8_length(s);
  if (n == std::string_view::npos)
    return "must be valid UTF-8";
  if (n < account_limits::password_min || n > account_limits::password_max)
    return "must be 8 to 128 characters long";
  return {};
}

std::string check_nickname(std::string_view s) {
  auto n = utf8_length(s);
  if (n == std::string_view::npos)
    return "must be valid UTF-8";
  if (n == 0 || n > account_limits::nickname_max)
    return "must be 1 to 64 characters long";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F)
      return "must not contain control characters";
  }
  return {};
}

} // namespace chatagent::protocol
