#include "actors/builtin_plugins.hpp"

#include "actors/calculator.hpp"
#include "protocol/form.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <sstream>

namespace chatagent::actors {

using namespace protocol;

namespace {

plugin_field setting(std::string name, std::string type, bool required, std::string description,
                     std::string default_value = {}, bool secret = false,
                     std::vector<std::string> choices = {}) {
  plugin_field f;
  f.name = std::move(name);
  f.type = std::move(type);
  f.required = required;
  f.description = std::move(description);
  f.default_value = std::move(default_value);
  f.secret = secret;
  f.choices = std::move(choices);
  return f;
}

std::vector<plugin_info> make_catalog() {
  std::vector<plugin_info> out;
  {
    plugin_info p;
    p.id = "calculator";
    p.name = "计算器";
    p.description = "精确计算数学表达式（四则运算、乘方、阶乘、函数）";
    p.category = "utility";
    p.tool_description =
        "Evaluates an arithmetic expression exactly and returns its value. Supports + - * / "
        "// % ^ (power), ! (factorial), parentheses, pi, e and the functions sqrt, abs, floor, "
        "ceil, round, min, max, pow, exp, ln, log (log(x) is base 10, log(x, b) base b), log2, "
        "log10, sin, cos, tan, asin, acos, atan. Use it for any arithmetic instead of "
        "computing in your head.";
    p.parameters = R"({"type":"object","properties":{"expression":{"type":"string",)"
                   R"("description":"the expression, e.g. (12.5 + 7) * 3 / 4"}},)"
                   R"("required":["expression"]})";
    out.push_back(std::move(p));
  }
  {
    plugin_info p;
    p.id = "datetime";
    p.name = "日期时间";
    p.description = "查询任意时区的当前时间，换算时区，日期加减与间隔计算";
    p.category = "utility";
    p.config_schema.push_back(setting("default_timezone", "string", false,
                                      "默认时区（IANA 名称，如 Asia/Shanghai）", "\"UTC\""));
    p.tool_description =
        "Date and time: the current date and time in a time zone (operation now), a date-time "
        "in another zone (convert), a date-time plus or minus an amount (add), or the time "
        "between two date-times (diff). Time zones are IANA names such as Asia/Shanghai or "
        "America/New_York, UTC, or offsets such as +08:00. Date-times are ISO 8601 "
        "(2024-05-01 or 2024-05-01T14:30:00, with an optional Z or offset).";
    p.parameters =
        R"({"type":"object","properties":{)"
        R"("operation":{"type":"string","enum":["now","convert","add","diff"]},)"
        R"("timezone":{"type":"string","description":"time zone of the result, and of )"
        R"(a datetime without an offset"},)"
        R"("datetime":{"type":"string","description":"convert, add, diff: the date-time"},)"
        R"("to_timezone":{"type":"string","description":"convert: the zone to convert to"},)"
        R"("years":{"type":"integer"},"months":{"type":"integer"},"weeks":{"type":"number"},)"
        R"("days":{"type":"number"},"hours":{"type":"number"},"minutes":{"type":"number"},)"
        R"("seconds":{"type":"number"},)"
        R"("end":{"type":"string","description":"diff: the second date-time"}},)"
        R"("required":["operation"]})";
    out.push_back(std::move(p));
  }
  {
    plugin_info p;
    p.id = "weather";
    p.name = "天气查询";
    p.description = "获取实时天气信息";
    p.category = "utility";
    p.config_schema.push_back(setting("api_key", "string", true, "天气API密钥", {}, true));
    p.config_schema.push_back(
        setting("default_location", "string", false, "默认城市（用户未指明地点时使用）"));
    p.config_schema.push_back(setting(
        "base_url", "string", false, "天气 API 地址（OpenWeatherMap 兼容的 /weather 接口所在路径）",
        "\"https://api.openweathermap.org/data/2.5\""));
    p.config_schema.push_back(setting("units", "string", false, "单位", "\"metric\"", false,
                                      {"metric", "imperial", "standard"}));
    p.config_schema.push_back(setting("lang", "string", false, "描述语言", "\"zh_cn\""));
    p.tool_description =
        "Current weather at a place: conditions, temperature, feels-like, humidity, wind. "
        "Leave location out to use the bot's default location.";
    p.parameters = R"({"type":"object","properties":{"location":{"type":"string",)"
                   R"("description":"city name, optionally with a country code, e.g. Beijing )"
                   R"(or London,GB"}}})";
    out.push_back(std::move(p));
  }
  return out;
}

