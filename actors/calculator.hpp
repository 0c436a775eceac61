#pragma once

// The `calculator` plugin's engine: a safe evaluator of arithmetic expressions (a parser of
// its own; nothing is ever executed). Exact rational arithmetic while the numbers allow
// it (0.1 + 0.2 is 0.3, 1/3 * 3 is 1), double precision once a function or a number out
// of range needs it.
//
//   2 + 3 * 4            -> 14          precedence
//   -2 ^ 2               -> -4          ^ (or **) binds tighter than a sign, right to left
//   (1 + 2) / 3 * 0.1    -> 0.1
//   10 // 3, 10 % 3      -> 3, 1        floor division, remainder
//   5!                   -> 120
//   sqrt(16), sqrt(2)    -> 4, 1.4142135623731
//   sin(pi / 2), log(100), log(8, 2), ln(e), exp(1), abs, floor, ceil, round, min, max,
//   pow, log2, log10, tan, asin, acos, atan
//   12 × 3 ÷ 4           -> 9           (× and ÷ too, and full-width parentheses)

#include <cstddef>
#include <string>
#include <string_view>

namespace chatagent::actors {

struct calculation {
  bool ok = false;
  std::string value;    // the result in decimal: exact when `exact`, else 15 significant digits
  bool exact = false;   // the value is exactly the result
  std::string fraction; // exact non-terminating results: "n/d" (e.g. "1/3"), else empty
  std::string error;    // why not, for a person or a model to read
  size_t position = 0;  // where in the expression (bytes), for errors
};

/// Evaluates `expression` (at most 1,000 bytes, nesting at most 64 deep).
calculation calculate(std::string_view expression);

} // namespace chatagent::actors
