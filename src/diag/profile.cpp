#include "diag/profile.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <ucontext.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "api/alloc_inline.h"
#include "base/no_cancel.h"
#include "base/spin_lock.h"
#include "config/options.h"
#include "diag/report.h"
#include "hakmem/hakmem.h"
#include "os/os.h"

namespace hakmem {

bool g_profile_on = false;

namespace {

constexpr int kMaxFrames = 48;
constexpr uint32_t kMaxStacks = 1u << 16;   // distinct stacks; beyond, samples go unrecorded
constexpr uint32_t kBuckets = 1u << 16;
constexpr uint32_t kMaxLargeSamples = 1u << 20;
constexpr uint64_t kBlockUnit = 1024;  // block estimates are kept in 1/1024 blocks
constexpr uint64_t kArenaMagic = 0x48414b50524f4649ull;  // "HAKPROFI"
constexpr size_t kArenaHeader = 64;
constexpr uint32_t kSlotClasses = 48;  // 128 B .. 448 KiB, four per power of two
// Threads take turns on the stripes (ProfileThread::stripe), so two busy threads update
// different cache lines: a shared line bounced between cores on every sample cost more
// than the rest of the sample path together.
constexpr uint32_t kStripes = 4;

// Written once, before it is published (g_nstacks, its bucket), then only read.
struct Stack {
  uint64_t hash;
  uint32_t next;  // bucket chain: index + 1; 0 ends it
  uint32_t depth;
  void* frames[kMaxFrames];
};

// Estimates of what a stack's samples stand for, one line per stripe; blocks in
// kBlockUnit. A sample may be freed on another stripe than it was taken on: the
// counters wrap, and their sum over the stripes is right.
struct alignas(64) Counts {
  std::atomic<uint64_t> live_bytes, live_blocks, alloc_bytes, alloc_blocks;
  std::atomic<uint64_t> live_samples, alloc_samples;
};

struct Sample {
  uint32_t stack;   // index + 1 in g_stacks; 0: not recorded (table full)
  uint32_t gen;     // a fork child's empty profile starts a new generation
  uint64_t bytes;   // what the sample stands for
  uint64_t blocks;  // in kBlockUnit
};

// The 64 bytes right before a block of the arena.
struct ArenaHeader {
  uint64_t magic;  // kArenaMagic ^ the block's address: a foreign pointer does not pass
  Sample sample;
  uint64_t usable;
  uint32_t slot_class;
  uint32_t offset;  // block - slot start
  uint32_t live;    // exchanged on free: of two racing frees, one sees the double free
  uint32_t decommitted;  // free, and its pages past the first went back to the OS
};
static_assert(sizeof(ArenaHeader) <= kArenaHeader);

union LargeSample {
  Sample s;
  LargeSample* next;
};

// Freed arena slots keep their memory up to a budget, as the slab tier does: the
// resident bytes in free slots may reach a quarter of the arena's live bytes or
// kArenaIdleKeep, whichever is more; past it a freed slot of kDecommitSlot or more gives
// back its pages but the first (the header and the free-list link stay). Sampling makes
// the arena hold a share of big blocks (a 128 KiB block is sampled 22% of the time at
// the default rate), which a burst would otherwise leave mapped for good. Whole chunks
// are not unmapped: their slots sit on per-stripe lists, which a chunk could only leave
// by a walk of every list.
constexpr size_t kDecommitSlot = 16 * 1024;
constexpr int64_t kArenaIdleKeep = 8 << 20;

struct Bump {
  char* bump;
  char* end;
};

// Freed arena slots, per class, linked through their (free) user block. A slot goes to
// the stripe of the thread that frees it; a stripe that runs dry takes another's list
// whole before new memory is cut, so a thread that only frees what others allocate
// does not make the arena grow.
struct alignas(64) Stripe {
  SpinLock lock;
  std::atomic<void*> free[kSlotClasses];  // changed under the lock; atomic for a peek without it
};

// ---- the walk ----------------------------------------------------------------------
//
// The stack of a sampled allocation comes from libunwind, loaded with dlopen at start-up
// and warmed up there: glibc's backtrace() dlopens libgcc_s and mallocs on first use, and
// a frame-pointer walk alone reads garbage (or faults) through code built without frame
// pointers, which is most of a Debian system. libunwind reads DWARF unwind tables, keeps
// its caches in memory it maps itself, and takes no lock an allocator path holds; it is
// called with none of ours held. Should it still allocate (the TLS of a dlopened
// library), the thread's busy flag makes that an ordinary allocation, never sampled.
#if defined(__x86_64__)
// unw_backtrace is fast once warm (~100 ns for 15 frames) because it caches, per return
// address, how to find the caller's frame, but that cache is per thread: 256 KiB that
// libunwind maps and fills on a thread's first walk (~90 us, nearly all page faults)
// and unmaps at the thread's exit, from a TSD destructor that under ThreadSanitizer runs
// after TSan has torn the thread down and crashes. A program that starts many short
// threads paid that per thread: Larson starts ~700 a second, and lost more to it than to
// everything else the profiler does.
//
// So the cache is kept here, once for the process, and libunwind still decides every
// frame: an address seen for the first time is stepped by libunwind (unw_init_local on a
// context holding that frame's ip, sp and bp, then unw_step), and what it found is
// written down as a rule only when it is one of the two plain shapes tdep_trace's own
// cache handles: a frame-pointer frame (CFA = bp + 16, caller's bp saved at CFA - 16)
// or a CFA at a fixed offset from sp, with the return address at CFA - 8 and the
// caller's bp either untouched or saved at a fixed offset from the CFA. Anything else
// (a signal frame, an expression) makes the sample walk with libunwind alone. Every
// read of the walk is checked to lie between the sample's sp and the top of the thread's
// stack as libunwind's first full walk on the thread found it (ProfileThread::stack_hi),
// and a frame must move up the stack, so a wrong rule can end a walk early but never
// make it read outside the stack. (Rules are never forgotten: code unloaded by dlclose
// and other code mapped at its addresses later would be walked with the old rules,
// which is what libunwind's own per-thread cache does too.)
//
// libunwind's x86-64 ABI, declared here rather than through its header (only the
// runtime library is a dependency, loaded with dlopen): the cursor is 127 words, the
// context a ucontext_t, registers are numbered bp 6, sp 7, ip 16.
struct UnwCursor {
  uint64_t opaque[127];
};
struct UnwSaveLoc {  // unw_save_loc_t is 24 bytes; unw_get_save_loc clears all of them
  int type;          // 1: UNW_SLT_MEMORY
  uint64_t addr;
  uint64_t extra[2];
};
constexpr int kUnwBp = 6, kUnwSp = 7, kUnwIp = 16, kSlotMemory = 1;
using UnwGetContextFn = int (*)(ucontext_t*);
using UnwInitLocalFn = int (*)(UnwCursor*, ucontext_t*);
using UnwCursorFn = int (*)(UnwCursor*);
using UnwGetRegFn = int (*)(UnwCursor*, int, uint64_t*);
using UnwGetSaveLocFn = int (*)(UnwCursor*, int, UnwSaveLoc*);
struct UnwProcInfo {  // unw_proc_info_t is 72 bytes
  uint64_t start_ip, end_ip;
  uint64_t rest[14];
};
using UnwGetProcInfoFn = int (*)(UnwCursor*, UnwProcInfo*);
UnwGetContextFn g_unw_getcontext = nullptr;
UnwInitLocalFn g_unw_init_local = nullptr;
UnwCursorFn g_unw_step = nullptr, g_unw_is_signal_frame = nullptr;
UnwGetRegFn g_unw_get_reg = nullptr;
UnwGetSaveLocFn g_unw_get_save_loc = nullptr;
UnwGetProcInfoFn g_unw_get_proc_info = nullptr;

// A rule, packed so that one atomic word publishes it: kind in bits 0-2, bit 3 set when
// the caller's bp is saved, its offset from the CFA in bits 16-31, the CFA's offset from
// sp in bits 32-63. 0: none yet.
enum RuleKind : uint64_t { kRuleSp = 1, kRuleFramePointer = 2, kRuleLast = 3, kRuleLibunwind = 4 };
constexpr uint64_t kRuleBpSaved = 8;
constexpr uint32_t kRuleSlots = 1u << 16;  // distinct return addresses; full: libunwind walks
constexpr int kRuleProbes = 16;
struct RuleSlot {
  std::atomic<uint64_t> ip;    // set once (0 -> ip), then its rule
  std::atomic<uint64_t> rule;
};
RuleSlot* g_rules = nullptr;

uint64_t rule_find(uint64_t ip) {
  uint32_t i = uint32_t((ip * 0x9e3779b97f4a7c15ull) >> 48);
  for (int k = 0; k < kRuleProbes; k++, i = (i + 1) & (kRuleSlots - 1)) {
    uint64_t at = g_rules[i].ip.load(std::memory_order_acquire);
    if (at == ip) return g_rules[i].rule.load(std::memory_order_acquire);
    if (!at) return 0;
  }
  return 0;
}

void rule_add(uint64_t ip, uint64_t rule) {
  uint32_t i = uint32_t((ip * 0x9e3779b97f4a7c15ull) >> 48);
  for (int k = 0; k < kRuleProbes; k++, i = (i + 1) & (kRuleSlots - 1)) {
    uint64_t at = g_rules[i].ip.load(std::memory_order_acquire);
    if (!at && g_rules[i].ip.compare_exchange_strong(at, ip, std::memory_order_acq_rel)) at = ip;
    if (at == ip) {  // two threads that learn the same address learn the same rule
      g_rules[i].rule.store(rule, std::memory_order_release);
      return;
    }
  }
}

// libunwind's step from the frame (ip, sp, bp), as a rule; stack_hi bounds the reads.
uint64_t rule_learn(uint64_t ip, uint64_t sp, uint64_t bp, uint64_t stack_hi) {
  ucontext_t uc;
  memset(&uc, 0, sizeof(uc));
  uc.uc_mcontext.gregs[REG_RIP] = int64_t(ip);
  uc.uc_mcontext.gregs[REG_RSP] = int64_t(sp);
  uc.uc_mcontext.gregs[REG_RBP] = int64_t(bp);
  UnwCursor c;
  // The ip is a return address (each frame's, and the sampling frame's from
  // hakmem_profile_regs): unw_init_local looks up ip - 1, as for a call site.
  if (g_unw_init_local(&c, &uc) < 0 || g_unw_is_signal_frame(&c) > 0) return kRuleLibunwind;
  // A frame without unwind tables: libunwind guesses it from bp with its reads
  // validated, which a rule could not repeat. (unw_get_proc_info then reports a
  // one-byte procedure at the ip.)
  UnwProcInfo pi;
  if (g_unw_get_proc_info(&c, &pi) < 0 || (pi.start_ip == ip && pi.end_ip == ip + 1)) return kRuleLibunwind;
  int r = g_unw_step(&c);
  if (r == 0) return kRuleLast;
  uint64_t cfa, ra;
  UnwSaveLoc ra_at, bp_at;
  if (r < 0 || g_unw_get_reg(&c, kUnwSp, &cfa) < 0 || g_unw_get_reg(&c, kUnwIp, &ra) < 0 ||
      g_unw_get_save_loc(&c, kUnwIp, &ra_at) < 0 || g_unw_get_save_loc(&c, kUnwBp, &bp_at) < 0)
    return kRuleLibunwind;
  if (cfa < sp + 8 || cfa > stack_hi || cfa - sp >= (uint64_t(1) << 31) || ra_at.type != kSlotMemory ||
      ra_at.addr != cfa - 8 || bp_at.type != kSlotMemory)
    return kRuleLibunwind;
  uint64_t rule = (cfa - sp) << 32;
  if (bp_at.addr != reinterpret_cast<uintptr_t>(&uc.uc_mcontext.gregs[REG_RBP])) {  // else untouched
    int64_t off = int64_t(bp_at.addr - cfa);
    if (off < -32768 || off > 32767 || bp_at.addr < sp || bp_at.addr + 8 > stack_hi) return kRuleLibunwind;
    rule |= kRuleBpSaved | (uint64_t(uint16_t(int16_t(off))) << 16);
    if (cfa == bp + 16 && off == -16) return rule | kRuleFramePointer;
  }
  return rule | kRuleSp;
}

// The caller's registers as the instruction after its call here sees them.
extern "C" void hakmem_profile_regs(uint64_t regs[3]);
asm(R"(
  .text
  .p2align 4
  .local hakmem_profile_regs
  .type hakmem_profile_regs, @function
hakmem_profile_regs:
  .cfi_startproc
  movq (%rsp), %rax
  movq %rax, 0(%rdi)
  leaq 8(%rsp), %rax
  movq %rax, 8(%rdi)
  movq %rbp, 16(%rdi)
  ret
  .cfi_endproc
  .size hakmem_profile_regs, .-hakmem_profile_regs
)");

// libunwind alone; raises *stack_hi to the highest sp it saw. Both walks start with the
// caller of capture(), so that a site's stack is the same whichever walk took it.
__attribute__((noinline)) int libunwind_walk(void** frames, int max, uint64_t* stack_hi) {
  ucontext_t uc;
  UnwCursor c;
  if (g_unw_getcontext(&uc) < 0 || g_unw_init_local(&c, &uc) < 0) return 0;
  int n = -1;  // capture()'s frame is not recorded
  while (n < max && g_unw_step(&c) > 0) {
    uint64_t ip, sp;
    if (g_unw_get_reg(&c, kUnwIp, &ip) < 0 || !ip) break;
    if (n >= 0) frames[n] = reinterpret_cast<void*>(ip);
    n++;
    if (g_unw_get_reg(&c, kUnwSp, &sp) == 0 && sp > *stack_hi) *stack_hi = sp;
  }
  return n < 0 ? 0 : n;
}

// The walk with the rules; -1 when a frame needs libunwind.
__attribute__((noinline)) int rule_walk(void** frames, int max, uint64_t stack_hi) {
  uint64_t regs[3];
  hakmem_profile_regs(regs);
  uint64_t ip = regs[0], sp = regs[1], bp = regs[2];
  const uint64_t lo = sp;
  int n = -2;  // neither this frame nor capture()'s is recorded
  while (n < max) {
    if (n >= 0) frames[n] = reinterpret_cast<void*>(ip);
    n++;
    uint64_t rule = rule_find(ip);
    if (!rule) {
      rule = rule_learn(ip, sp, bp, stack_hi);
      rule_add(ip, rule);
    }
    uint64_t kind = rule & 7;
    if (kind == kRuleLast) break;
    if (kind == kRuleLibunwind) return -1;
    uint64_t cfa = kind == kRuleFramePointer ? bp + 16 : sp + (rule >> 32);
    if (cfa < sp + 8 || cfa > stack_hi) return -1;
    if (rule & kRuleBpSaved) {
      uint64_t at = cfa + uint64_t(int64_t(int16_t(uint16_t(rule >> 16))));
      if (at < lo || at + 8 > stack_hi) return -1;
      bp = *reinterpret_cast<const uint64_t*>(at);
    }
    ip = *reinterpret_cast<const uint64_t*>(cfa - 8);
    sp = cfa;
    if (ip < 0x4000) break;  // where libunwind's own walk gives up too
  }
  return n;
}

bool load_unwinder(void* lib) {
  g_unw_getcontext = reinterpret_cast<UnwGetContextFn>(dlsym(lib, "_Ux86_64_getcontext"));
  g_unw_init_local = reinterpret_cast<UnwInitLocalFn>(dlsym(lib, "_ULx86_64_init_local"));
  g_unw_step = reinterpret_cast<UnwCursorFn>(dlsym(lib, "_ULx86_64_step"));
  g_unw_is_signal_frame = reinterpret_cast<UnwCursorFn>(dlsym(lib, "_ULx86_64_is_signal_frame"));
  g_unw_get_reg = reinterpret_cast<UnwGetRegFn>(dlsym(lib, "_ULx86_64_get_reg"));
  g_unw_get_save_loc = reinterpret_cast<UnwGetSaveLocFn>(dlsym(lib, "_ULx86_64_get_save_loc"));
  g_unw_get_proc_info = reinterpret_cast<UnwGetProcInfoFn>(dlsym(lib, "_ULx86_64_get_proc_info"));
  if (!g_unw_getcontext || !g_unw_init_local || !g_unw_step || !g_unw_is_signal_frame || !g_unw_get_reg ||
      !g_unw_get_save_loc || !g_unw_get_proc_info)
    return false;
  g_rules = static_cast<RuleSlot*>(os::map_aligned(sizeof(RuleSlot) * kRuleSlots, os::kPageSize));
  return g_rules != nullptr;
}

// The stack of the allocation being sampled (see the walk above). A thread's first walk
// is libunwind's alone and finds the top of its stack; t is null for a thread without a
// heap, which always walks with libunwind.
__attribute__((noinline)) int capture(void** frames, ProfileThread* t) {
  if (t && t->stack_hi) {
    int n = rule_walk(frames, kMaxFrames, t->stack_hi);
    if (n >= 0) return n;
  }
  uint64_t hi = 0;
  int n = libunwind_walk(frames, kMaxFrames, &hi);
  if (t && hi > t->stack_hi) t->stack_hi = hi;
  return n;
}
#else
using BacktraceFn = int (*)(void**, int);
BacktraceFn g_backtrace = nullptr;

bool load_unwinder(void* lib) {
  g_backtrace = reinterpret_cast<BacktraceFn>(dlsym(lib, "unw_backtrace"));
  return g_backtrace != nullptr;
}

int capture(void** frames, ProfileThread*) { return g_backtrace ? g_backtrace(frames, kMaxFrames) : 0; }
#endif
double g_rate = 512.0 * 1024;
uint64_t g_seed = 0;

// Taken to add a stack, cut arena memory, keep large samples and dump; never on the
// common sample path, which reads the tables without it and counts with atomics.
SpinLock g_lock;
Stack* g_stacks = nullptr;
std::atomic<uint32_t>* g_buckets = nullptr;
std::atomic<uint32_t> g_nstacks{0};
Counts* g_counts = nullptr;  // kMaxStacks * kStripes
std::atomic<uint32_t> g_next_stripe{0};
std::atomic<uint64_t> g_thread_seq{0};
uint32_t g_gen = 1;
Stripe g_stripes[kStripes];
Bump g_bump[kSlotClasses];
std::atomic<int64_t> g_arena_live{0};  // bytes of slots in use
std::atomic<int64_t> g_arena_idle{0};  // bytes of free slots still resident
LargeSample* g_large_pool = nullptr;
uint32_t g_large_used = 0;
LargeSample* g_large_free = nullptr;
ProfileThread g_orphan = {};  // threads without a heap (only large blocks)
uint32_t g_dump_seq = 0;
char g_exit_path[300];  // PATH, or PATH.<pid> in a fork child
std::atomic<bool> g_dump_pending{false};  // a signal found the lock taken

size_t slot_size(uint32_t i) { return size_t(4 + (i & 3)) << ((i >> 2) + 5); }

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

void start(ProfileThread& t) {
  if (t.started) return;
  t.started = true;
  // Not seeded by the heap's address alone: heaps are recycled, and every thread that
  // got the same heap would sample at the same points of its allocations.
  t.rng = mix(g_seed ^ reinterpret_cast<uintptr_t>(&t) ^ mix(g_thread_seq.fetch_add(1, std::memory_order_relaxed))) | 1;
  t.stripe = uint8_t(g_next_stripe.fetch_add(1, std::memory_order_relaxed) % kStripes);
  t.armed = kTickBytes;  // what heap_reset armed tick_bytes with
  t.until_housekeeping = kTickBytes;
  t.until_sample = int64_t(profile_next_interval(t));
}

// Bytes the fast path counted since the countdown was armed.
void settle(ProfileThread& t, int64_t* tick_bytes) {
  int64_t consumed = t.armed - *tick_bytes;
  t.until_sample -= consumed;
  t.until_housekeeping -= consumed;
  t.armed = *tick_bytes;
}

// The fast path calls heap_alloc_tick once the countdown goes below zero, i.e. once it
// has counted more than it was armed with: arming with n - 1 makes the allocation that
// reaches n the one that ticks.
void arm(ProfileThread& t, int64_t* tick_bytes) {
  int64_t v = (t.until_sample < t.until_housekeeping ? t.until_sample : t.until_housekeeping) - 1;
  if (v < 0) v = 0;
  *tick_bytes = t.armed = v;
}

// ---- the tables -----------------------------------------------------------------

uint32_t find_stack(uint32_t i, uint64_t h, void* const* frames, int depth) {
  for (; i; i = g_stacks[i - 1].next) {
    const Stack& s = g_stacks[i - 1];
    if (s.hash != h || s.depth != uint32_t(depth)) continue;
    int k = 0;
    while (k < depth && s.frames[k] == frames[k]) k++;
    if (k == depth) return i;
  }
  return 0;
}

// Stacks are only added (a fork child empties the table while it is alone), each
// written in full before its bucket and g_nstacks publish it: a lookup needs no lock.
uint32_t intern(void* const* frames, int depth) {
  uint64_t h = uint64_t(depth);
  for (int i = 0; i < depth; i++) h = mix(h ^ reinterpret_cast<uintptr_t>(frames[i]));
  std::atomic<uint32_t>& head = g_buckets[h & (kBuckets - 1)];
  if (uint32_t i = find_stack(head.load(std::memory_order_acquire), h, frames, depth)) return i;
  LockGuard g(g_lock);
  if (uint32_t i = find_stack(head.load(std::memory_order_relaxed), h, frames, depth)) return i;
  uint32_t n = g_nstacks.load(std::memory_order_relaxed);
  if (n == kMaxStacks) return 0;
  Stack& s = g_stacks[n];
  s.hash = h;
  s.depth = uint32_t(depth);
  for (int k = 0; k < depth; k++) s.frames[k] = frames[k];
  s.next = head.load(std::memory_order_relaxed);
  for (uint32_t k = 0; k < kStripes; k++) {  // a fork child reuses the parent's indexes
    Counts& c = g_counts[n * kStripes + k];
    for (auto* a : {&c.live_bytes, &c.live_blocks, &c.alloc_bytes, &c.alloc_blocks, &c.live_samples, &c.alloc_samples})
      a->store(0, std::memory_order_relaxed);
  }
  g_nstacks.store(n + 1, std::memory_order_release);
  head.store(n + 1, std::memory_order_release);
  return n + 1;
}

// Unbiasing: a block of `usable` bytes is sampled with probability 1 - exp(-usable/rate).
Sample make_sample(uint32_t stack, size_t usable) {
  double p = -std::expm1(-double(usable) / g_rate);
  if (!(p > 0)) p = 1;
  return Sample{stack, g_gen, uint64_t(double(usable) / p + 0.5), uint64_t(double(kBlockUnit) / p + 0.5)};
}

void account(const Sample& s, uint32_t stripe) {
  if (!s.stack) return;
  Counts& c = g_counts[(s.stack - 1) * kStripes + stripe];
  constexpr auto r = std::memory_order_relaxed;
  c.live_bytes.fetch_add(s.bytes, r);
  c.live_blocks.fetch_add(s.blocks, r);
  c.alloc_bytes.fetch_add(s.bytes, r);
  c.alloc_blocks.fetch_add(s.blocks, r);
  c.live_samples.fetch_add(1, r);
  c.alloc_samples.fetch_add(1, r);
}

void unaccount(const Sample& s, uint32_t stripe) {
  if (!s.stack || s.gen != g_gen) return;  // recorded before a fork: not in this profile
  Counts& c = g_counts[(s.stack - 1) * kStripes + stripe];
  constexpr auto r = std::memory_order_relaxed;
  c.live_bytes.fetch_sub(s.bytes, r);
  c.live_blocks.fetch_sub(s.blocks, r);
  c.live_samples.fetch_sub(1, r);
}

// The stripe of the calling thread; a thread without a heap of its own uses the first.
uint32_t my_stripe() {
  ThreadHeap* h = t_heap;
  return h->tid != kTidNobody && h->prof.started ? h->prof.stripe : 0;
}

// A block of the arena: `usable` bytes at an `align`-aligned address (at most a page),
// with the header right before it.
constexpr auto kRelaxed = std::memory_order_relaxed;

void* pop_free(Stripe& st, uint32_t c) {
  char* user = static_cast<char*>(st.free[c].load(kRelaxed));
  if (user) st.free[c].store(*reinterpret_cast<void**>(user), kRelaxed);
  return user;
}

// A slot taken off a free list: its start.
char* reuse_slot(void* p, uint32_t c) {
  char* user = static_cast<char*>(p);
  const ArenaHeader* h = reinterpret_cast<ArenaHeader*>(user - kArenaHeader);
  if (!h->decommitted) g_arena_idle.fetch_sub(int64_t(slot_size(c)), std::memory_order_relaxed);
  return user - h->offset;
}

// A free slot of class c: the stripe's own, else another stripe's whole list, else new.
char* take_slot(uint32_t stripe, uint32_t c) {
  Stripe& mine = g_stripes[stripe];
  void* popped;
  {
    LockGuard g(mine.lock);
    popped = pop_free(mine, c);
  }
  if (popped) return reuse_slot(popped, c);
  for (uint32_t k = 1; k < kStripes; k++) {
    Stripe& other = g_stripes[(stripe + k) % kStripes];
    if (!other.free[c].load(kRelaxed)) continue;
    void* list;
    {
      LockGuard g(other.lock);
      list = other.free[c].exchange(nullptr, kRelaxed);
    }
    if (!list) continue;
    char* user = static_cast<char*>(list);
    if (void* rest = *reinterpret_cast<void**>(user)) {
      LockGuard g(mine.lock);
      void* tail = rest;  // the stripe gained slots meanwhile (rare): append them
      if (void* had = mine.free[c].load(kRelaxed)) {
        while (void* n = *static_cast<void**>(tail)) tail = n;
        *static_cast<void**>(tail) = had;
      }
      mine.free[c].store(rest, kRelaxed);
    }
    return reuse_slot(user, c);
  }
  size_t size = slot_size(c);
  LockGuard g(g_lock);
  Bump& b = g_bump[c];
  if (b.bump + size > b.end) {
    // Chunk-aligned, so slots of a class are aligned to their size's power of two.
    char* base = static_cast<char*>(os::map_aligned(kChunkSize, kChunkSize));
    if (!base) return nullptr;
    chunk_map_set(base, kChunkSize, kChunkProfiled, kChunkProfiled);
    b.bump = base;
    b.end = base + kChunkSize / size * size;
  }
  char* slot = b.bump;
  b.bump += size;
  return slot;
}

void* arena_alloc(size_t usable, size_t align, const Sample& sample, uint32_t stripe) {
  size_t offset = align > kArenaHeader ? align : kArenaHeader;
  size_t need = offset + usable;
  uint32_t c = 0;
  while (c < kSlotClasses && (slot_size(c) < need || slot_size(c) % align)) c++;
  if (c == kSlotClasses) return nullptr;
  char* slot = take_slot(stripe, c);
  if (!slot) return nullptr;
  g_arena_live.fetch_add(int64_t(slot_size(c)), std::memory_order_relaxed);
  char* user = slot + offset;
  auto* h = reinterpret_cast<ArenaHeader*>(user - kArenaHeader);
  *h = ArenaHeader{kArenaMagic ^ reinterpret_cast<uintptr_t>(user), sample, usable, c, uint32_t(offset), 1, 0};
  return user;
}

ArenaHeader* checked_header(const void* p, const char* caller) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  auto* h = reinterpret_cast<ArenaHeader*>(a - kArenaHeader);
  if ((a & 15) || (a & kChunkMask) < kArenaHeader || h->magic != (kArenaMagic ^ a)) {
    Line().str("hakmem: ").str(caller).str("(): invalid pointer ").ptr(p).str(" (not a block hakmem handed out)").write();
    os::abort_process();
  }
  return h;
}

[[noreturn]] void double_free(const void* p, const char* caller) {
  Line().str("hakmem: ").str(caller).str("(): double free of ").ptr(p).str(" (block is not allocated)").write();
  os::abort_process();
}


void write_json_string(Out& o, const char* s, size_t n) {
  o.c('"');
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '"' || c == '\\') o.c('\\').c(c);
    else if (uint8_t(c) < 0x20) o.s("\\u00").c("0123456789abcdef"[(c >> 4) & 15]).c("0123456789abcdef"[c & 15]);
    else o.c(c);
  }
  o.c('"');
}