tool_outcome failure(std::string why) {
  tool_outcome o;
  o.ok = false;
  o.content = std::move(why);
  return o;
}

tool_outcome success(json_writer& w) {
  tool_outcome o;
  o.ok = true;
  o.content = w.take();
  return o;
}

const std::string* string_arg(const json_value& args, std::string_view name) {
  auto v = args.find(name);
  return v != nullptr && v->is_string() ? &v->as_string() : nullptr;
}

// -- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ------------------

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct civil {
  int64_t y;
  unsigned m, d;
};

civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr std::array<unsigned, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

constexpr std::array<const char*, 7> weekdays{"Thursday", "Friday",  "Saturday", "Sunday",
                                              "Monday",   "Tuesday", "Wednesday"};

// -- time zones -------------------------------------------------------------------------

struct tz_data {
  std::vector<int64_t> transitions;
  std::vector<uint8_t> kinds; // per transition, into `types`
  std::vector<zone_offset> types;
};

int64_t be(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | p[i];
  if (n == 4)
    return static_cast<int32_t>(static_cast<uint32_t>(v));
  return static_cast<int64_t>(v);
}

/// Reads a TZif file (version 2 or later: the 64-bit section).
std::optional<tz_data> read_tzif(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::nullopt;
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  auto u = reinterpret_cast<const unsigned char*>(bytes.data());
  auto size = bytes.size();
  if (size < 44 || std::memcmp(u, "TZif", 4) != 0 || u[4] < '2')
    return std::nullopt;
  auto counts = [&](size_t at, int64_t c[6]) {
    for (int i = 0; i < 6; ++i)
      c[i] = be(u + at + 20 + 4 * i, 4);
  };
  int64_t c[6]; // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  counts(0, c);
  size_t v1 = static_cast<size_t>(c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0]);
  size_t h2 = 44 + v1;
  if (size < h2 + 44 || std::memcmp(u + h2, "TZif", 4) != 0)
    return std::nullopt;
  counts(h2, c);
  size_t at = h2 + 44;
  size_t need = static_cast<size_t>(c[3] * 9 + c[4] * 6 + c[5]);
  if (c[4] <= 0 || size < at + need)
    return std::nullopt;
  tz_data z;
  for (int64_t i = 0; i < c[3]; ++i)
    z.transitions.push_back(be(u + at + 8 * i, 8));
  at += static_cast<size_t>(c[3] * 8);
  for (int64_t i = 0; i < c[3]; ++i)
    z.kinds.push_back(u[at + i]);
  at += static_cast<size_t>(c[3]);
  size_t chars = at + static_cast<size_t>(c[4] * 6);
  for (int64_t i = 0; i < c[4]; ++i) {
    zone_offset o;
    o.seconds = static_cast<int32_t>(be(u + at + 6 * i, 4));
    auto idx = u[at + 6 * i + 5];
    if (idx < c[5]) {
      auto s = reinterpret_cast<const char*>(u + chars + idx);
      o.abbreviation.assign(s, strnlen(s, static_cast<size_t>(c[5]) - idx));
    }
    z.types.push_back(std::move(o));
  }
  for (auto k : z.kinds)
    if (k >= z.types.size())
      return std::nullopt;
  return z;
}

/// `+08:00`, `-0530`, `+8`, after an optional `UTC`/`GMT`.
std::optional<int32_t> fixed_offset(std::string_view s) {
  if (s.starts_with("UTC") || s.starts_with("GMT"))
    s.remove_prefix(3);
  if (s.empty())
    return 0;
  if (s[0] != '+' && s[0] != '-')
    return std::nullopt;
  int sign = s[0] == '-' ? -1 : 1;
  s.remove_prefix(1);
  int h = 0, m = 0;
  auto digits = [](std::string_view d) {
    return !d.empty() &&
           std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (auto colon = s.find(':'); colon != std::string_view::npos) {
    if (!digits(s.substr(0, colon)) || !digits(s.substr(colon + 1)) || colon > 2 ||
        s.size() - colon - 1 != 2)
      return std::nullopt;
    h = std::stoi(std::string{s.substr(0, colon)});
    m = std::stoi(std::string{s.substr(colon + 1)});
  } else if (digits(s) && s.size() <= 2) {
    h = std::stoi(std::string{s});
  } else if (digits(s) && s.size() == 4) {
    h = std::stoi(std::string{s.substr(0, 2)});
    m = std::stoi(std::string{s.substr(2)});
  } else {
    return std::nullopt;
  }
  if (h > 14 || m > 59)
    return std::nullopt;
  return sign * (h * 3600 + m * 60);
}

bool plausible_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/' || name.find("..") != name.npos)
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
           c == '+';
  });
}

