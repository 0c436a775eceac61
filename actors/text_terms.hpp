#pragma once

// The terms of a text, shared by the local embedder and lexical (BM25) retrieval, so that
// both see words the same way: lower-cased words of letters and digits (any script but
// CJK), and for Chinese, Japanese and Korean text every character and every pair of
// neighbouring characters (no dictionary needed, and exact names still match). Common
// function words ("the", "how", "的", "如何") are left out.

#include <string>
#include <string_view>
#include <vector>

namespace chatagent::actors {

struct text_term {
  std::string text;
  enum kind_t : unsigned char { word, cjk_char, cjk_pair } kind = word;
};

/// The terms of `text` in order. Full-width ASCII letters and digits read as ASCII.
std::vector<text_term> text_terms(std::string_view text);

} // namespace chatagent::actors
