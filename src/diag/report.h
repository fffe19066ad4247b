// Messages to stderr that never allocate and are safe in signal handlers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hakmem {

// A line assembled in a fixed buffer; longer text is cut, never allocated.
class Line {
 public:
  Line& str(const char* s);
  Line& u64(uint64_t v);
  Line& i64(int64_t v);
  Line& hex(uint64_t v);
  Line& ptr(const void* p) { return hex(reinterpret_cast<uintptr_t>(p)); }
  Line& ch(char c);
  void write(int fd = 2);  // appends '\n'
  const char* c_str();
  size_t size() const { return len_; }

 private:
  char buf_[512];
  size_t len_ = 0;
};

// "hakmem: <what> <ptr>" then the debug ring dump and abort(): the answer to a
// caller's bug (foreign pointer, double free) and to a broken invariant.
[[noreturn]] void fatal_pointer(const char* what, const void* p);
[[noreturn]] void fatal(const char* msg);

}  // namespace hakmem