/// An ISO 8601 date or date-time: its UTC seconds, given the zone for times without an
/// offset. Nothing when unreadable.
std::optional<int64_t> parse_datetime(std::string_view s, std::string_view zone) {
  auto num = [&](size_t at, size_t n, int& out) {
    if (at + n > s.size())
      return false;
    auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + n, out);
    return ec == std::errc{} && end == s.data() + at + n;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!num(0, 4, y) || s.size() < 10 || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
      !num(8, 2, d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || static_cast<unsigned>(d) > days_in_month(y, mo))
    return std::nullopt;
  size_t at = 10;
  if (at < s.size() && (s[at] == 'T' || s[at] == ' ')) {
    if (!num(at + 1, 2, h) || at + 3 >= s.size() || s[at + 3] != ':' || !num(at + 4, 2, mi))
      return std::nullopt;
    at += 6;
    if (at < s.size() && s[at] == ':') {
      if (!num(at + 1, 2, sec))
        return std::nullopt;
      at += 3;
      if (at < s.size() && s[at] == '.') // fractions are dropped
        for (++at; at < s.size() && std::isdigit(static_cast<unsigned char>(s[at])); ++at) {
        }
    }
    if (h > 23 || mi > 59 || sec > 60)
      return std::nullopt;
  }
  int64_t local = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                  h * 3600 + mi * 60 + sec;
  auto rest = s.substr(at);
  if (rest == "Z" || rest == "z")
    return local;
  if (!rest.empty()) {
    auto off = fixed_offset(rest);
    if (!off)
      return std::nullopt;
    return local - *off;
  }
  // Local time in `zone`: the offset that maps back onto it (the earlier one in a fold).
  auto first = offset_in(zone, local);
  if (!first)
    return std::nullopt;
  auto guess = local - first->seconds;
  auto second = offset_in(zone, guess);
  return second ? local - second->seconds : guess;
}

void write_moment(json_writer& w, int64_t unix_s, std::string_view zone) {
  auto off = offset_in(zone, unix_s).value_or(zone_offset{});
  auto local = unix_s + off.seconds;
  auto days = floor_div(local, 86400);
  auto secs = local - days * 86400;
  auto c = civil_from_days(days);
  char buf[64];
  int o = std::abs(off.seconds);
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld%c%02d:%02d",
                static_cast<long long>(c.y), c.m, c.d, static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                off.seconds < 0 ? '-' : '+', o / 3600, o / 60 % 60);
  char date[16];
  std::snprintf(date, sizeof(date), "%04lld-%02u-%02u", static_cast<long long>(c.y), c.m, c.d);
  w.member("datetime", buf)
      .member("date", date)
      .member("weekday", weekdays[static_cast<size_t>(((days % 7) + 7) % 7)])
      .member("timezone", zone)
      .member("utc_offset", std::string{buf + 19});
  if (!off.abbreviation.empty())
    w.member("abbreviation", off.abbreviation);
  w.member("unix_time", unix_s);
}

} // namespace

const std::vector<plugin_info>& builtin_plugins() {
  static const std::vector<plugin_info> catalog = make_catalog();
  return catalog;
}

tool_outcome run_calculator(const json_value& args) {
  auto expr = string_arg(args, "expression");
  if (expr == nullptr)
    return failure("the argument 'expression' (a string) is required");
  auto r = calculate(*expr);
  if (!r.ok)
    return failure("cannot evaluate '" + *expr + "': " + r.error + " (at character " +
                   std::to_string(r.position + 1) + ")");
  json_writer w;
  w.begin_object().member("expression", *expr).member("result", r.value).member("exact", r.exact);
  if (!r.fraction.empty())
    w.member("fraction", r.fraction);
  w.end_object();
  return success(w);
}

