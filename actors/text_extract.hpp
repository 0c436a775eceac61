#pragma once

// Turns an uploaded document into text: plain text, Markdown, HTML, PDF and DOCX.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

namespace chatagent::actors {

/// A page of a document's text; `number` counts from 1, or is 0 for formats without pages.
struct extracted_page {
  int64_t number = 0;
  std::string text;
};

struct extracted_text {
  std::string format;                // txt, markdown, html, pdf, docx
  std::string title;                 // from the document itself, when it has one
  std::vector<extracted_page> pages; // UTF-8
};

/// The formats `extract_text` reads, for error messages.
constexpr std::string_view supported_document_formats =
    "plain text (.txt), Markdown (.md), HTML (.html), PDF (.pdf), Word (.docx)";

/// Recognizes the format by the file name's extension, else by the declared content type,
/// else by the bytes, and extracts the text (UTF-8; plain text may also be UTF-16 with a
/// byte-order mark or GB18030/GBK). Fails with UNSUPPORTED_MEDIA_TYPE for other formats
/// and VALIDATION_ERROR (field `file`) for a damaged or encrypted file, or one without text.
caf::expected<extracted_text> extract_text(std::string_view filename, std::string_view content_type,
                                           std::string_view bytes);

} // namespace chatagent::actors
