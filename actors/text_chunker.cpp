#include "actors/text_chunker.hpp"

#include <algorithm>

namespace chatagent::actors {

namespace {

/// The length in bytes of the UTF-8 sequence starting with `lead` (1 for invalid bytes).
size_t sequence_length(std::string_view s, size_t i) {
  auto lead = static_cast<unsigned char>(s[i]);
  size_t n = lead < 0x80           ? 1
             : (lead >> 5) == 0x6  ? 2
             : (lead >> 4) == 0xE  ? 3
             : (lead >> 3) == 0x1E ? 4
                                   : 1;
  if (i + n > s.size())
    return 1;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
      return 1;
  return n;
}

bool is_space(std::string_view cp) {
  return cp == " " || cp == "\t" || cp == "\n" || cp == "\r" || cp == "\f" || cp == "\v" ||
         cp == "\u3000" || cp == "\u00a0";
}

/// Ends a sentence whatever follows it.
bool ends_sentence_always(std::string_view cp) {
  return cp == "\u3002" || cp == "\uff01" || cp == "\uff1f" || cp == "\uff1b" || cp == "\u2026" ||
         cp == "\uff0e";
}

/// Ends a sentence when white space (or the end) follows it.
bool ends_sentence_before_space(std::string_view cp) {
  return cp == "." || cp == "!" || cp == "?" || cp == ";";
}

/// A run of text between two places where a chunk may end.
struct segment {
  size_t begin = 0; // bytes
  size_t end = 0;
  size_t length = 0;      // code points
  bool paragraph = false; // a paragraph ends after it
};

/// Splits `text` into sentences and lines (the white space after each stays with it).
std::vector<segment> sentences(std::string_view text) {
  std::vector<segment> out;
  segment cur;
  size_t i = 0;
  while (i < text.size()) {
    auto n = sequence_length(text, i);
    auto cp = text.substr(i, n);
    i += n;
    ++cur.length;
    bool boundary = cp == "\n" || ends_sentence_always(cp);
    if (!boundary && ends_sentence_before_space(cp))
      boundary = i == text.size() || is_space(text.substr(i, sequence_length(text, i)));
    if (!boundary)
      continue;
    // The white space that follows belongs to this segment; two line breaks end a paragraph.
    int breaks = cp == "\n" ? 1 : 0;
    while (i < text.size()) {
      auto m = sequence_length(text, i);
      auto next = text.substr(i, m);
      if (!is_space(next))
        break;
      breaks += next == "\n" ? 1 : 0;
      i += m;
      ++cur.length;
    }
    cur.end = i;
    cur.paragraph = breaks >= 2;
    out.push_back(cur);
    cur = segment{i, i, 0, false};
  }
  if (cur.length > 0) {
    cur.end = text.size();
    out.push_back(cur);
  }
  return out;
}

/// Splits a segment longer than `size` at white space, and words longer than `size` at
/// code points, into pieces of at most `size` code points.
void split_long(std::string_view text, const segment& s, size_t size, std::vector<segment>& out) {
  segment cur{s.begin, s.begin, 0, false};
  size_t last_space_end = 0; // bytes; 0: none in `cur`
  size_t length_at_space = 0;
  size_t i = s.begin;
  while (i < s.end) {
    auto n = sequence_length(text, i);
    if (cur.length == size) {
      if (last_space_end > cur.begin) { // cut after the last white space
        segment piece{cur.begin, last_space_end, length_at_space, false};
        out.push_back(piece);
        cur = segment{last_space_end, i, cur.length - length_at_space, false};
      } else {
        cur.end = i;
        out.push_back(cur);
        cur = segment{i, i, 0, false};
      }
      last_space_end = 0;
    }
    bool space = is_space(text.substr(i, n));
    i += n;
    ++cur.length;
    if (space) {
      last_space_end = i;
      length_at_space = cur.length;
    }
  }
  cur.end = s.end;
  cur.paragraph = s.paragraph;
  if (cur.length > 0)
    out.push_back(cur);
}

void emit(std::string_view text, const segment* first, const segment* last,
          std::vector<text_chunk>& out) {
  auto begin = first->begin;
  auto end = last->end;
  // Trim white space (ASCII and the ideographic space) at both ends.
  auto piece = text.substr(begin, end - begin);
  size_t lead = 0;
  while (lead < piece.size()) {
    auto n = sequence_length(piece, lead);
    if (!is_space(piece.substr(lead, n)))
      break;
    lead += n;
  }
  size_t tail = piece.size();
  while (tail > lead) {
    size_t k = tail - 1;
    while (k > lead && (static_cast<unsigned char>(piece[k]) & 0xC0) == 0x80)
      --k;
    if (!is_space(piece.substr(k, tail - k)))
      break;
    tail = k;
  }
  if (tail > lead)
    out.push_back(text_chunk{std::string{piece.substr(lead, tail - lead)}, begin + lead});
}

} // namespace

std::vector<text_chunk> chunk_text(std::string_view text, size_t size, size_t overlap) {
  size = std::max<size_t>(size, 1);
  overlap = std::min(overlap, size - 1);
  std::vector<segment> segs;
  for (auto& s : sentences(text)) {
    if (s.length <= size)
      segs.push_back(s);
    else
      split_long(text, s, size, segs);
  }
  std::vector<text_chunk> out;
  size_t first = 0; // the current chunk is segs[first, next)
  while (first < segs.size()) {
    size_t length = 0;
    size_t next = first;
    while (next < segs.size() && length + segs[next].length <= size)
      length += segs[next++].length;
    // Prefer the last paragraph end that leaves the chunk at least half full.
    if (next < segs.size()) {
      size_t upto = 0;
      size_t best = 0;
      for (size_t k = first; k < next; ++k) {
        upto += segs[k].length;
        if (segs[k].paragraph && upto * 2 >= size)
          best = k + 1;
      }
      if (best > 0)
        next = best;
    }
    emit(text, &segs[first], &segs[next - 1], out);
    if (next >= segs.size())
      break;
    // The next chunk starts with as many of this one's last segments as fit the overlap,
    // and always moves forward.
    size_t start = next;
    size_t shared = 0;
    while (start > first + 1 && shared + segs[start - 1].length <= overlap &&
           shared + segs[start - 1].length + segs[next].length <= size)
      shared += segs[--start].length;
    first = start;
  }
  return out;
}

} // namespace chatagent::actors
