// Shared helpers for the benchmark programs. Everything here is allocator-neutral:
// the programs call plain malloc/free/new/delete and are run under each allocator
// via LD_PRELOAD, so nothing in this header may depend on hakmem.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace bench {

inline double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// splitmix64: tiny, fast, and good enough to pick slots and sizes.
struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) without a division on the hot path.
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
  // Uniform in [lo, hi].
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }
};

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDull;
  z = (z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53ull;
  return z ^ (z >> 33);
}

// Keeps the compiler from proving an allocation dead and removing the malloc/free pair.
inline void escape(const void* p) { asm volatile("" : : "g"(p) : "memory"); }

// Reads one "Key:   123 kB" line of /proc/self/status with raw syscalls, so measuring
// RSS does not itself allocate through the allocator under test. Returns -1 if absent.
inline long status_kb(const char* key) {
  char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  size_t klen = strlen(key);
  for (char* line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : nullptr) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') return strtol(line + klen + 1, nullptr, 10);
  }
  return -1;
}
inline long rss_kb() { return status_kb("VmRSS"); }
inline long peak_rss_kb() { return status_kb("VmHWM"); }

// One machine-readable line per metric; the harness parses "RESULT name=value".
inline void result(const char* metric, double value) {
  printf("RESULT %s=%.9g\n", metric, value);
  fflush(stdout);
}

// Positional arguments with defaults; "-h"/"--help" anywhere prints the usage.
struct Args {
  int argc;
  char** argv;
  const char* usage;
  Args(int c, char** v, const char* u) : argc(c), argv(v), usage(u) {
    for (int i = 1; i < argc; ++i) {
      if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
        fputs(usage, stdout);
        exit(0);
      }
    }
  }
  long integer(int pos, long def) const { return pos < argc ? parse(argv[pos]) : def; }
  double real(int pos, double def) const { return pos < argc ? strtod(argv[pos], nullptr) : def; }

 private:
  long parse(const char* s) const {
    char* end = nullptr;
    double v = strtod(s, &end);  // accepts 1e6 as well as 1000000
    if (end == s || *end != '\0') {
      fprintf(stderr, "bad argument '%s'\n%s", s, usage);
      exit(2);
    }
    return static_cast<long>(v);
  }
};

// A mostly idle server: 16 small malloc/free pairs every 10 ms, for `seconds`.
inline void light_allocation(double seconds, uint64_t seed) {
  Rng rng(seed);
  double end = now_seconds() + seconds;
  while (now_seconds() < end) {
    for (int i = 0; i < 16; ++i) {
      char* p = static_cast<char*>(malloc(rng.between(16, 512)));
      p[0] = 1;
      escape(p);  // or the compiler drops the malloc/free pair altogether
      free(p);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace bench
