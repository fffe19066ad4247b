// Every C++ operator new/delete form. Failure follows the standard: call the
// installed std::new_handler and retry; without one, throw std::bad_alloc (or return
// nullptr for the nothrow forms).
//
// The C++ runtime is the program's own: libhakmem.so does not depend on libstdc++. A C
// program that preloads hakmem (python, git, a shell) would otherwise load and relocate
// all of libstdc++ and libgcc_s for operator new forms it never calls, 0.9 MiB resident
// in every such process. So the pieces of the runtime the failure path needs are weak
// references, bound to the program's libstdc++ when it has one; a libstdc++ that came
// in later and locally (a C++ plug-in dlopen()ed by a C program) is looked up when new
// first fails.
#include <dlfcn.h>

#include <cstddef>
#include <new>

#include "api/alloc_inline.h"
#include "diag/report.h"
#include "hakmem/hakmem.h"

#define HAK_EXPORT __attribute__((visibility("default")))

namespace std {
new_handler get_new_handler() noexcept __attribute__((weak));
void __throw_bad_alloc() __attribute__((weak, noreturn));
}  // namespace std
// What a catch clause and the unwinder call here: weak too, so that nothing binds
// libhakmem.so to libstdc++ (a handler to catch from exists only where libstdc++ does).
extern "C" void* __cxa_begin_catch(void*) noexcept __attribute__((weak));
extern "C" void __cxa_end_catch() __attribute__((weak));
asm(".weak __gxx_personality_v0");

namespace {

using GetNewHandler = std::new_handler (*)() noexcept;
using ThrowBadAlloc = void (*)();
using NothrowNew = void* (*)(std::size_t, const std::nothrow_t&) noexcept;
using NothrowNewAligned = void* (*)(std::size_t, std::align_val_t, const std::nothrow_t&) noexcept;

struct CxxRuntime {
  GetNewHandler get_new_handler;
  ThrowBadAlloc throw_bad_alloc;
  // Set only when libstdc++ is not bound to us: then our own catch clause cannot work
  // (its personality routine is missing), and libstdc++'s nothrow forms, which call
  // the throwing form (ours) inside their own try/catch, stand in for it.
  NothrowNew nothrow_new;
  NothrowNewAligned nothrow_new_aligned;
};

// Only on a failed allocation, so a lookup each time costs nothing that matters.
CxxRuntime cxx_runtime() {
  CxxRuntime rt{std::get_new_handler ? &std::get_new_handler : nullptr,
                std::__throw_bad_alloc ? &std::__throw_bad_alloc : nullptr, nullptr, nullptr};
  if (rt.get_new_handler && rt.throw_bad_alloc && __cxa_begin_catch) return rt;
  if (void* lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD)) {
    rt.get_new_handler = reinterpret_cast<GetNewHandler>(dlsym(lib, "_ZSt15get_new_handlerv"));
    rt.throw_bad_alloc = reinterpret_cast<ThrowBadAlloc>(dlsym(lib, "_ZSt17__throw_bad_allocv"));
    rt.nothrow_new = reinterpret_cast<NothrowNew>(dlsym(lib, "_ZnwmRKSt9nothrow_t"));
    rt.nothrow_new_aligned = reinterpret_cast<NothrowNewAligned>(dlsym(lib, "_ZnwmSt11align_val_tRKSt9nothrow_t"));
    dlclose(lib);  // the library stays: RTLD_NOLOAD only took another reference
  }
  return rt;
}

[[noreturn]] void no_runtime_to_throw(std::size_t size) {
  hakmem::Line()
      .str("hakmem: operator new(")
      .u64(size)
      .str("): out of memory, and no C++ runtime is loaded to throw std::bad_alloc")
      .write();
  hakmem::os::abort_process();
}

__attribute__((noinline)) void* new_retry(std::size_t size, std::size_t align, bool nothrow) {
  for (;;) {
    void* p = align ? hak_aligned_alloc(align, size) : hak_malloc(size);
    if (p) return p;
    CxxRuntime rt = cxx_runtime();
    std::new_handler handler = rt.get_new_handler ? rt.get_new_handler() : nullptr;
    if (!handler) {
      if (nothrow) return nullptr;
      if (rt.throw_bad_alloc) rt.throw_bad_alloc();
      no_runtime_to_throw(size);
    }
    if (nothrow && !__cxa_begin_catch) {
      const std::nothrow_t tag{};  // not std::nothrow: that object is libstdc++'s
      if (align && rt.nothrow_new_aligned) return rt.nothrow_new_aligned(size, std::align_val_t(align), tag);
      if (!align && rt.nothrow_new) return rt.nothrow_new(size, tag);
      return nullptr;  // no C++ runtime to run the handler under a catch with
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
