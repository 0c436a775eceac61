#include "actors/text_extract.hpp"

#include "protocol/error.hpp"
#include "protocol/validation.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <iconv.h>
#include <memory>
#include <optional>
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>
#include <zip.h>

namespace chatagent::actors {

using protocol::api_error;
using protocol::errc;

namespace {

caf::error bad_file(std::string message) {
  return api_error(errc::validation_error, std::move(message), "file", "unreadable");
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string extension(std::string_view filename) {
  auto dot = filename.rfind('.');
  if (dot == std::string_view::npos || filename.find('/', dot) != std::string_view::npos)
    return {};
  return lower(filename.substr(dot + 1));
}

bool valid_utf8(std::string_view s) {
  return protocol::utf8_length(s) != std::string_view::npos;
}

/// Converts `bytes` from `charset` to UTF-8; nullopt when they are not in that charset.
std::optional<std::string> convert(std::string_view bytes, const char* charset) {
  iconv_t cd = iconv_open("UTF-8", charset);
  if (cd == reinterpret_cast<iconv_t>(-1))
    return std::nullopt;
  std::string out(bytes.size() * 2 + 16, '\0');
  auto* in = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  size_t done = 0;
  bool ok = true;
  while (in_left > 0) {
    char* dst = out.data() + done;
    size_t out_left = out.size() - done;
    auto r = iconv(cd, &in, &in_left, &dst, &out_left);
    done = out.size() - out_left;
    if (r == static_cast<size_t>(-1)) {
      if (errno == E2BIG) {
        out.resize(out.size() * 2);
        continue;
      }
      ok = false;
      break;
    }
  }
  iconv_close(cd);
  if (!ok)
    return std::nullopt;
  out.resize(done);
  return out;
}

caf::expected<std::string> decode_plain(std::string_view bytes) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF")
    bytes.remove_prefix(3);
  else if (bytes.substr(0, 2) == "\xFF\xFE" || bytes.substr(0, 2) == "\xFE\xFF")
    if (auto s = convert(bytes, "UTF-16"))
      return *s;
  if (valid_utf8(bytes)) {
    if (bytes.find('\0') != std::string_view::npos)
      return bad_file("the file is binary, not text");
    return std::string{bytes};
  }
  if (auto s = convert(bytes, "GB18030"))
    return *s;
  return bad_file("the file is not text in UTF-8, UTF-16 or GB18030");
}

/// Decodes the entity at `s[i] == '&'`, appending it; returns the length consumed (0 when
/// it is not an entity, and `&` is then literal).
size_t decode_entity(std::string_view s, size_t i, std::string& out) {
  auto semi = s.find(';', i);
  if (semi == std::string_view::npos || semi - i > 10)
    return 0;
  auto name = s.substr(i + 1, semi - i - 1);
  if (!name.empty() && name[0] == '#') {
    uint32_t cp = 0;
    bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
    auto digits = name.substr(hex ? 2 : 1);
    if (digits.empty())
      return 0;
    for (char c : digits) {
      int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : hex && std::isxdigit(static_cast<unsigned char>(c))
                  ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                  : -1;
      if (d < 0)
        return 0;
      cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
      if (cp > 0x10FFFF)
        cp = 0xFFFD;
    }
    protocol::append_utf8(out, cp);
    return semi - i + 1;
  }
  static const std::pair<std::string_view, std::string_view> named[] = {
      {"amp", "&"},        {"lt", "<"},         {"gt", ">"},          {"quot", "\""},
      {"apos", "'"},       {"nbsp", " "},       {"copy", "\u00a9"},   {"reg", "\u00ae"},
      {"mdash", "\u2014"}, {"ndash", "\u2013"}, {"hellip", "\u2026"}, {"ldquo", "\u201c"},
      {"rdquo", "\u201d"}, {"lsquo", "\u2018"}, {"rsquo", "\u2019"},  {"middot", "\u00b7"}};
  for (auto& [k, v] : named)
    if (name == k) {
      out.append(v);
      return semi - i + 1;
    }
  return 0;
}

/// `s` with its character references decoded.
std::string decode_entities(std::string_view s) {
  std::string out;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '&')
      if (auto n = decode_entity(s, k, out)) {
        k += n - 1;
        continue;
      }
    out.push_back(s[k]);
  }
  return out;
}

/// Collapses runs of spaces within lines and of blank lines; trims.
std::string tidy(std::string_view s) {
  std::string out;
  int newlines = 0;
  bool space = false;
  for (char c : s) {
    if (c == '\r')
      continue;
    if (c == '\n') {
      ++newlines;
      space = false;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\f' || c == '\v') {
      space = true;
      continue;
    }
    if (!out.empty()) {
      if (newlines > 0)
        out.append(newlines > 1 ? "\n\n" : "\n");
      else if (space)
        out.push_back(' ');
    }
    newlines = 0;
    space = false;
    out.push_back(c);
  }
  return out;
}