size_t cstr_len(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

// The file-backed lines of /proc/self/maps: enough for `hakmem profile` to find each
// module and its load address after the process is gone. Read with plain system calls,
// so a signal handler may do it.
void write_maps(Out& o) {
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[4096], line[1024];
  size_t len = 0;
  bool first = true;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] != '\n') {
        if (len < sizeof(line)) line[len++] = buf[i];
        continue;
      }
      size_t k = 0;  // the path, if any, is the first field starting with '/'
      while (k < len && line[k] != '/') k++;
      if (k < len && len < sizeof(line)) {
        if (!first) o.c(',');
        first = false;
        write_json_string(o, line, len);
      }
      len = 0;
    }
  }
  close(fd);
}

// Under g_lock, reached from a sampled malloc too: open and write must not cancel it.
int dump_locked(const char* path, bool at_exit) {
  NoCancel no_cancel;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  {
    Out o(fd);
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe));
    o.s("{\"hakmem_profile\":1,\"hakmem\":\"" HAKMEM_VERSION_STRING "\",").kv("pid", uint64_t(getpid()))
        .kv("rate", uint64_t(g_rate)).s("\"at_exit\":").s(at_exit ? "true," : "false,").s("\"exe\":");
    write_json_string(o, exe, n > 0 ? size_t(n) : 0);
    o.s(",\"stacks\":[");
    bool first = true;
    uint32_t nstacks = g_nstacks.load(std::memory_order_acquire);
    for (uint32_t i = 0; i < nstacks; i++) {
      const Stack& s = g_stacks[i];
      uint64_t sum[6] = {};
      for (uint32_t k = 0; k < kStripes; k++) {
        const Counts& c = g_counts[i * kStripes + k];
        const std::atomic<uint64_t>* a[6] = {&c.live_bytes, &c.live_blocks, &c.alloc_bytes, &c.alloc_blocks, &c.live_samples, &c.alloc_samples};
        for (int f = 0; f < 6; f++) sum[f] += a[f]->load(std::memory_order_relaxed);
      }
      auto [live_bytes, live_blocks, alloc_bytes, alloc_blocks, live_samples, alloc_samples] = sum;
      if (!alloc_samples) continue;
      o.s(first ? "\n{\"frames\":[" : ",\n{\"frames\":[");
      first = false;
      for (uint32_t k = 0; k < s.depth; k++) {
        Line l;
        l.ptr(s.frames[k]);
        o.s(k ? ",\"" : "\"").s(l.c_str()).c('"');
      }
      o.s("],").kv("live_bytes", live_bytes).kv("live_blocks", (live_blocks + kBlockUnit / 2) / kBlockUnit)
          .kv("alloc_bytes", alloc_bytes).kv("alloc_blocks", (alloc_blocks + kBlockUnit / 2) / kBlockUnit)
          .kv("live_samples", live_samples).kv("alloc_samples", alloc_samples, false).c('}');
    }
    o.s("],\n\"maps\":[");
    write_maps(o);
    o.s("]}\n");
  }
  close(fd);
  return 0;
}

