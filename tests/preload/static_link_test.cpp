// A program linked with libhakmem.a: malloc and friends, operator new, and the
// allocations libc makes on the program's behalf (strdup, getline, asprintf,
// open_memstream) all come from hakmem, and free() takes all of them back.
#include <hakmem/hakmem.h>
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

int g_failures = 0;

void expect_owned(const void* p, const char* what) {
  if (p == nullptr || !hak_owns(p)) {
    fprintf(stderr, "static_link_test: %s -> %p is not hakmem memory\n", what, p);
    ++g_failures;
  }
}

}  // namespace

int main() {
  void* m = malloc(100);
  expect_owned(m, "malloc(100)");
  void* c = calloc(10, 1000);
  expect_owned(c, "calloc(10, 1000)");
  void* r = realloc(m, 300000);
  expect_owned(r, "realloc(p, 300000)");
  void* a = nullptr;
  if (posix_memalign(&a, 4096, 5000) != 0) ++g_failures;
  expect_owned(a, "posix_memalign(4096, 5000)");
  void* al = aligned_alloc(64, 640);
  expect_owned(al, "aligned_alloc(64, 640)");
  void* big = malloc(8 << 20);
  expect_owned(big, "malloc(8 MiB)");
  if (malloc_usable_size(r) < 300000) {
    fprintf(stderr, "static_link_test: malloc_usable_size is not hakmem's\n");
    ++g_failures;
  }
  free(r);
  free(c);
  free(a);
  free(al);
  free(big);

  auto* n = new std::string(1000, 'x');
  expect_owned(n, "new std::string");
  expect_owned(n->data(), "std::string buffer");
  delete n;
  auto v = std::make_unique<std::vector<int>>(100000, 1);
  expect_owned(v->data(), "std::vector buffer");

  // Allocated inside libc.so, freed here.
  char* s = strdup("hakmem static");
  expect_owned(s, "strdup");
  free(s);
  char* f = nullptr;
  if (asprintf(&f, "%d-%s", 42, "x") < 0) ++g_failures;
  expect_owned(f, "asprintf");
  free(f);
  char* buf = nullptr;
  size_t len = 0;
  FILE* mem = fmemopen(const_cast<char*>("line one\nline two\n"), 18, "r");
  if (!mem || getline(&buf, &len, mem) < 0) ++g_failures;
  expect_owned(buf, "getline buffer");
  free(buf);
  if (mem) fclose(mem);
  char* stream_buf = nullptr;
  size_t stream_len = 0;
  FILE* out = open_memstream(&stream_buf, &stream_len);
  for (int i = 0; out && i < 10000; ++i) fprintf(out, "%d ", i);
  if (out) fclose(out);
  expect_owned(stream_buf, "open_memstream buffer");
  free(stream_buf);

  // Other threads too.
  std::vector<std::thread> ts;
  std::vector<void*> from_threads(4);
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&, i] {
      std::vector<void*> mine;
      for (int k = 0; k < 10000; ++k) mine.push_back(malloc(static_cast<size_t>(k % 500 + 1)));
      for (void* p : mine) free(p);
      from_threads[static_cast<size_t>(i)] = malloc(64);
    });
  for (auto& t : ts) t.join();
  for (void* p : from_threads) {
    expect_owned(p, "malloc on a thread");
    free(p);
  }

  if (g_failures) {
    fprintf(stderr, "static_link_test: %d failures\n", g_failures);
    return 1;
  }
  puts("static_link_test: ok");
  return 0;
}