bool is_block_tag(std::string_view tag) {
  static constexpr std::string_view blocks[] = {
      "p",      "div",        "br", "li", "ul", "ol",   "tr",      "table",   "h1",
      "h2",     "h3",         "h4", "h5", "h6", "pre",  "section", "article", "header",
      "footer", "blockquote", "hr", "dt", "dd", "main", "nav",     "aside",   "figcaption"};
  return std::find(std::begin(blocks), std::end(blocks), tag) != std::end(blocks);
}

extracted_text from_html(std::string_view html) {
  extracted_text out;
  out.format = "html";
  std::string text;
  size_t i = 0;
  while (i < html.size()) {
    char c = html[i];
    if (c == '&') {
      if (auto n = decode_entity(html, i, text)) {
        i += n;
        continue;
      }
      text.push_back(c);
      ++i;
      continue;
    }
    if (c != '<') {
      text.push_back(c);
      ++i;
      continue;
    }
    if (html.substr(i, 4) == "<!--") {
      auto end = html.find("-->", i + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    auto close = html.find('>', i);
    if (close == std::string_view::npos)
      break;
    auto inner = html.substr(i + 1, close - i - 1);
    bool closing = !inner.empty() && inner[0] == '/';
    if (closing)
      inner.remove_prefix(1);
    size_t name_end = 0;
    while (name_end < inner.size() && std::isalnum(static_cast<unsigned char>(inner[name_end])))
      ++name_end;
    auto tag = lower(inner.substr(0, name_end));
    i = close + 1;
    if (!closing && (tag == "script" || tag == "style" || tag == "title" || tag == "noscript")) {
      // Its closing tag, in any case, without copying the rest of the page.
      auto closing_tag = "</" + tag;
      auto at = std::search(html.begin() + static_cast<std::ptrdiff_t>(i), html.end(),
                            closing_tag.begin(), closing_tag.end(), [](char x, char y) {
                              return std::tolower(static_cast<unsigned char>(x)) == y;
                            });
      auto end = at == html.end() ? std::string::npos : static_cast<size_t>(at - html.begin()) - i;
      auto body = html.substr(i, end == std::string::npos ? html.size() - i : end);
      if (tag == "title")
        out.title = tidy(decode_entities(body));
      i = end == std::string::npos ? html.size() : html.find('>', i + end);
      i = i == std::string_view::npos ? html.size() : i + 1;
      continue;
    }
    if (is_block_tag(tag))
      text.append(tag == "br" ? "\n" : "\n\n");
    else if (tag == "td" || tag == "th")
      text.push_back('\t');
  }
  out.pages.push_back({0, tidy(text)});
  return out;
}

caf::expected<extracted_text> from_pdf(std::string_view bytes) {
  // Poppler reports every oddity of a damaged file on stderr; the outcome is what counts.
  poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr);
  std::unique_ptr<poppler::document> doc{poppler::document::load_from_raw_data(
      bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX)))};
  if (!doc)
    return bad_file("the file is not a readable PDF");
  if (doc->is_locked())
    return bad_file("the PDF is encrypted");
  extracted_text out;
  out.format = "pdf";
  auto title = doc->get_title().to_utf8();
  out.title = tidy(std::string_view{title.data(), title.size()});
  for (int i = 0; i < doc->pages(); ++i) {
    std::unique_ptr<poppler::page> page{doc->create_page(i)};
    if (!page)
      continue;
    auto utf8 = page->text().to_utf8();
    out.pages.push_back({i + 1, tidy(std::string_view{utf8.data(), utf8.size()})});
  }
  return out;
}

/// The contents of `name` in the zip archive `bytes`; nullopt when it is not there.
std::optional<std::string> zip_entry(std::string_view bytes, const char* name, bool& is_zip) {
  zip_error_t err;
  zip_error_init(&err);
  auto* src = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &err);
  is_zip = false;
  if (src == nullptr)
    return std::nullopt;
  auto* za = zip_open_from_source(src, ZIP_RDONLY, &err);
  zip_error_fini(&err);
  if (za == nullptr) {
    zip_source_free(src);
    return std::nullopt;
  }
  is_zip = true;
  std::optional<std::string> out;
  zip_stat_t st;
  if (zip_stat(za, name, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE) != 0 &&
      st.size < (uint64_t{256} << 20)) {
    if (auto* f = zip_fopen(za, name, 0)) {
      std::string data(st.size, '\0');
      auto n = zip_fread(f, data.data(), st.size);
      zip_fclose(f);
      if (n == static_cast<zip_int64_t>(st.size))
        out = std::move(data);
    }
  }
  zip_close(za); // frees the source too
  return out;
}