int dump_numbered_locked() {
  Line l;
  l.str(g_exit_path).ch('.').u64(++g_dump_seq);
  return dump_locked(l.c_str(), false);
}

void take_pending_dump() {
  if (!g_dump_pending.load(std::memory_order_relaxed) || !g_dump_pending.exchange(false)) return;
  LockGuard g(g_lock);
  dump_numbered_locked();
}

// HAKMEM_PROFILE_SIGNAL: dump now unless the interrupted code holds the lock (then the
// next sample does it); never wait in a handler for the thread it interrupted.
void on_dump_signal(int) {
  int saved = errno;
  if (g_lock.try_lock()) {
    dump_numbered_locked();
    g_lock.unlock();
  } else {
    g_dump_pending.store(true);
  }
  errno = saved;
}

Sample record(void* const* frames, int depth, size_t usable) {
  return make_sample(intern(frames, depth), usable);
}

void* sample_slab_block(ProfileThread& t, void* block) {
  Slab* s = slab_of(superslab_of(block), block);
  size_t usable = s->block_size;
  // alloc_aligned serves alignments up to a page from classes that are multiples of it.
  size_t align = usable & (~usable + 1);
  if (align > os::kPageSize) align = os::kPageSize;
  void* frames[kMaxFrames];
  t.busy = true;
  int depth = capture(frames, &t);
  Sample smp = record(frames, depth, usable);
  void* q = arena_alloc(usable, align, smp, t.stripe);
  if (q) account(smp, t.stripe);
  t.busy = false;
  take_pending_dump();
  if (!q) return block;
  // The block is ours to give back; it goes where any free of it would.
  block_clear_mark(block);
  free_slow(block, "malloc");
  return q;
}

