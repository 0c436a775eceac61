#pragma once

// Splits a document's text into the chunks a knowledge base indexes.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace chatagent::actors {

/// A piece of a document: its text and where it starts in the document (bytes).
struct text_chunk {
  std::string text;
  size_t offset = 0;
};

/// Splits UTF-8 `text` into chunks of at most `size` code points, neighbours sharing up to
/// `overlap` code points (`overlap < size`). Cuts fall, in order of preference, at the end of
/// a paragraph (when that leaves the chunk at least half full), of a sentence (Chinese and
/// Japanese punctuation included) or of a line, then at white space, and only inside a
/// word when a word is longer than a chunk; never inside a UTF-8 character. Leading and
/// trailing white space of each chunk is dropped, and so are chunks with nothing else.
/// Invalid UTF-8 bytes count as one code point each.
std::vector<text_chunk> chunk_text(std::string_view text, size_t size, size_t overlap);

} // namespace chatagent::actors