std::optional<zone_offset> offset_in(std::string_view zone, int64_t unix_s) {
  if (auto fixed = fixed_offset(zone)) {
    zone_offset o;
    o.seconds = *fixed;
    o.abbreviation = *fixed == 0 ? "UTC" : "";
    return o;
  }
  if (!plausible_zone_name(zone))
    return std::nullopt;
  // Zone files are read once per process and kept (a few hundred at most).
  static std::mutex mtx;
  static std::map<std::string, std::optional<tz_data>, std::less<>> cache;
  std::lock_guard<std::mutex> guard{mtx};
  auto i = cache.find(zone);
  if (i == cache.end())
    i = cache.emplace(std::string{zone}, read_tzif("/usr/share/zoneinfo/" + std::string{zone}))
            .first;
  if (!i->second)
    return std::nullopt;
  auto& z = *i->second;
  if (z.transitions.empty())
    return z.types.front();
  auto t = std::upper_bound(z.transitions.begin(), z.transitions.end(), unix_s);
  if (t == z.transitions.begin()) // before the first transition: the first standard type
    return z.types.front();
  // After the last transition the zone keeps its last type (the files list them to 2037).
  return z.types[z.kinds[static_cast<size_t>(t - z.transitions.begin() - 1)]];
}

tool_outcome run_datetime(const json_value& args, const json_value& config, int64_t now_ms) {
  std::string zone = "UTC";
  if (auto d = string_arg(config, "default_timezone"); d && !d->empty())
    zone = *d;
  if (auto z = string_arg(args, "timezone"); z && !z->empty())
    zone = *z;
  if (!offset_in(zone, now_ms / 1000))
    return failure("unknown time zone '" + zone +
                   "': use an IANA name such as Asia/Shanghai, UTC, or an offset such as +08:00");
  std::string op = "now";
  if (auto o = string_arg(args, "operation"))
    op = *o;
  auto moment = [&](const char* name) -> std::optional<int64_t> {
    auto s = string_arg(args, name);
    if (s == nullptr)
      return std::nullopt;
    return parse_datetime(*s, zone);
  };
  json_writer w;
  if (op == "now") {
    w.begin_object();
    write_moment(w, floor_div(now_ms, 1000), zone);
    w.end_object();
    return success(w);
  }
  if (op != "convert" && op != "add" && op != "diff")
    return failure("unknown operation '" + op + "': use now, convert, add or diff");
  auto start = moment("datetime");
  if (!start)
    return failure("the argument 'datetime' must be an ISO 8601 date or date-time, such as "
                   "2024-05-01 or 2024-05-01T14:30:00+08:00");
  if (op == "convert") {
    std::string to = zone;
    if (auto t = string_arg(args, "to_timezone"); t && !t->empty())
      to = *t;
    if (!offset_in(to, *start))
      return failure("unknown time zone '" + to + "'");
    w.begin_object();
    write_moment(w, *start, to);
    w.end_object();
    return success(w);
  }
  if (op == "diff") {
    auto end = moment("end");
    if (!end)
      return failure("the argument 'end' must be an ISO 8601 date or date-time");
    auto secs = *end - *start;
    w.begin_object()
        .member("seconds", secs)
        .member("minutes", static_cast<double>(secs) / 60.0)
        .member("hours", static_cast<double>(secs) / 3600.0)
        .member("days", static_cast<double>(secs) / 86400.0)
        .member("whole_days", secs / 86400)
        .end_object();
    return success(w);
  }
  // add: calendar months and years first (clamped to the month's end), then durations.
  auto number = [&](const char* name, double& out) -> bool {
    auto v = args.find(name);
    if (v == nullptr || v->is_null())
      return true;
    if (!v->is_number() || !std::isfinite(v->as_double()) || std::abs(v->as_double()) > 1e7)
      return false;
    out = v->as_double();
    return true;
  };
  double years = 0, months = 0, weeks = 0, days = 0, hours = 0, minutes = 0, seconds = 0;
  for (auto [name, out] :
       {std::pair{"years", &years}, std::pair{"months", &months}, std::pair{"weeks", &weeks},
        std::pair{"days", &days}, std::pair{"hours", &hours}, std::pair{"minutes", &minutes},
        std::pair{"seconds", &seconds}})
    if (!number(name, *out))
      return failure(std::string{"the argument '"} + name + "' must be a number");
  if (years != std::floor(years) || months != std::floor(months))
    return failure("years and months must be whole numbers");
  auto off = offset_in(zone, *start).value_or(zone_offset{});
  auto local = *start + off.seconds;
  auto day = floor_div(local, 86400);
  auto time_of_day = local - day * 86400;
  auto c = civil_from_days(day);
  auto total_months =
      c.y * 12 + (c.m - 1) + static_cast<int64_t>(years) * 12 + static_cast<int64_t>(months);
  int64_t y = floor_div(total_months, 12);
  auto m = static_cast<unsigned>(total_months - y * 12 + 1);
  auto d = std::min(c.d, days_in_month(y, m));
  auto shifted_local = days_from_civil(y, m, d) * 86400 + time_of_day;
  // Back to UTC in the zone (the offset may differ on the new date), then the durations.
  auto o2 = offset_in(zone, shifted_local - off.seconds).value_or(off);
  auto result = shifted_local - o2.seconds +
                static_cast<int64_t>(std::llround(weeks * 604800 + days * 86400 + hours * 3600 +
                                                  minutes * 60 + seconds));
  w.begin_object();
  write_moment(w, result, zone);
  w.end_object();
  return success(w);
}