void* map_table(size_t bytes) { return os::map_aligned((bytes + os::kPageSize - 1) & ~(os::kPageSize - 1), os::kPageSize); }

}  // namespace

uint64_t profile_next_interval(ProfileThread& t) {
  // xorshift64*, then an exponential draw: the gaps of a Poisson process over bytes.
  t.rng ^= t.rng >> 12;
  t.rng ^= t.rng << 25;
  t.rng ^= t.rng >> 27;
  uint64_t r = t.rng * 0x2545f4914f6cdd1dull;
  double u = (double(r >> 11) + 1.0) * (1.0 / 9007199254740992.0);  // (0, 1]
  return uint64_t(-std::log(u) * g_rate) + 1;
}

int profile_capture_stack(void** frames, int max) {
  void* all[kMaxFrames];
  ThreadHeap* h = t_heap;
  int n = capture(all, h->tid != kTidNobody ? &h->prof : nullptr);
  if (n > max) n = max;
  for (int i = 0; i < n; i++) frames[i] = all[i];
  return n;
}

int profile_capture_stack_libunwind(void** frames, int max) {
  void* all[kMaxFrames];
  int n = capture(all, nullptr);
  if (n > max) n = max;
  for (int i = 0; i < n; i++) frames[i] = all[i];
  return n;
}

