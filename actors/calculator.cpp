#include "actors/calculator.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <vector>

namespace chatagent::actors {

namespace {

constexpr size_t max_length = 1000;

__extension__ typedef __int128 int128;
__extension__ typedef unsigned __int128 uint128;

/// Concatenation (GCC 12 misreads `"literal" + std::string` chains as overlapping copies).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts)
    out += p;
  return out;
}

bool known_function(std::string_view f) {
  for (std::string_view k :
       {"sqrt", "abs", "floor", "ceil", "round", "min", "max", "pow", "exp", "ln", "log", "log10",
        "log2", "sin", "cos", "tan", "asin", "acos", "atan"})
    if (f == k)
      return true;
  return false;
}
constexpr int max_depth = 64;

/// A number: an exact fraction n/d (d > 0, in lowest terms) while it can be, else a double.
struct number {
  bool exact = true;
  int64_t n = 0;
  int64_t d = 1;
  double v = 0;

  static number of(int64_t n, int64_t d = 1) {
    number x;
    if (n == INT64_MIN)
      return inexact(static_cast<double>(n) / static_cast<double>(d));
    if (d < 0) {
      if (n == INT64_MIN || d == INT64_MIN)
        return inexact(static_cast<double>(n) / static_cast<double>(d));
      n = -n;
      d = -d;
    }
    auto g = std::gcd(n, d);
    x.n = n / g;
    x.d = d / g;
    x.v = static_cast<double>(x.n) / static_cast<double>(x.d);
    return x;
  }
  static number inexact(double v) {
    number x;
    x.exact = false;
    x.v = v;
    return x;
  }
  bool integer() const { return exact ? d == 1 : std::floor(v) == v && std::isfinite(v); }
  bool zero() const { return exact ? n == 0 : v == 0; }
};

bool mul(int64_t a, int64_t b, int64_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}
bool add(int64_t a, int64_t b, int64_t& out) {
  return !__builtin_add_overflow(a, b, &out);
}

number plus(const number& a, const number& b) {
  if (a.exact && b.exact) {
    int64_t x = 0;
    int64_t y = 0;
    int64_t n = 0;
    int64_t d = 0;
    if (mul(a.n, b.d, x) && mul(b.n, a.d, y) && add(x, y, n) && mul(a.d, b.d, d))
      return number::of(n, d);
  }
  return number::inexact(a.v + b.v);
}

number negate(const number& a) {
  if (a.exact && a.n != INT64_MIN)
    return number::of(-a.n, a.d);
  return number::inexact(-a.v);
}

number times(const number& a, const number& b) {
  if (a.exact && b.exact) {
    // Cross-reduce first: fewer overflows.
    auto g1 = std::gcd(a.n, b.d);
    auto g2 = std::gcd(b.n, a.d);
    g1 = g1 == 0 ? 1 : g1;
    g2 = g2 == 0 ? 1 : g2;
    int64_t n = 0;
    int64_t d = 0;
    if (mul(a.n / g1, b.n / g2, n) && mul(a.d / g2, b.d / g1, d))
      return number::of(n, d);
  }
  return number::inexact(a.v * b.v);
}

/// a / b, b not zero.
number divide(const number& a, const number& b) {
  if (a.exact && b.exact && b.n != INT64_MIN)
    return times(a, number::of(b.d, b.n));
  return number::inexact(a.v / b.v);
}

std::optional<int64_t> isqrt_exact(int64_t x) {
  if (x < 0)
    return std::nullopt;
  auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(x))));
  for (auto c : {r - 1, r, r + 1})
    if (c >= 0 && c <= 3037000499 && c * c == x)
      return c;
  return std::nullopt;
}

class parser {
 public:
  explicit parser(std::string_view text) : s_(text) {}

