#include "diag/report.h"

#include "diag/debug_ring.h"
#include "os/os.h"

namespace hakmem {

Line& Line::ch(char c) {
  if (len_ < sizeof(buf_) - 2) buf_[len_++] = c;
  return *this;
}

Line& Line::str(const char* s) {
  while (s && *s) ch(*s++);
  return *this;
}

Line& Line::u64(uint64_t v) {
  char tmp[24];
  int n = 0;
  do { tmp[n++] = char('0' + v % 10); v /= 10; } while (v);
  while (n) ch(tmp[--n]);
  return *this;
}

Line& Line::i64(int64_t v) {
  if (v < 0) { ch('-'); return u64(uint64_t(-(v + 1)) + 1); }
  return u64(uint64_t(v));
}

Line& Line::hex(uint64_t v) {
  str("0x");
  char tmp[16];
  int n = 0;
  do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  while (n) ch(tmp[--n]);
  return *this;
}

const char* Line::c_str() {
  buf_[len_] = 0;
  return buf_;
}

void Line::write(int fd) {
  buf_[len_] = '\n';
  os::write_all(fd, buf_, len_ + 1);
}

void fatal_pointer(const char* what, const void* p) {
  Line().str("hakmem: ").str(what).ch(' ').ptr(p).write();
  debug_ring_dump_all(2);
  os::abort_process();
}

void fatal(const char* msg) {
  Line().str("hakmem: ").str(msg).write();
  debug_ring_dump_all(2);
  os::abort_process();
}

}  // namespace hakmem
