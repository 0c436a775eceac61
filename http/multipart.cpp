#include "http/multipart.hpp"

#include <algorithm>
#include <cctype>

namespace chatagent::http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/// The parameters after the first `;` of a header value: `name=value` or `name="value"`
/// (backslash escapes in quotes), names lower-cased.
std::vector<std::pair<std::string, std::string>> header_params(std::string_view value) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t i = value.find(';');
  while (i != std::string_view::npos && i < value.size()) {
    ++i;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t'))
      ++i;
    auto eq = value.find('=', i);
    if (eq == std::string_view::npos)
      break;
    std::string name;
    for (auto c : trim(value.substr(i, eq - i)))
      name.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    i = eq + 1;
    std::string v;
    if (i < value.size() && value[i] == '"') {
      ++i;
      while (i < value.size() && value[i] != '"') {
        if (value[i] == '\\' && i + 1 < value.size())
          ++i;
        v.push_back(value[i++]);
      }
      i = value.find(';', i);
    } else {
      auto end = value.find(';', i);
      v = std::string{trim(value.substr(i, end == std::string_view::npos ? end : end - i))};
      i = end;
    }
    out.emplace_back(std::move(name), std::move(v));
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// RFC 5987 `charset'lang'percent-encoded`; only UTF-8 (and ASCII) are taken.
std::optional<std::string> decode_ext_value(std::string_view v) {
  auto q1 = v.find('\'');
  auto q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos)
    return std::nullopt;
  auto charset = v.substr(0, q1);
  if (!iequals(charset, "utf-8") && !iequals(charset, "us-ascii"))
    return std::nullopt;
  std::string out;
  for (size_t i = q2 + 1; i < v.size(); ++i) {
    if (v[i] != '%') {
      out.push_back(v[i]);
      continue;
    }
    if (i + 2 >= v.size())
      return std::nullopt;
    int hi = hex_value(v[i + 1]);
    int lo = hex_value(v[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

} // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  auto semi = content_type.find(';');
  if (!iequals(trim(content_type.substr(0, semi)), "multipart/form-data"))
    return std::nullopt;
  for (auto& [name, value] : header_params(content_type))
    if (name == "boundary" && !value.empty() && value.size() <= 70)
      return value;
  return std::nullopt;
}

std::optional<std::vector<form_part>>
parse_multipart(std::string_view body, std::string_view boundary, std::string& error) {
  std::string delimiter = "--" + std::string{boundary};
  // The first delimiter may follow a preamble; later ones follow a CRLF.
  size_t pos = 0;
  if (body.substr(0, delimiter.size()) != delimiter) {
    auto first = body.find("\r\n" + delimiter);
    if (first == std::string_view::npos) {
      error = "the body has no part with the declared boundary";
      return std::nullopt;
    }
    pos = first + 2;
  }
  std::string next_delimiter = "\r\n" + delimiter;
  std::vector<form_part> parts;
  for (;;) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--")
      return parts; // the closing delimiter
    // Transport padding, then CRLF.
    while (pos < body.size() && (body[pos] == ' ' || body[pos] == '\t'))
      ++pos;
    if (body.substr(pos, 2) != "\r\n") {
      error = "a boundary line is not followed by a line break";
      return std::nullopt;
    }
    pos += 2;
    auto headers_end = body.find("\r\n\r\n", pos);
    // A part may have no headers at all: the blank line comes at once.
    if (body.substr(pos, 2) == "\r\n")
      headers_end = pos - 2;
    if (headers_end == std::string_view::npos) {
      error = "a part's headers do not end";
      return std::nullopt;
    }
    form_part part;
    bool disposition = false;
    auto headers = headers_end >= pos ? body.substr(pos, headers_end - pos) : std::string_view{};
    while (!headers.empty()) {
      auto eol = headers.find("\r\n");
      auto line = headers.substr(0, eol);
      headers = eol == std::string_view::npos ? std::string_view{} : headers.substr(eol + 2);
      auto colon = line.find(':');
      if (colon == std::string_view::npos)
        continue;
      auto name = trim(line.substr(0, colon));
      auto value = trim(line.substr(colon + 1));
      if (iequals(name, "content-disposition")) {
        disposition = true;
        std::optional<std::string> extended;
        for (auto& [k, v] : header_params(value)) {
          if (k == "name")
            part.name = v;
          else if (k == "filename")
            part.filename = v;
          else if (k == "filename*")
            extended = decode_ext_value(v);
        }
        if (extended)
          part.filename = *extended;
      } else if (iequals(name, "content-type")) {
        part.content_type = std::string{value};
      }
    }
    if (!disposition || part.name.empty()) {
      error = "a part has no Content-Disposition with a name";
      return std::nullopt;
    }
    auto content = headers_end + 4;
    auto end = body.find(next_delimiter, content);
    if (end == std::string_view::npos) {
      error = "the body ends before its closing boundary";
      return std::nullopt;
    }
    part.body = body.substr(content, end - content);
    parts.push_back(std::move(part));
    pos = end + 2;
  }
}

} // namespace chatagent::http