void profile_init() {
  const Options& o = g_options;
  if (!o.profile_path[0]) return;
  if (o.guard) {
    Line().str("hakmem: warning: HAKMEM_PROFILE is not available in guard mode; profiling is off").write();
    return;
  }
  void* lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!lib || !load_unwinder(lib)) {
    Line().str("hakmem: warning: HAKMEM_PROFILE needs libunwind.so.8 (Debian: libunwind8); profiling is off").write();
    return;
  }
  g_rate = double(o.profile_rate);
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  g_seed = mix(uint64_t(ts.tv_nsec) ^ (uint64_t(getpid()) << 32));
  g_stacks = static_cast<Stack*>(map_table(sizeof(Stack) * kMaxStacks));
  // Zeroed by mmap, which is what atomics of value 0 are.
  g_buckets = static_cast<std::atomic<uint32_t>*>(map_table(sizeof(std::atomic<uint32_t>) * kBuckets));
  g_counts = static_cast<Counts*>(map_table(sizeof(Counts) * kMaxStacks * kStripes));
  g_large_pool = static_cast<LargeSample*>(map_table(sizeof(LargeSample) * kMaxLargeSamples));
  if (!g_stacks || !g_buckets || !g_counts || !g_large_pool) return;
  size_t n = cstr_len(o.profile_path);
  for (size_t i = 0; i <= n; i++) g_exit_path[i] = o.profile_path[i];
  void* warm[kMaxFrames];
  capture(warm, nullptr);  // libunwind's one-time set-up happens here, not inside an allocation
  if (o.profile_signal) {
    struct sigaction sa = {};
    sa.sa_handler = on_dump_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(o.profile_signal, &sa, nullptr);
  }
  g_profile_on = true;
}

