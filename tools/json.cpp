#include "json.h"

#include <set>
#include <vector>

namespace hakmem_cli::json {

namespace {

constexpr int kMaxDepth = 64;

// nlohmann's message is "[json.exception.parse_error.101] parse error at line 1,
// column 17: <what>": the place is given separately, so keep only <what>.
std::string reason(const nlohmann::json::parse_error& e) {
  std::string w = e.what();
  std::size_t at = w.find("column ");
  if (at != std::string::npos) at = w.find(": ", at);
  return at == std::string::npos ? w : w.substr(at + 2);
}

}  // namespace

Value parse(std::string_view text) {
  std::vector<std::set<std::string>> keys;  // of each object being read
  auto check = [&keys](int depth, nlohmann::json::parse_event_t event, Value& parsed) {
    using E = nlohmann::json::parse_event_t;
    if ((event == E::object_start || event == E::array_start) && depth >= kMaxDepth)
      throw ParseError("nesting deeper than " + std::to_string(kMaxDepth) + " levels", 0, 0);
    if (event == E::object_start) keys.emplace_back();
    if (event == E::object_end) keys.pop_back();
    if (event == E::key && !keys.back().insert(parsed.get<std::string>()).second)
      throw ParseError("duplicate key " + parsed.dump(), 0, 0);
    return true;
  };
  try {
    return Value::parse(text.begin(), text.end(), check);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset of the last character read.
    std::size_t end = e.byte > 0 && e.byte <= text.size() ? e.byte - 1 : text.size();
    std::size_t line = 1, column = 1;
    for (std::size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = reason(e);
    // nlohmann reads "012" as the number 0 followed by the number 12; say what it was.
    std::size_t digits = end;
    while (digits > 0 && text[digits - 1] >= '0' && text[digits - 1] <= '9') --digits;
    if (what.find("unexpected number literal") != std::string::npos && digits < end && text[digits] == '0')
      what = "leading zeros are not allowed (" + what + ")";
    throw ParseError(what, line, column);
  }
}

const char* kind_name(const Value& v) {
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_string()) return "a string";
  if (v.is_number()) return "a number";
  if (v.is_boolean()) return "a boolean";
  return "null";
}

std::string dump_for_html(const Value& v) {
  std::string out;
  for (char c : v.dump()) {
    if (c == '<') out += "\\u003c";
    else if (c == '>') out += "\\u003e";
    else if (c == '&') out += "\\u0026";
    else out += c;
  }
  return out;
}

}  // namespace hakmem_cli::json
