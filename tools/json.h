// A small, strict JSON reader (RFC 8259) for the stats files hakmem writes.
// Strict on purpose: a stats file that does not parse is a bug in its producer,
// and the report must say where rather than guess.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace hakmem_cli::json {

enum class Kind { null, boolean, number, string, array, object };

struct Member;

struct Value {
  Kind kind = Kind::null;
  bool boolean = false;
  // For strings the decoded UTF-8 contents; for numbers the literal as written,
  // so integers keep all 64 bits instead of passing through a double.
  std::string text;
  std::vector<Value> items;     // Kind::array
  std::vector<Member> members;  // Kind::object, in document order

  const Value* find(std::string_view key) const;
};

struct Member {
  std::string key;
  Value value;
};

class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& what, std::size_t line, std::size_t column)
      : std::runtime_error(what), line(line), column(column) {}
  std::size_t line;
  std::size_t column;
};

// Parses exactly one JSON value (surrounding whitespace allowed). Throws ParseError.
Value parse(std::string_view text);

const char* kind_name(Kind kind);

// Appends s as a JSON string literal that is also safe inside an HTML <script>
// element: '<', '>' and '&' are written as \u escapes so no "</script>" can appear.
void append_quoted(std::string& out, std::string_view s);

}  // namespace hakmem_cli::json