bool profile_alloc_tick(ProfileThread& t, int64_t* tick_bytes, void** block) {
  start(t);
  settle(t, tick_bytes);
  if (t.until_sample <= 0) {
    // Memoryless: the next interval starts after this allocation, so a block of s bytes
    // is sampled with probability 1 - exp(-s/rate) whatever came before it.
    t.until_sample = int64_t(profile_next_interval(t));
    if (!t.busy) *block = sample_slab_block(t, *block);
  }
  bool housekeeping = t.until_housekeeping <= 0;
  if (housekeeping) t.until_housekeeping = kTickBytes;
  arm(t, tick_bytes);
  return housekeeping;
}

void* profile_large_alloc(size_t usable) {
  ThreadHeap* h = t_heap;
  bool hit;
  if (h->tid != kTidNobody) {  // a heap of its own (not the placeholder or the retired one)
    ProfileThread& t = h->prof;
    if (t.busy) return nullptr;
    start(t);
    settle(t, &h->tick_bytes);
    t.until_sample -= int64_t(usable);
    hit = t.until_sample <= 0;
    if (hit) t.until_sample = int64_t(profile_next_interval(t));
    arm(t, &h->tick_bytes);
  } else {
    LockGuard g(g_lock);
    start(g_orphan);
    g_orphan.until_sample -= int64_t(usable);
    hit = g_orphan.until_sample <= 0;
    if (hit) g_orphan.until_sample = int64_t(profile_next_interval(g_orphan));
  }
  if (!hit) return nullptr;
  void* frames[kMaxFrames];
  bool own = h->tid != kTidNobody;
  if (own) h->prof.busy = true;
  int depth = capture(frames, own ? &h->prof : nullptr);
  Sample smp = record(frames, depth, usable);
  LargeSample* ls = nullptr;
  {
    LockGuard g(g_lock);
    if ((ls = g_large_free)) g_large_free = ls->next;
    else if (g_large_used < kMaxLargeSamples) ls = &g_large_pool[g_large_used++];
    if (ls) ls->s = smp;
  }
  if (ls) account(smp, own ? h->prof.stripe : 0);
  if (own) h->prof.busy = false;
  take_pending_dump();
  return ls;
}

