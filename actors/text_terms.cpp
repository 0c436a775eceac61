#include "actors/text_terms.hpp"

#include "protocol/validation.hpp"

#include <unordered_set>

namespace chatagent::actors {

namespace {

/// Decodes the code point at `i` (advancing it); invalid bytes read as U+FFFD.
char32_t next_code_point(std::string_view s, size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  size_t n = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      ++i;
      return 0xFFFD;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += n;
  return cp;
}

bool is_cjk(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x20000 && cp <= 0x2FFFF) ||
         (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0xAC00 && cp <= 0xD7AF);
}

/// Letters and digits outside CJK; ASCII ones lower-cased (full-width ones too).
bool word_char(char32_t& cp) {
  if (cp >= 0xFF10 && cp <= 0xFF19) // full-width digits
    cp = cp - 0xFF10 + U'0';
  else if (cp >= 0xFF21 && cp <= 0xFF3A)
    cp = cp - 0xFF21 + U'a';
  else if (cp >= 0xFF41 && cp <= 0xFF5A)
    cp = cp - 0xFF41 + U'a';
  if (cp < 0x80) {
    if (cp >= 'A' && cp <= 'Z')
      cp = cp - 'A' + 'a';
    return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9');
  }
  if (cp == 0xFFFD)
    return false;
  // Punctuation and symbols of the blocks that hold mostly those.
  if ((cp >= 0x2000 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFFEF) || cp == 0xA0 ||
      (cp >= 0xA1 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7)
    return false;
  return true;
}

/// Words that say nothing about what a text is about: questions ("如何配置机器人？",
/// "how do I configure the bot?") would otherwise miss their best passages for lacking them.
bool is_stop_term(const std::string& t) {
  static const std::unordered_set<std::string> stop{
      // English
      "a", "an", "the", "is", "are", "was", "were", "be", "been", "to", "of", "in", "on", "at",
      "for", "and", "or", "how", "what", "which", "who", "why", "when", "where", "do", "does",
      "did", "i", "you", "we", "it", "its", "this", "that", "these", "those", "with", "can",
      "could", "my", "me", "your", "our", "there", "about", "as", "by", "from", "please",
      // Chinese function words and question words (characters and pairs)
      "的", "了", "是", "在", "吗", "呢", "吧", "啊", "么", "呀", "着", "和", "与", "或", "如何",
      "什么", "怎么", "怎样", "请问", "为什", "哪些", "一下", "我们", "你们", "可以"};
  return stop.count(t) != 0;
}

} // namespace

std::vector<text_term> text_terms(std::string_view text) {
  std::vector<text_term> out;
  std::string word;
  std::string prev_cjk; // the previous character, when it was CJK
  auto flush_word = [&] {
    if (!word.empty() && !is_stop_term(word))
      out.push_back({std::move(word), text_term::word});
    word.clear();
  };
  size_t i = 0;
  while (i < text.size()) {
    auto cp = next_code_point(text, i);
    if (is_cjk(cp)) {
      flush_word();
      std::string ch;
      protocol::append_utf8(ch, cp);
      if (!prev_cjk.empty())
        if (auto pair = prev_cjk + ch; !is_stop_term(pair))
          out.push_back({std::move(pair), text_term::cjk_pair});
      if (!is_stop_term(ch))
        out.push_back({ch, text_term::cjk_char});
      prev_cjk = std::move(ch);
      continue;
    }
    prev_cjk.clear();
    if (word_char(cp)) {
      protocol::append_utf8(word, cp);
      if (word.size() > 64) // not a word any more (base64, a hash): cut it into pieces
        flush_word();
    } else {
      flush_word();
    }
  }
  flush_word();
  return out;
}

} // namespace chatagent::actors