weather_request build_weather_request(const json_value& args, const json_value& config) {
  weather_request r;
  auto location = string_arg(args, "location");
  if (location == nullptr || location->empty())
    location = string_arg(config, "default_location");
  if (location == nullptr || location->empty()) {
    r.error = "no location: pass 'location' (the bot has no default_location)";
    return r;
  }
  auto key = string_arg(config, "api_key");
  if (key == nullptr || key->empty()) {
    r.error = "the weather plugin has no api_key configured";
    return r;
  }
  std::string base = "https://api.openweathermap.org/data/2.5";
  if (auto b = string_arg(config, "base_url"); b && !b->empty())
    base = *b;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  std::string units = "metric";
  if (auto u = string_arg(config, "units"); u && !u->empty())
    units = *u;
  r.url = base + "/weather?q=" + protocol::form_escape(*location) +
          "&appid=" + protocol::form_escape(*key) + "&units=" + protocol::form_escape(units);
  if (auto l = string_arg(config, "lang"); l && !l->empty())
    r.url += "&lang=" + protocol::form_escape(*l);
  r.location = *location;
  return r;
}

tool_outcome read_weather_answer(long status, std::string_view body, std::string_view location) {
  auto doc = parse_json(body);
  std::string message;
  if (doc && doc->is_object())
    if (auto m = doc->find("message"); m && m->is_string())
      message = m->as_string();
  if (status == 401)
    return failure("the weather service refused the plugin's api_key" +
                   (message.empty() ? std::string{} : ": " + message));
  if (status == 404)
    return failure("the weather service does not know the place '" + std::string{location} + "'" +
                   (message.empty() ? std::string{} : ": " + message));
  if (status < 200 || status >= 300)
    return failure("the weather service answered HTTP " + std::to_string(status) +
                   (message.empty() ? std::string{} : ": " + message));
  if (!doc || !doc->is_object())
    return failure("the weather service sent an unreadable answer");
  auto number = [](const json_value* obj, std::string_view name) -> const json_value* {
    if (obj == nullptr)
      return nullptr;
    auto v = obj->find(name);
    return v != nullptr && v->is_number() ? v : nullptr;
  };
  json_writer w;
  w.begin_object();
  if (auto n = doc->find("name"); n && n->is_string() && !n->as_string().empty())
    w.member("location", n->as_string());
  else
    w.member("location", location);
  if (auto sys = doc->find("sys"))
    if (auto c = sys->find("country"); c && c->is_string())
      w.member("country", c->as_string());
  if (auto ws = doc->find("weather"); ws && ws->is_array() && !ws->as_array().empty()) {
    auto& first = ws->as_array().front();
    if (auto d = first.find("description"); d && d->is_string())
      w.member("conditions", d->as_string());
    else if (auto m = first.find("main"); m && m->is_string())
      w.member("conditions", m->as_string());
  }
  auto main = doc->find("main");
  if (main == nullptr || number(main, "temp") == nullptr)
    return failure("the weather service's answer has no temperature");
  w.member("temperature", number(main, "temp")->as_double());
  if (auto v = number(main, "feels_like"))
    w.member("feels_like", v->as_double());
  if (auto v = number(main, "humidity"))
    w.member("humidity_percent", v->as_double());
  if (auto v = number(main, "pressure"))
    w.member("pressure_hpa", v->as_double());
  if (auto v = number(doc->find("wind"), "speed"))
    w.member("wind_speed", v->as_double());
  w.end_object();
  return success(w);
}

} // namespace chatagent::actors