void profile_large_free(void* sample) {
  auto* ls = static_cast<LargeSample*>(sample);
  unaccount(ls->s, my_stripe());
  LockGuard g(g_lock);
  ls->next = g_large_free;
  g_large_free = ls;
}

void profile_large_resized(void* sample, size_t usable) {
  Sample& s = static_cast<LargeSample*>(sample)->s;
  // Drawn at the old size with probability p (blocks = kBlockUnit / p), the block stays
  // drawn: it now stands for usable / p bytes.
  uint64_t bytes = uint64_t(double(usable) * double(s.blocks) / double(kBlockUnit) + 0.5);
  if (s.stack && s.gen == g_gen)
    g_counts[(s.stack - 1) * kStripes + my_stripe()].live_bytes.fetch_add(bytes - s.bytes, std::memory_order_relaxed);
  s.bytes = bytes;
}

void profile_free(void* p, const char* caller) {
  ArenaHeader* h = checked_header(p, caller);
  if (!__atomic_exchange_n(&h->live, 0, __ATOMIC_ACQ_REL)) double_free(p, caller);
  uint32_t stripe = my_stripe();
  unaccount(h->sample, stripe);
  int64_t size = int64_t(slot_size(h->slot_class));
  int64_t live = g_arena_live.fetch_sub(size, std::memory_order_relaxed) - size;
  int64_t keep = live / 4 > kArenaIdleKeep ? live / 4 : kArenaIdleKeep;
  h->decommitted = 0;
  if (size_t(size) >= kDecommitSlot && g_arena_idle.load(std::memory_order_relaxed) + size > keep) {
    uintptr_t from = (reinterpret_cast<uintptr_t>(p) + sizeof(void*) + os::kPageSize - 1) & ~(os::kPageSize - 1);
    uintptr_t to = (reinterpret_cast<uintptr_t>(p) - h->offset + uintptr_t(size)) & ~(os::kPageSize - 1);
    if (to > from) {
      os::decommit(reinterpret_cast<void*>(from), to - from);
      h->decommitted = 1;
    }
  }
  if (!h->decommitted) g_arena_idle.fetch_add(size, std::memory_order_relaxed);
  Stripe& st = g_stripes[stripe];
  LockGuard g(st.lock);
  *static_cast<void**>(p) = st.free[h->slot_class].load(kRelaxed);
  st.free[h->slot_class].store(p, kRelaxed);
}

