// Messages to stderr that never allocate and are safe in signal handlers.
#pragma once
#include <cstddef>
#include <cstdint>

#include "os/os.h"

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

// Buffered writer to a file descriptor; never allocates.
class Out {
 public:
  explicit Out(int fd) : fd_(fd) {}
  ~Out() { flush(); }
  Out& s(const char* str) {
    while (*str) c(*str++);
    return *this;
  }
  Out& u(uint64_t v) {
    Line l;
    l.u64(v);
    return s(l.c_str());
  }
  Out& c(char ch) {
    if (n_ == sizeof(buf_)) flush();
    buf_[n_++] = ch;
    return *this;
  }
  Out& kv(const char* key, uint64_t v, bool comma = true) {
    s("\"").s(key).s("\":").u(v);
    return comma ? c(',') : *this;
  }
  Out& pad(const char* str, size_t width) {
    size_t len = 0;
    while (str[len]) len++;
    for (; len < width; len++) c(' ');
    return s(str);
  }
  Out& padu(uint64_t v, size_t width) {
    Line l;
    l.u64(v);
    return pad(l.c_str(), width);
  }
  void flush() {
    os::write_all(fd_, buf_, n_);
    n_ = 0;
  }

 private:
  int fd_;
  size_t n_ = 0;
  char buf_[4096];
};

}  // namespace hakmem
