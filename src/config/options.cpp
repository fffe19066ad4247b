#include "config/options.h"

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
  // Under memcheck every block goes through the checked paths, which report each
  // allocation and free to it.
  if (running_on_memcheck()) o.guard = true;
  if (o.guard) {
    o.debug_ring = true;
    o.fast_cap = 0;  // every block goes through the checked paths
  }
}

}  // namespace hakmem
