#include "actors/calculator.hpp"

#include <gtest/gtest.h>

using chatagent::actors::calculate;

namespace {

/// The value of `expr`, or "error: <why>".
std::string eval(std::string_view expr) {
  auto r = calculate(expr);
  if (r.ok)
    return r.value;
  std::string out = "error: ";
  out += r.error;
  return out;
}

} // namespace

TEST(calculator, precedence_and_associativity) {
  EXPECT_EQ(eval("2 + 3 * 4"), "14");
  EXPECT_EQ(eval("(2 + 3) * 4"), "20");
  EXPECT_EQ(eval("10 - 4 - 3"), "3");
  EXPECT_EQ(eval("100 / 10 / 5"), "2");
  EXPECT_EQ(eval("2 ^ 3 ^ 2"), "512");
  EXPECT_EQ(eval("2 ** 10"), "1024");
  EXPECT_EQ(eval("-2 ^ 2"), "-4");
  EXPECT_EQ(eval("(-2) ^ 2"), "4");
  EXPECT_EQ(eval("2 ^ -1"), "0.5");
  EXPECT_EQ(eval("--3"), "3");
  EXPECT_EQ(eval("3!"), "6");
  EXPECT_EQ(eval("2 * 3!"), "12");
  EXPECT_EQ(eval("12 × 3 ÷ 4"), "9");
  EXPECT_EQ(eval("（1 + 2）× 3"), "9");
}

TEST(calculator, arithmetic_is_exact_while_it_can_be) {
  EXPECT_EQ(eval("0.1 + 0.2"), "0.3");
  EXPECT_EQ(eval("1 / 3 * 3"), "1");
  EXPECT_EQ(eval("1.1 * 1.1"), "1.21");
  EXPECT_EQ(eval("7 / 8"), "0.875");
  EXPECT_EQ(eval("1e3 + 2.5E-2"), "1000.025");
  EXPECT_EQ(eval("20!"), "2432902008176640000");
  EXPECT_EQ(eval("10 // 3"), "3");
  EXPECT_EQ(eval("-7 // 2"), "-4");
  EXPECT_EQ(eval("10 % 3"), "1");
  EXPECT_EQ(eval("-7 % 3"), "2");
  EXPECT_EQ(eval("0.3 - 0.1"), "0.2");
  EXPECT_EQ(eval("1 / 20"), "0.05");
  EXPECT_EQ(eval("-1 / 2"), "-0.5");
  EXPECT_EQ(eval("1 / 1024"), "0.0009765625");
  auto third = calculate("1/3");
  ASSERT_TRUE(third.ok);
  EXPECT_FALSE(third.exact);
  EXPECT_EQ(third.fraction, "1/3");
  EXPECT_EQ(third.value, "0.333333333333333");
  auto exact = calculate("2.5 * 4");
  EXPECT_TRUE(exact.exact);
  EXPECT_TRUE(exact.fraction.empty());
  // Past 64-bit fractions the answer is a double.
  EXPECT_EQ(eval("30!"), "2.65252859812191e+32");
  EXPECT_EQ(eval("9223372036854775807 + 1"), "9.22337203685478e+18");
}

TEST(calculator, functions_and_constants) {
  EXPECT_EQ(eval("sqrt(16)"), "4");
  EXPECT_EQ(eval("sqrt(9/4)"), "1.5");
  EXPECT_EQ(eval("sqrt(2)"), "1.4142135623731");
  EXPECT_EQ(eval("sin(pi / 2)"), "1");
  EXPECT_EQ(eval("cos(0)"), "1");
  EXPECT_EQ(eval("sin(pi)"), "0");
  EXPECT_EQ(eval("log(100)"), "2");
  EXPECT_EQ(eval("log(8, 2)"), "3");
  EXPECT_EQ(eval("log2(1024)"), "10");
  EXPECT_EQ(eval("ln(e)"), "1");
  EXPECT_EQ(eval("abs(-3.5)"), "3.5");
  EXPECT_EQ(eval("floor(-2.5)"), "-3");
  EXPECT_EQ(eval("ceil(2.1)"), "3");
  EXPECT_EQ(eval("round(2.5)"), "3");
  EXPECT_EQ(eval("round(-2.5)"), "-3");
  EXPECT_EQ(eval("round(3.14159, 2)"), "3.14");
  EXPECT_EQ(eval("min(3, 1, 2)"), "1");
  EXPECT_EQ(eval("max(3, 1, 2)"), "3");
  EXPECT_EQ(eval("pow(2, 0.5) ^ 2"), "2");
  EXPECT_EQ(eval("PI"), "3.14159265358979");
  EXPECT_EQ(eval("8 ^ (1/3)"), "2");
}

TEST(calculator, errors_say_what_and_where) {
  auto div = calculate("1 / (2 - 2)");
  EXPECT_FALSE(div.ok);
  EXPECT_EQ(div.error, "division by zero");
  EXPECT_EQ(div.position, 2u);
  EXPECT_EQ(eval("5 % 0"), "error: remainder of a division by zero");
  EXPECT_EQ(eval("2 +"), "error: the expression ends too early");
  EXPECT_EQ(eval("(1 + 2"), "error: a ')' is missing");
  EXPECT_EQ(eval("1 + 2)"), "error: unexpected ')'");
  EXPECT_EQ(eval("2 $ 3"), "error: unexpected '$'");
  EXPECT_EQ(eval("foo(1)"), "error: unknown function 'foo'");
  EXPECT_EQ(eval("x + 1"), "error: unknown name 'x'");
  EXPECT_EQ(eval("sqrt(-1)"), "error: sqrt() of a negative number is not a real number");
  EXPECT_EQ(eval("log(0)"), "error: log() needs a number greater than 0");
  EXPECT_EQ(eval("asin(2)"), "error: asin() needs a number from -1 to 1");
  EXPECT_EQ(eval("(-8) ^ 0.5"),
            "error: a negative number to a fractional power is not a real number");
  EXPECT_EQ(eval("0 ^ -1"), "error: zero to a negative power");
  EXPECT_EQ(eval("2.5!"), "error: factorial needs a whole number of at least 0");
  EXPECT_EQ(eval("171!"), "error: factorial of more than 170 is too large");
  EXPECT_EQ(eval("10 ^ 400"), "error: the result is too large");
  EXPECT_EQ(eval("sqrt(1, 2)"), "error: sqrt() takes 1 argument");
  EXPECT_EQ(eval(""), "error: the expression ends too early");
  EXPECT_EQ(eval("__import__('os')"), "error: unknown function '__import__'");
  EXPECT_EQ(eval(std::string(1001, '1')), "error: the expression is longer than 1000 characters");
  EXPECT_EQ(eval(std::string(100, '(') + "1" + std::string(100, ')')),
            "error: the expression is nested too deeply");
}
