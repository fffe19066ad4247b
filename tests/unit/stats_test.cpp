// hak_stats_get / hak_stats_print / hak_stats_write_json / hak_collect.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "test_util.h"

using namespace hakmem_test;

namespace {

uint64_t total_blocks_in_use(const hak_stats& s) {
  uint64_t sum = 0;
  for (uint32_t i = 0; i < s.num_classes; ++i) sum += s.classes[i].blocks_in_use;
  return sum;
}

size_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return pages_resident * page_size();
}

std::string read_fd(int fd) {
  std::string out;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t r; (r = read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(r));
  return out;
}

}  // namespace

TEST(Stats, SizeClassesAreSane) {
  void* warm = hak_malloc(16);
  hak_stats s{};
  hak_stats_get(&s);
  ASSERT_GT(s.num_classes, 0u);
  ASSERT_LE(s.num_classes, static_cast<uint32_t>(HAK_STATS_MAX_CLASSES));
  EXPECT_GE(s.classes[0].block_size, 8u);
  EXPECT_LE(s.classes[0].block_size, 16u);
  for (uint32_t i = 0; i < s.num_classes; ++i) {
    EXPECT_EQ(s.classes[i].block_size % 16, 0u) << "class " << i << " breaks 16-byte alignment";
    if (i > 0)
      EXPECT_GT(s.classes[i].block_size, s.classes[i - 1].block_size) << "class " << i;
  }
  EXPECT_GE(s.classes[s.num_classes - 1].block_size, 128 * KiB);
  hak_free(warm);
}

TEST(Stats, CountersFollowAllocation) {
  hak_stats before{};
  hak_stats_get(&before);
  constexpr int kBlocks = 5000;
  std::vector<void*> v;
  for (int i = 0; i < kBlocks; ++i) v.push_back(hak_malloc(100));
  void* large = hak_malloc(3 * MiB);
  ASSERT_NE(large, nullptr);
  memset(large, 1, 3 * MiB);

  hak_stats s{};
  hak_stats_get(&s);
  EXPECT_GT(s.bytes_mapped, 0u);
  EXPECT_GE(s.bytes_mapped_peak, s.bytes_mapped);
  EXPECT_GE(s.bytes_mapped, 3 * MiB + kBlocks * 100);
  EXPECT_GT(s.superslabs, 0u);
  EXPECT_GE(s.superslabs_peak, s.superslabs);
  EXPECT_GE(s.large_blocks, 1u);
  EXPECT_GE(s.large_bytes, 3 * MiB);
  EXPECT_GE(s.threads_live, 1u);
  EXPECT_GT(s.os_maps, 0u);
  EXPECT_GT(s.rss_bytes, 0u);
  EXPECT_GE(s.rss_peak_bytes, s.rss_bytes);
  EXPECT_GE(total_blocks_in_use(s), total_blocks_in_use(before) + kBlocks);
  uint64_t class_bytes = 0;
  for (uint32_t i = 0; i < s.num_classes; ++i) class_bytes += s.classes[i].bytes_in_use;
  EXPECT_GE(class_bytes, kBlocks * 100u);

  for (void* p : v) hak_free(p);
  hak_free(large);
  hak_stats after{};
  hak_stats_get(&after);
  EXPECT_LE(after.large_blocks + 1, s.large_blocks);
}

TEST(Stats, PrintStartsWithHakmem) {
  char path[] = "/tmp/hakmem_stats_print_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  void* p = hak_malloc(1000);
  hak_stats_print(fd);
  hak_free(p);
  std::string out = read_fd(fd);
  close(fd);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.rfind("hakmem", 0), 0u) << out.substr(0, 200);
  EXPECT_EQ(out.back(), '\n');
}

TEST(Stats, WriteJson) {
  char dir[] = "/tmp/hakmem_stats_json_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/stats.json";
  void* p = hak_malloc(1000);
  ASSERT_EQ(hak_stats_write_json(path.c_str()), 0) << strerror(errno);
  hak_free(p);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string json = ss.str();
  unlink(path.c_str());
  rmdir(dir);
  while (!json.empty() && isspace(static_cast<unsigned char>(json.back()))) json.pop_back();
  ASSERT_FALSE(json.empty());
  EXPECT_EQ(json.front(), '{');
  EXPECT_EQ(json.back(), '}');
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    char ch = json[i];
    if (in_string) {
      if (ch == '\\') ++i;
      else if (ch == '"') in_string = false;
      continue;
    }
    if (ch == '"') in_string = true;
    if (ch == '{' || ch == '[') ++depth;
    if (ch == '}' || ch == ']') --depth;
    ASSERT_GE(depth, 0) << "unbalanced JSON at " << i;
  }
  EXPECT_EQ(depth, 0);
  EXPECT_FALSE(in_string);
  EXPECT_NE(json.find("\"bytes_mapped\""), std::string::npos) << json.substr(0, 300);
}

TEST(Stats, WriteJsonToBadPathFails) {
  errno = 0;
  EXPECT_EQ(hak_stats_write_json("/nonexistent-dir-hakmem/x/stats.json"), -1);
  EXPECT_NE(errno, 0);
}

// hak_collect gives free pages back now: after freeing 64 MiB of touched small and
// large blocks, the resident set must fall by most of it.
TEST(Collect, GivesFreedMemoryBackToTheOS) {
  constexpr size_t kSmallBytes = 32 * MiB;
  constexpr size_t kBlock = 256;
  std::vector<void*> small(kSmallBytes / kBlock);
  std::vector<void*> large(8);
  hak_collect();
  size_t rss_start = rss_bytes();
  for (auto& p : small) {
    p = hak_malloc(kBlock);
    ASSERT_NE(p, nullptr);
    memset(p, 0x5A, kBlock);
  }
  for (auto& p : large) {
    p = hak_malloc(4 * MiB);
    ASSERT_NE(p, nullptr);
    memset(p, 0x5A, 4 * MiB);
  }
  size_t rss_full = rss_bytes();
  ASSERT_GE(rss_full, rss_start + 48 * MiB);
  hak_stats before{};
  hak_stats_get(&before);
  for (auto p : small) hak_free(p);
  for (auto p : large) hak_free(p);
  hak_collect();
  size_t rss_after = rss_bytes();
  hak_stats after{};
  hak_stats_get(&after);
  EXPECT_LT(rss_after, rss_full - 48 * MiB)
      << "rss start " << rss_start << " full " << rss_full << " after collect " << rss_after;
  EXPECT_GE(after.bytes_purged, before.bytes_purged + 48 * MiB);
}
