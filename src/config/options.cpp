#include "config/options.h"

#include <signal.h>
#include <stdlib.h>

#include "diag/report.h"
#include "diag/valgrind.h"

namespace hakmem {

Options g_options;

namespace {

// Default purge delay: long enough that a program cycling through the same
// memory does not pay a page fault per cycle, short enough that RSS falls within
// a second or two of a big free (measured with bench/rss_after_free).
constexpr uint32_t kDefaultPurgeDelayMs = 250;

void warn(const char* name, const char* value, const char* used) {
  Line().str("hakmem: warning: ignoring malformed ").str(name).str("='").str(value)
      .str("'; using ").str(used).write();
}

bool parse_u64(const char* s, uint64_t max, uint64_t* out) {
  if (!s || !*s) return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return false;
    v = v * 10 + uint64_t(*s - '0');
    if (v > max) return false;
  }
  *out = v;
  return true;
}

void read_bool(const char* name, bool* out) {
  const char* v = getenv(name);
  if (!v) return;
  if ((v[0] == '0' || v[0] == '1') && v[1] == 0) { *out = v[0] == '1'; return; }
  warn(name, v, *out ? "1" : "0");
}

void read_u32(const char* name, uint32_t max, uint32_t* out) {
  const char* v = getenv(name);
  if (!v) return;
  uint64_t x;
  if (parse_u64(v, max, &x)) { *out = uint32_t(x); return; }
  char used[16];
  Line l;
  l.u64(*out);
  const char* s = l.c_str();
  size_t i = 0;
  for (; s[i] && i < sizeof(used) - 1; i++) used[i] = s[i];
  used[i] = 0;
  warn(name, v, used);
}

void read_stats(Options& o) {
  const char* v = getenv("HAKMEM_STATS");
  if (!v) return;
  if (v[0] == '0' && v[1] == 0) return;
  if (v[0] == '1' && v[1] == 0) { o.stats = StatsMode::kText; return; }
  const char* prefix = "json:";
  size_t i = 0;
  while (prefix[i] && v[i] == prefix[i]) i++;
  if (!prefix[i] && v[i]) {
    size_t n = 0;
    for (const char* p = v + i; *p && n < sizeof(o.stats_path) - 1; p++) o.stats_path[n++] = *p;
    o.stats_path[n] = 0;
    o.stats = StatsMode::kJson;
    return;
  }
  warn("HAKMEM_STATS", v, "0");
}

// A path kept in a fixed buffer (no allocation at start-up); too long a one is refused.
bool copy_path(const char* v, char* out, size_t size) {
  size_t n = 0;
  while (v[n]) n++;
  if (n == 0 || n >= size) return false;
  for (size_t i = 0; i <= n; i++) out[i] = v[i];
  return true;
}

bool same(const char* a, const char* b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

// A number, or a name with or without "SIG" (USR1, SIGUSR2, ...).
int signal_number(const char* v) {
  uint64_t n;
  if (parse_u64(v, 64, &n)) return n >= 1 && n != SIGKILL && n != SIGSTOP ? int(n) : 0;
  if (v[0] == 'S' && v[1] == 'I' && v[2] == 'G') v += 3;
  static const struct { const char* name; int number; } kNames[] = {
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT},
      {"TERM", SIGTERM}, {"PROF", SIGPROF}, {"URG", SIGURG}, {"WINCH", SIGWINCH}};
  for (const auto& s : kNames)
    if (same(v, s.name)) return s.number;
  return 0;
}

void read_profile(Options& o) {
  if (const char* v = getenv("HAKMEM_PROFILE"); v && !copy_path(v, o.profile_path, sizeof(o.profile_path) - 24))
    warn("HAKMEM_PROFILE", v, "no profile");
  if (const char* v = getenv("HAKMEM_PROFILE_RATE")) {
    uint64_t x;
    if (parse_u64(v, uint64_t(1) << 40, &x) && x > 0) o.profile_rate = x;
    else warn("HAKMEM_PROFILE_RATE", v, "524288");
  }
  if (const char* v = getenv("HAKMEM_PROFILE_SIGNAL")) {
    if (int s = signal_number(v)) o.profile_signal = s;
    else warn("HAKMEM_PROFILE_SIGNAL", v, "none");
  }
}

}  // namespace

void options_init() {
  Options& o = g_options;
  o.purge_delay_ms = kDefaultPurgeDelayMs;
  read_bool("HAKMEM_TINY_SS_ADOPT", &o.adopt);
  read_u32("HAKMEM_TINY_FAST_CAP", 65535, &o.fast_cap);
  read_bool("HAKMEM_GUARD", &o.guard);
  read_bool("HAKMEM_DEBUG_RING", &o.debug_ring);
  read_stats(o);
  read_bool("HAKMEM_VERBOSE", &o.verbose);
  read_u32("HAKMEM_PURGE_DELAY_MS", 3600u * 1000u, &o.purge_delay_ms);
  read_u32("HAKMEM_RETAIN_MB", 1u << 20, &o.retain_mb);
  read_bool("HAKMEM_LARGE_THP", &o.large_thp);
  read_u32("HAKMEM_PURGE_THREAD", 2, &o.purge_thread);
  read_profile(o);
  // Under memcheck every block goes through the checked paths, which report each
  // allocation and free to it.
  if (running_on_memcheck()) o.guard = true;
  if (o.guard) {
    o.debug_ring = true;
    o.fast_cap = 0;  // every block goes through the checked paths
  }
}

}  // namespace hakmem
