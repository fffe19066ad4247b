// The ownership protocol of the seed: a thread claims a slab before it drains that
// slab's remote frees, on every path, and nothing else touches a slab's local list.
//
// verify/slab_protocol.pml models these functions; change both together.
#pragma once
#include <cstdint>

#include "tiny/superslab.h"

namespace hakmem {

struct ThreadHeap;

// Claim, then drain: the one way any refill path takes a slab. Succeeds when the
// slab already belongs to h or when the CAS of owner_tid from `expected`
// (kOwnerNone, or kOwnerPool for a slab the pool just handed out) to h->tid wins.
// After success h owns the slab and its remote queue has been spliced into the local
// free list.
bool slab_acquire(ThreadHeap* h, Slab* s, uint32_t expected = kOwnerNone);

// The owner lets go of a slab that is on none of its lists (it filled up, or its
// thread is exiting): back to the pool when no block is in use, else unowned (offered
// for adoption when it has free blocks), and the first free into it adopts it. Remote
// frees that race with the release are drained again by the releaser (claim, then
// drain) unless a freeing thread claimed the slab first, so nothing waits in the queue
// of a slab nobody will look at.
void slab_let_go(ThreadHeap* h, Slab* s);

// A free from a thread that does not own the slab.
void slab_remote_free(Slab* s, void* p);

// Announce that s holds remote frees: whoever wins the `listed` token routes s to its
// owner's mailbox, or to the global mailbox of its class when it has no owner.
void slab_notify(Slab* s);

// Take s off a mailbox (the caller popped it): clears the token and, if s still needs
// announcing to someone else, announces it again.
bool slab_take_listed(ThreadHeap* h, Slab* s, uint32_t expected = kOwnerNone);

// Global per-class lists of unowned slabs. The mailbox holds slabs with remote frees
// (an entry carries the `listed` token); the adopt list holds slabs with free blocks
// whose owner let go of them (an entry is a hint: whoever pops it claims it, or finds
// someone else did). The two use separate links so a slab waiting for adoption can
// still be announced, and adopted by the first thread that frees into it.
enum class OrphanList { kMailbox, kAdopt };
void orphan_push(OrphanList which, uint32_t c, Slab* s);  // kMailbox: caller holds the token
Slab* orphan_pop(OrphanList which, uint32_t c);           // kAdopt: clears adopt_listed
// Puts an unowned slab with free blocks on the adopt list of its class (once).
void adopt_offer(Slab* s, uint32_t c);
void orphan_lock_all();
void orphan_unlock_all();
void orphan_reset_locks_in_child();
// Fork child: a thread that died between taking a token (or the adopt flag) and
// pushing the slab onto its list leaves the flag set with no entry, and nobody would
// announce or offer that slab again. The child clears every flag and sets it again
// for exactly the slabs the global lists hold (`mailboxes` adds the surviving heaps'
// mailboxes, whose entries carry tokens too).
void orphan_rebuild_flags_in_child(Slab* const* mailboxes, int n);

// Mid-size blocks (above kMaxSmallBlock) freed by another thread count as retained
// memory (Retained::kRemotePending) from their remote free until they are handed out
// again or their slab goes back to the pool: their third word carries this mark while
// they count (the first two are the link and the free mark). Over the budget they are
// not counted but their inner pages go back.
inline constexpr uintptr_t kPendingCounted = 0x68616b70656e6421ull;  // "hakpend!"
inline constexpr int kPendingWord = 2;
void mid_block_uncount(void* p, size_t block_size);
// The allocation paths of mid-size classes call this on the block they hand out.
inline void mid_block_taken(void* p, size_t block_size) {
  if (__builtin_expect(static_cast<uintptr_t*>(p)[kPendingWord] == kPendingCounted, 0)) mid_block_uncount(p, block_size);
}
// A slab going back to the pool: its free blocks stop counting.
void slab_uncount_free_blocks(Slab* s);

// Free-list link encoding: plain pointers normally; in guard mode xor-ed with a
// per-process secret and the slot address, and checked when read.
void* link_decode_checked(Slab* s, void* block);  // guard mode only
void link_store(void* block, void* next);         // encodes in guard mode
void ownership_init(uint64_t entropy);  // sets the guard-mode secret

}  // namespace hakmem
