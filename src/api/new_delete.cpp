// Every C++ operator new/delete form. Failure follows the standard: call the
// installed std::new_handler and retry; without one, throw std::bad_alloc (or return
// nullptr for the nothrow forms).
#include <cstddef>
#include <new>

#include "api/alloc_inline.h"
#include "hakmem/hakmem.h"

#define HAK_EXPORT __attribute__((visibility("default")))

namespace {

__attribute__((noinline)) void* new_retry(std::size_t size, std::size_t align, bool nothrow) {
  for (;;) {
    void* p = align ? hak_aligned_alloc(align, size) : hak_malloc(size);
    if (p) return p;
    std::new_handler handler = std::get_new_handler();
    if (!handler) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    if (nothrow) {
      try {
        handler();
      } catch (...) {
        return nullptr;
      }
    } else {
      handler();
    }
  }
}

inline void* new_impl(std::size_t size) {
  void* p = hakmem::alloc_fast(size);
  return __builtin_expect(p != nullptr, 1) ? p : new_retry(size, 0, false);
}

inline void* new_aligned(std::size_t size, std::align_val_t al, bool nothrow) {
  void* p = hak_aligned_alloc(std::size_t(al), size);
  return p ? p : new_retry(size, std::size_t(al), nothrow);
}

}  // namespace

HAK_EXPORT void* operator new(std::size_t n) { return new_impl(n); }
HAK_EXPORT void* operator new[](std::size_t n) { return new_impl(n); }
HAK_EXPORT void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  void* p = hakmem::alloc_fast(n);
  return p ? p : new_retry(n, 0, true);
}
HAK_EXPORT void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  void* p = hakmem::alloc_fast(n);
  return p ? p : new_retry(n, 0, true);
}
HAK_EXPORT void* operator new(std::size_t n, std::align_val_t al) { return new_aligned(n, al, false); }
HAK_EXPORT void* operator new[](std::size_t n, std::align_val_t al) { return new_aligned(n, al, false); }
HAK_EXPORT void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return new_aligned(n, al, true);
}
HAK_EXPORT void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return new_aligned(n, al, true);
}

HAK_EXPORT void operator delete(void* p) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete[](void* p) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete(void* p, std::size_t) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete[](void* p, std::size_t) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete(void* p, std::align_val_t) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete[](void* p, std::align_val_t) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete(void* p, std::size_t, std::align_val_t) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { hakmem::free_fast(p); }
HAK_EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { hakmem::free_fast(p); }
