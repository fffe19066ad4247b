// A small deterministic program for the environment tests: allocates on a few
// threads and prints a checksum. --expect-hakmem: also fail unless its malloc is
// hakmem's (hak_owns found through dlsym and true).
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "--expect-hakmem") == 0) {
    auto owns = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "hak_owns"));
    void* p = malloc(100);
    if (!owns || !owns(p)) {
      fprintf(stderr, "probe: malloc is not hakmem's\n");
      return 1;
    }
    free(p);
  }
  unsigned long sums[4] = {};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([t, &sums] {
      std::map<int, std::string> m;
      for (int i = 0; i < 20000; ++i) m[(i * 7919) % 20011] = std::string(static_cast<size_t>(i % 300), 'a' + t);
      std::vector<char*> big;
      for (int i = 0; i < 20; ++i) {
        big.push_back(static_cast<char*>(malloc(200000 + static_cast<size_t>(i))));
        memset(big.back(), t, 200000);
      }
      for (char* b : big) free(b);
      unsigned long s = 0;
      for (auto& [k, v] : m) s = s * 31 + static_cast<unsigned long>(k) + v.size() + (v.empty() ? 0u : static_cast<unsigned char>(v[0]));
      sums[t] = s;
    });
  for (auto& t : ts) t.join();
  printf("probe ok %lx %lx %lx %lx\n", sums[0], sums[1], sums[2], sums[3]);
  return 0;
}
