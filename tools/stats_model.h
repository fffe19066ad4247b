// The stats document that the allocator writes (HAKMEM_STATS=json:PATH or
// hak_stats_write_json), mirrored from hak_stats in include/hakmem/hakmem.h.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "json.h"

namespace hakmem_cli {

struct ClassStats {
  std::uint64_t index = 0;  // "class"
  std::uint64_t block_size = 0;
  std::uint64_t slabs = 0;
  std::uint64_t blocks_in_use = 0;
  std::uint64_t blocks_free = 0;
  std::uint64_t bytes_in_use = 0;
  std::uint64_t bytes_free = 0;
  std::uint64_t remote_frees = 0;
  std::uint64_t drains = 0;
  std::uint64_t adopts = 0;
  std::uint64_t refill_own_remote = 0;
  std::uint64_t refill_sticky = 0;
  std::uint64_t refill_mailbox = 0;
  std::uint64_t refill_adopt = 0;
  std::uint64_t refill_gate = 0;
  std::uint64_t refill_fresh = 0;
};

struct Stats {
  std::string version;  // "hakmem"
  std::uint64_t pid = 0;
  std::vector<ClassStats> classes;
  std::uint64_t superslabs = 0;
  std::uint64_t superslabs_peak = 0;
  std::uint64_t large_blocks = 0;
  std::uint64_t large_bytes = 0;
  std::uint64_t large_cached_bytes = 0;
  std::uint64_t bytes_mapped = 0;
  std::uint64_t bytes_mapped_peak = 0;
  std::uint64_t bytes_purged = 0;
  std::uint64_t rss_bytes = 0;
  std::uint64_t rss_peak_bytes = 0;
  std::uint64_t threads_live = 0;
  std::uint64_t threads_exited = 0;
  std::uint64_t os_maps = 0;
  std::uint64_t os_unmaps = 0;
};

// The JSON parsed but is not a stats document; what() names the offending field.
class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Every field of the format is required (a missing one means the producer and the
// reader disagree); unknown fields are ignored so the format can grow.
Stats stats_from_json(const json::Value& root);

// The normalized document (only the known fields), for embedding in the report.
std::string stats_to_json(const Stats& stats);

}  // namespace hakmem_cli