/// The text of a WordprocessingML part: runs' `w:t`, tabs, breaks and paragraphs.
std::string docx_text(std::string_view xml) {
  std::string text;
  size_t i = 0;
  bool in_text = false;
  while (i < xml.size()) {
    if (xml[i] != '<') {
      if (in_text) {
        if (xml[i] == '&') {
          if (auto n = decode_entity(xml, i, text)) {
            i += n;
            continue;
          }
        }
        text.push_back(xml[i]);
      }
      ++i;
      continue;
    }
    auto close = xml.find('>', i);
    if (close == std::string_view::npos)
      break;
    auto tag = xml.substr(i + 1, close - i - 1);
    auto name = tag.substr(0, tag.find_first_of(" /", 1)); // "/w:p" keeps its slash
    if (name == "w:t")
      in_text = tag.empty() || tag.back() != '/';
    else if (name == "/w:t")
      in_text = false;
    else if (name == "w:tab")
      text.push_back('\t');
    else if (name == "w:br" || name == "w:cr")
      text.push_back('\n');
    else if (name == "/w:p")
      text.append("\n\n");
    i = close + 1;
  }
  return text;
}

caf::expected<extracted_text> from_docx(std::string_view bytes) {
  bool is_zip = false;
  auto xml = zip_entry(bytes, "word/document.xml", is_zip);
  if (!xml)
    return bad_file(is_zip ? "the file is a zip archive but not a Word document"
                           : "the file is not a readable Word (.docx) document");
  extracted_text out;
  out.format = "docx";
  if (auto core = zip_entry(bytes, "docProps/core.xml", is_zip)) {
    auto b = core->find("<dc:title>");
    auto e = core->find("</dc:title>");
    if (b != std::string::npos && e != std::string::npos && e > b) {
      auto raw = std::string_view{*core}.substr(b + 10, e - b - 10);
      auto title = decode_entities(raw);
      out.title = tidy(title);
    }
  }
  out.pages.push_back({0, tidy(docx_text(*xml))});
  return out;
}

} // namespace

caf::expected<extracted_text> extract_text(std::string_view filename, std::string_view content_type,
                                           std::string_view bytes) {
  auto ext = extension(filename);
  auto type = lower(content_type.substr(0, content_type.find(';')));
  std::string format;
  if (ext == "txt" || ext == "text" || ext == "log" || ext == "csv")
    format = "txt";
  else if (ext == "md" || ext == "markdown")
    format = "markdown";
  else if (ext == "html" || ext == "htm")
    format = "html";
  else if (ext == "pdf")
    format = "pdf";
  else if (ext == "docx")
    format = "docx";
  else if (!ext.empty() && ext != "bin")
    return api_error(errc::unsupported_media_type,
                     "." + ext + " files are not supported; upload " +
                         std::string{supported_document_formats},
                     "file", "unsupported format");
  else if (type == "text/plain")
    format = "txt";
  else if (type == "text/markdown")
    format = "markdown";
  else if (type == "text/html")
    format = "html";
  else if (type == "application/pdf" || bytes.substr(0, 5) == "%PDF-")
    format = "pdf";
  else if (type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document" ||
           bytes.substr(0, 4) == "PK\x03\x04")
    format = "docx";
  else if (valid_utf8(bytes) && bytes.find('\0') == std::string_view::npos)
    format = "txt";
  else
    return api_error(errc::unsupported_media_type,
                     "the file's format is not supported; upload " +
                         std::string{supported_document_formats},
                     "file", "unsupported format");

  caf::expected<extracted_text> out{extracted_text{}};
  if (format == "pdf") {
    out = from_pdf(bytes);
  } else if (format == "docx") {
    out = from_docx(bytes);
  } else {
    auto text = decode_plain(bytes);
    if (!text)
      return std::move(text.error());
    if (format == "html") {
      out = from_html(*text);
    } else {
      extracted_text t;
      t.format = format;
      t.pages.push_back({0, std::move(*text)});
      out = std::move(t);
    }
  }
  if (!out)
    return out;
  bool any = std::any_of(out->pages.begin(), out->pages.end(), [](const extracted_page& p) {
    return p.text.find_first_not_of(" \t\r\n") != std::string::npos;
  });
  if (!any)
    return bad_file(out->format == "pdf" ? "the PDF has no text layer (a scan?): nothing to index"
                                         : "the file has no text to index");
  return out;
}

} // namespace chatagent::actors
