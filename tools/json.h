// JSON for the files hakmem writes, read with nlohmann-json and held to two rules it does
// not enforce itself: no duplicate keys (nlohmann keeps the last one silently, and a
// stats file with two "pid"s is a bug in its producer) and no nesting deeper than 64
// levels (the files are flat; a deep document is broken or hostile).
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace hakmem_cli::json {

using Value = nlohmann::json;

class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& what, std::size_t line, std::size_t column)
      : std::runtime_error(what), line(line), column(column) {}
  std::size_t line;    // 1-based; 0 when the problem has no single place (a duplicate key)
  std::size_t column;
};

// Parses exactly one JSON value (surrounding whitespace allowed). Throws ParseError.
Value parse(std::string_view text);

// "an object", "a string", ...: for messages.
const char* kind_name(const Value& v);

// v as JSON that is also safe inside an HTML <script> element: '<', '>' and '&' (which
// only ever occur inside strings) are written as \u escapes, so no "</script>" appears.
std::string dump_for_html(const Value& v);

}  // namespace hakmem_cli::json
