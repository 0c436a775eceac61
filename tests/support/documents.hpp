#pragma once

// Small real documents for the ingestion tests, generated instead of checked in.

#include <string>
#include <vector>

namespace chatagent::test {

/// A PDF (1.4, Helvetica, one text line per entry) with one page per element of `pages`;
/// `title` goes into the document information dictionary. ASCII text only.
std::string make_pdf(const std::vector<std::vector<std::string>>& pages,
                     const std::string& title = {});

/// A Word (.docx) document with one paragraph per entry of `paragraphs`.
std::string make_docx(const std::vector<std::string>& paragraphs, const std::string& title = {});

} // namespace chatagent::test