  calculation run() {
    calculation out;
    if (s_.size() > max_length)
      return fail(out, "the expression is longer than 1000 characters", 0);
    auto v = expression();
    skip();
    if (!error_.empty())
      return fail(out, error_, where_);
    if (i_ < s_.size())
      return fail(out, cat({"unexpected '", peek_char(), "'"}), i_);
    if (!v->exact && !std::isfinite(v->v))
      return fail(out, "the result is too large", 0);
    out.ok = true;
    format(*v, out);
    return out;
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
  int depth_ = 0;
  std::string error_;
  size_t where_ = 0;

  static calculation fail(calculation& out, std::string why, size_t at) {
    out.ok = false;
    out.error = std::move(why);
    out.position = at;
    return out;
  }

  std::optional<number> error(std::string why, size_t at) {
    if (error_.empty()) {
      error_ = std::move(why);
      where_ = at;
    }
    return std::nullopt;
  }

  std::string_view peek_char() const {
    if (i_ >= s_.size())
      return {};
    auto c = static_cast<unsigned char>(s_[i_]);
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    return s_.substr(i_, std::min(len, s_.size() - i_));
  }

  void skip() {
    for (;;) {
      if (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
        ++i_;
      else if (s_.substr(i_, 3) == "\u3000") // a full-width space
        i_ += 3;
      else
        return;
    }
  }

  /// Consumes one of `tokens` (after blanks); returns its index or -1.
  int accept(std::initializer_list<std::string_view> tokens) {
    skip();
    int k = 0;
    for (auto t : tokens) {
      if (s_.substr(i_, t.size()) == t) {
        i_ += t.size();
        return k;
      }
      ++k;
    }
    return -1;
  }

  bool accept(std::string_view t) { return accept({t}) == 0; }

  // expression := term (('+' | '-') term)*
  std::optional<number> expression() {
    if (++depth_ > max_depth)
      return error("the expression is nested too deeply", i_);
    auto left = term();
    while (left) {
      auto op = accept({"+", "-", "\u2212"}); // U+2212 minus sign
      if (op < 0)
        break;
      auto right = term();
      if (!right)
        return std::nullopt;
      left = op == 0 ? plus(*left, *right) : plus(*left, negate(*right));
    }
    --depth_;
    return left;
  }

  // term := unary (('*' | '/' | '//' | '%' | '×' | '÷') unary)*
  std::optional<number> term() {
    auto left = unary();
    while (left) {
      skip();
      if (s_.substr(i_, 2) == "**")
        break; // a power, handled below
      auto at = i_;
      auto op = accept({"//", "*", "/", "%", "\u00d7", "\u00f7"});
      if (op < 0)
        break;
      auto right = unary();
      if (!right)
        return std::nullopt;
      if ((op == 0 || op == 2 || op == 3 || op == 5) && right->zero())
        return error(op == 3 ? "remainder of a division by zero" : "division by zero", at);
      switch (op) {
      case 1:
      case 4:
        left = times(*left, *right);
        break;
      case 2:
      case 5:
        left = divide(*left, *right);
        break;
      case 0:
        left = floor_of(divide(*left, *right));
        break;
      case 3: // a - b * floor(a / b): the sign of the divisor, as in Python
        left = plus(*left, negate(times(*right, floor_of(divide(*left, *right)))));
        break;
      }
    }
    return left;
  }

  // unary := ('+' | '-') unary | power
  std::optional<number> unary() {
    auto op = accept({"+", "-", "\u2212"});
    if (op == 0)
      return unary();
    if (op > 0) {
      auto v = unary();
      return v ? std::optional{negate(*v)} : std::nullopt;
    }
    return power();
  }

  // power := postfix (('^' | '**') unary)?   right to left: 2^3^2 = 2^9
  std::optional<number> power() {
    auto base = postfix();
    if (!base)
      return std::nullopt;
    auto at = i_;
    if (accept({"^", "**"}) < 0)
      return base;
    auto exponent = unary();
    if (!exponent)
      return std::nullopt;
    return raise(*base, *exponent, at);
  }

  // postfix := primary '!'*
  std::optional<number> postfix() {
    auto v = primary();
    while (v) {
      skip();
      if (i_ < s_.size() && s_[i_] == '!' && s_.substr(i_, 2) != "!=") {
        auto at = i_++;
        v = factorial(*v, at);
      } else {
        break;
      }
    }
    return v;
  }

  std::optional<number> primary() {
    skip();
    auto at = i_;
    if (accept({"(", "\uff08"}) >= 0) {
      auto v = expression();
      if (!v)
        return std::nullopt;
      if (accept({")", "\uff09"}) < 0)
        return error("a ')' is missing", i_);
      return v;
    }
    if (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.'))
      return literal();
    if (i_ < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_')) {
      auto start = i_;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_'))
        ++i_;
      auto name = std::string{s_.substr(start, i_ - start)};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "pi")
        return number::inexact(M_PI);
      if (name == "e")
        return number::inexact(M_E);
      if (name == "tau")
        return number::inexact(2 * M_PI);
      if (accept({"(", "\uff08"}) < 0)
        return error(cat({"unknown name '", name, "'"}), start);
      if (!known_function(name))
        return error(cat({"unknown function '", name, "'"}), start);
      std::vector<number> args;
      if (accept({")", "\uff09"}) < 0) {
        for (;;) {
          auto v = expression();
          if (!v)
            return std::nullopt;
          args.push_back(*v);
          if (accept({",", "\uff0c"}) >= 0)
            continue;
          if (accept({")", "\uff09"}) >= 0)
            break;
          return error("a ')' is missing", i_);
        }
      }
      return call(name, args, start);
    }
    if (i_ >= s_.size())
      return error("the expression ends too early", at);
    return error(cat({"unexpected '", peek_char(), "'"}), at);
  }

  /// 12, 0.25, .5, 1e3, 2.5E-4: exact when the digits fit.
  std::optional<number> literal() {
    auto start = i_;
    int64_t n = 0;
    int64_t d = 1;
    bool fits = true;
    bool digits = false;
    auto take = [&](bool fraction) {
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
        digits = true;
        int64_t next = 0;
        if (fits && mul(n, 10, next) && add(next, s_[i_] - '0', next) &&
            (!fraction || mul(d, 10, d)))
          n = next;
        else
          fits = false;
        ++i_;
      }
    };
    take(false);
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      take(true);
    }
    if (!digits)
      return error("a number has no digits", start);
    int64_t exponent = 0;
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      auto save = i_++;
      bool negative = false;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-'))
        negative = s_[i_++] == '-';
      if (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
          exponent = std::min<int64_t>(exponent * 10 + (s_[i_] - '0'), 100000);
          ++i_;
        }
        if (negative)
          exponent = -exponent;
      } else {
        i_ = save; // "2e" is 2 times e? No: 2 followed by a name; let the caller complain
      }
    }
    auto text = std::string{s_.substr(start, i_ - start)};
    number v = fits ? number::of(n, d) : number::inexact(std::strtod(text.c_str(), nullptr));
    if (exponent != 0) {
      if (!fits)
        return v; // strtod read the exponent too
      auto scaled = raise(number::of(10), number::of(std::abs(exponent)), start);
      if (!scaled)
        return std::nullopt;
      v = exponent > 0 ? times(v, *scaled) : divide(v, *scaled);
    }
    return v;
  }

  static number floor_of(const number& x) {
    if (x.exact) {
      auto q = x.n / x.d;
      if (x.n % x.d != 0 && x.n < 0)
        --q;
      return number::of(q);
    }
    return number::inexact(std::floor(x.v));
  }

  std::optional<number> raise(const number& base, const number& exponent, size_t at) {
    if (base.zero() && exponent.exact && exponent.n < 0)
      return error("zero to a negative power", at);
    if (base.exact && exponent.exact && exponent.d == 1 && std::abs(exponent.n) <= 4096) {
      number result = number::of(1);
      number b = base;
      auto e = std::abs(exponent.n);
      bool exact = true;
      while (e > 0 && exact) {
        if (e & 1)
          result = times(result, b);
        e >>= 1;
        if (e > 0)
          b = times(b, b);
        exact = result.exact && b.exact;
      }
      if (exact)
        return exponent.n < 0 ? divide(number::of(1), result) : result;
    }
    // A fractional power of a negative number is not real, except odd roots (x^(1/3)).
    if (base.v < 0 && !exponent.integer()) {
      if (exponent.exact && exponent.d % 2 == 1)
        return number::inexact((exponent.n % 2 == 0 ? 1 : -1) * std::pow(-base.v, exponent.v));
      return error("a negative number to a fractional power is not a real number", at);
    }
    if (auto r = root_exact(base, exponent))
      return r;
    return number::inexact(std::pow(base.v, exponent.v));
  }

  /// x^(1/2) of a perfect square fraction, exactly.
  static std::optional<number> root_exact(const number& x, const number& e) {
    if (!x.exact || !e.exact || e.n != 1 || e.d != 2)
      return std::nullopt;
    auto n = isqrt_exact(x.n);
    auto d = isqrt_exact(x.d);
    if (n && d)
      return number::of(*n, *d);
    return std::nullopt;
  }

  std::optional<number> factorial(const number& x, size_t at) {
    if (!x.integer() || x.v < 0)
      return error("factorial needs a whole number of at least 0", at);
    if (x.v > 170)
      return error("factorial of more than 170 is too large", at);
    number r = number::of(1);
    for (int64_t k = 2; k <= static_cast<int64_t>(x.v); ++k)
      r = times(r, number::of(k));
    return r;
  }

  std::optional<number> call(const std::string& f, const std::vector<number>& a, size_t at) {
    auto arity = [&](size_t lo, size_t hi) -> bool {
      if (a.size() >= lo && a.size() <= hi)
        return true;
      error(f + "() takes " +
                (lo == hi ? std::to_string(lo) : std::to_string(lo) + " or " + std::to_string(hi)) +
                " argument" + (hi == 1 ? "" : "s"),
            at);
      return false;
    };
    auto real = [&](double v) -> std::optional<number> {
      if (std::isnan(v))
        return error(f + "() is not defined there", at);
      if (!std::isfinite(v))
        return error(cat({"the result of ", f, "() is too large"}), at);
      // Exact when a double is a small whole number (sin(0), log(100)).
      if (std::abs(v) < 1e15 && std::abs(v - std::round(v)) < 1e-12 * std::max(1.0, std::abs(v)))
        return number::of(static_cast<int64_t>(std::llround(v)));
      return number::inexact(v);
    };
    if (f == "sqrt") {
      if (!arity(1, 1))
        return std::nullopt;
      if (a[0].v < 0)
        return error("sqrt() of a negative number is not a real number", at);
      if (auto r = root_exact(a[0], number::of(1, 2)))
        return r;
      return number::inexact(std::sqrt(a[0].v));
    }
    if (f == "abs")
      return arity(1, 1) ? std::optional{a[0].v < 0 ? negate(a[0]) : a[0]} : std::nullopt;
    if (f == "floor")
      return arity(1, 1) ? std::optional{floor_of(a[0])} : std::nullopt;
    if (f == "ceil")
      return arity(1, 1) ? std::optional{negate(floor_of(negate(a[0])))} : std::nullopt;
    if (f == "round") { // half away from zero, to `digits` decimals
      if (!arity(1, 2))
        return std::nullopt;
      int64_t digits = 0;
      if (a.size() == 2) {
        if (!a[1].integer() || std::abs(a[1].v) > 15)
          return error("round()'s digits must be a whole number from -15 to 15", at);
        digits = static_cast<int64_t>(a[1].v);
      }
      auto scale = *raise(number::of(10), number::of(std::abs(digits)), at);
      auto scaled = digits >= 0 ? times(a[0], scale) : divide(a[0], scale);
      auto half = number::of(1, 2);
      auto r = scaled.v < 0 ? negate(floor_of(plus(negate(scaled), half)))
                            : floor_of(plus(scaled, half));
      return digits >= 0 ? divide(r, scale) : times(r, scale);
    }
    if (f == "min" || f == "max") {
      if (a.empty())
        return error(f + "() needs at least one argument", at);
      auto best = a[0];
      for (auto& x : a)
        if (f == "min" ? x.v < best.v : x.v > best.v)
          best = x;
      return best;
    }
    if (f == "pow")
      return arity(2, 2) ? raise(a[0], a[1], at) : std::nullopt;
    if (f == "exp")
      return arity(1, 1) ? real(std::exp(a[0].v)) : std::nullopt;
    if (f == "ln" || f == "log" || f == "log10" || f == "log2") {
      if (!arity(1, f == "log" ? 2 : 1))
        return std::nullopt;
      if (a[0].v <= 0)
        return error(f + "() needs a number greater than 0", at);
      if (f == "ln")
        return real(std::log(a[0].v));
      if (f == "log2")
        return real(std::log2(a[0].v));
      if (a.size() == 2) {
        if (a[1].v <= 0 || a[1].v == 1)
          return error("log()'s base must be greater than 0 and not 1", at);
        return real(std::log(a[0].v) / std::log(a[1].v));
      }
      return real(std::log10(a[0].v));
    }
    if (f == "sin" || f == "cos" || f == "tan" || f == "asin" || f == "acos" || f == "atan") {
      if (!arity(1, 1))
        return std::nullopt;
      auto x = a[0].v;
      if ((f == "asin" || f == "acos") && (x < -1 || x > 1))
        return error(f + "() needs a number from -1 to 1", at);
      auto v = f == "sin"    ? std::sin(x)
               : f == "cos"  ? std::cos(x)
               : f == "tan"  ? std::tan(x)
               : f == "asin" ? std::asin(x)
               : f == "acos" ? std::acos(x)
                             : std::atan(x);
      if (f == "tan" && std::abs(std::cos(x)) < 1e-15)
        return error("tan() is not defined there", at);
      // sin(pi) is 1.2e-16 in doubles: what is that close to a whole number is one.
      if (std::abs(v - std::round(v)) < 1e-15)
        v = std::round(v);
      return real(v);
    }
    return error(cat({"unknown function '", f, "'"}), at);
  }

  static void format(const number& v, calculation& out) {
    if (v.exact) {
      // A terminating decimal when the denominator has no factor but 2 and 5.
      auto d = v.d;
      int twos = 0;
      int fives = 0;
      while (d % 2 == 0) {
        d /= 2;
        ++twos;
      }
      while (d % 5 == 0) {
        d /= 5;
        ++fives;
      }
      if (d == 1 && std::max(twos, fives) <= 18) {
        auto places = std::max(twos, fives);
        // n/d = n * (10^places / d) / 10^places, in 128 bits.
        int128 scaled = v.n;
        for (int k = 0; k < places - twos; ++k)
          scaled *= 2;
        for (int k = 0; k < places - fives; ++k)
          scaled *= 5;
        bool negative = scaled < 0;
        uint128 mag = negative ? -static_cast<uint128>(scaled) : static_cast<uint128>(scaled);
        // Digits least significant first, then written out the right way round.
        std::string reversed;
        do {
          reversed += static_cast<char>('0' + static_cast<int>(mag % 10));
          mag /= 10;
        } while (mag > 0);
        auto places_n = static_cast<size_t>(places);
        while (reversed.size() <= places_n && places_n > 0)
          reversed += '0'; // 0.05: at least one digit before the point
        std::string text = negative ? "-" : "";
        for (size_t k = reversed.size(); k-- > 0;) {
          text += reversed[k];
          if (k == places_n && places_n > 0)
            text += '.';
        }
        out.value = std::move(text);
        out.exact = true;
        return;
      }
      out.fraction = std::to_string(v.n) + "/" + std::to_string(v.d);
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.15g", v.v);
    out.value = buf;
    if (out.value == "-0")
      out.value = "0";
    out.exact = false;
  }
};

} // namespace

calculation calculate(std::string_view expression) {
  return parser{expression}.run();
}

} // namespace chatagent::actors
