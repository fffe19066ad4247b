// The C++ side of cxx_plugin_host.c: operator new's failure path, run from a library a
// C program dlopen()ed with RTLD_LOCAL, so that libstdc++ is not in the global scope
// where libhakmem.so's weak references to it would have been bound.
#include <cstddef>
#include <new>

namespace {
char* volatile g_sink;
const volatile std::size_t g_impossible = std::size_t(1) << 62;
int g_handler_calls = 0;
void counting_handler() {
  if (++g_handler_calls >= 3) std::set_new_handler(nullptr);
}
void throwing_handler() { throw std::bad_alloc(); }
}  // namespace

// 1 when an impossible new[] throws std::bad_alloc.
extern "C" int plugin_new_throws() {
  try {
    g_sink = new char[g_impossible];
  } catch (const std::bad_alloc&) {
    return 1;
  }
  return 0;
}

// How often the installed new_handler was called before new gave up (3 expected).
extern "C" int plugin_handler_calls() {
  g_handler_calls = 0;
  std::set_new_handler(counting_handler);
  try {
    g_sink = new char[g_impossible];
  } catch (const std::bad_alloc&) {
    std::set_new_handler(nullptr);
    return g_handler_calls;
  }
  return -1;
}

// 1 when the nothrow forms return nullptr, with no handler and with a handler that
// throws std::bad_alloc (the nothrow form must swallow it), plain and aligned.
extern "C" int plugin_nothrow_returns_null() {
  int ok = new (std::nothrow) char[g_impossible] == nullptr;
  ok &= ::operator new(g_impossible, std::align_val_t(64), std::nothrow) == nullptr;
  std::set_new_handler(throwing_handler);
  try {
    ok &= new (std::nothrow) char[g_impossible] == nullptr;
    ok &= ::operator new(g_impossible, std::align_val_t(64), std::nothrow) == nullptr;
  } catch (...) {
    ok = 0;
  }
  std::set_new_handler(nullptr);
  return ok;
}