size_t profile_usable_size(const void* p, const char* caller) {
  ArenaHeader* h = checked_header(p, caller);
  if (!__atomic_load_n(&h->live, __ATOMIC_RELAXED)) double_free(p, caller);
  return h->usable;
}

void profile_at_exit() {
  if (!g_profile_on) return;
  LockGuard g(g_lock);
  dump_locked(g_exit_path, true);
}

void profile_lock() {
  g_lock.lock();
  for (Stripe& st : g_stripes) st.lock.lock();
}

void profile_unlock() {
  for (Stripe& st : g_stripes) st.lock.unlock();
  g_lock.unlock();
}

void profile_reset_in_child() {
  g_lock.reset();
  for (Stripe& st : g_stripes) st.lock.reset();
  if (!g_profile_on) return;
  // The parent's samples stay with their blocks but leave the profile: a new generation.
  g_gen++;
  for (uint32_t i = 0; i < kBuckets; i++) g_buckets[i].store(0, std::memory_order_relaxed);
  g_nstacks.store(0, std::memory_order_relaxed);
  g_dump_seq = 0;
  g_dump_pending.store(false, std::memory_order_relaxed);
  Line l;
  l.str(g_options.profile_path).ch('.').u64(uint64_t(getpid()));
  const char* s = l.c_str();
  size_t n = cstr_len(s);
  if (n >= sizeof(g_exit_path)) n = sizeof(g_exit_path) - 1;
  for (size_t i = 0; i < n; i++) g_exit_path[i] = s[i];
  g_exit_path[n] = 0;
}

}  // namespace hakmem

using namespace hakmem;

extern "C" __attribute__((visibility("default"))) int hak_profile_dump(const char* path) {
  if (!g_profile_on) {
    errno = ENOENT;
    return -1;
  }
  LockGuard g(g_lock);
  return dump_locked(path ? path : g_exit_path, false);
}
