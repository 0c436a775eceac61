#include "support/documents.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <unistd.h>
#include <zip.h>

namespace chatagent::test {

namespace {

std::string pdf_string(const std::string& s) {
  std::string out = "(";
  for (char c : s) {
    if (c == '(' || c == ')' || c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
  return out + ")";
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    default:
      out.push_back(c);
    }
  }
  return out;
}

} // namespace

std::string make_pdf(const std::vector<std::vector<std::string>>& pages, const std::string& title) {
  // Objects: 1 catalog, 2 pages, 3 font, 4 info, then a page and its contents per page.
  std::vector<std::string> objects;
  std::string kids;
  for (size_t i = 0; i < pages.size(); ++i)
    kids += std::to_string(5 + 2 * i) + " 0 R ";
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) +
                    " >>");
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  objects.push_back("<< /Title " + pdf_string(title) + " >>");
  for (size_t i = 0; i < pages.size(); ++i) {
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font "
                      "<< /F1 3 0 R >> >> /Contents " +
                      std::to_string(6 + 2 * i) + " 0 R >>");
    std::string content = "BT /F1 12 Tf 14 TL 72 720 Td\n";
    for (auto& line : pages[i])
      content += pdf_string(line) + " Tj T*\n";
    content += "ET";
    objects.push_back("<< /Length " + std::to_string(content.size()) + " >>\nstream\n" + content +
                      "\nendstream");
  }
  std::string out = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(out.size());
    out += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  auto xref = out.size();
  out += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (auto off : offsets) {
    char line[32];
    std::snprintf(line, sizeof(line), "%010zu 00000 n \n", off);
    out += line;
  }
  out += "trailer\n<< /Size " + std::to_string(objects.size() + 1) +
         " /Root 1 0 R /Info 4 0 R >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return out;
}

std::string make_docx(const std::vector<std::string>& paragraphs, const std::string& title) {
  std::string body;
  for (auto& p : paragraphs)
    body += "<w:p><w:r><w:t xml:space=\"preserve\">" + xml_escape(p) + "</w:t></w:r></w:p>";
  std::vector<std::pair<std::string, std::string>> files{
      {"[Content_Types].xml",
       "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
       "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"
       "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
       "<Override PartName=\"/word/document.xml\" "
       "ContentType=\"application/"
       "vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>"},
      {"word/document.xml",
       "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
       "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\">"
       "<w:body>" +
           body + "</w:body></w:document>"},
      {"docProps/core.xml",
       "<?xml version=\"1.0\" encoding=\"UTF-8\"?><cp:coreProperties "
       "xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
       "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>" +
           xml_escape(title) + "</dc:title></cp:coreProperties>"},
  };
  auto path = std::filesystem::temp_directory_path() /
              ("chatagent-docx-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
  int err = 0;
  auto* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  if (za == nullptr)
    throw std::runtime_error("zip_open failed");
  for (auto& [name, data] : files) {
    auto* src = zip_source_buffer(za, data.data(), data.size(), 0);
    if (src == nullptr || zip_file_add(za, name.c_str(), src, ZIP_FL_ENC_UTF_8) < 0)
      throw std::runtime_error("zip_file_add failed");
  }
  if (zip_close(za) != 0)
    throw std::runtime_error("zip_close failed");
  std::ifstream in{path, std::ios::binary};
  std::string out{std::istreambuf_iterator<char>{in}, {}};
  std::filesystem::remove(path);
  return out;
}

} // namespace chatagent::test
