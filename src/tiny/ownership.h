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

// The owner gives the slab up (owner_tid -> 0). Remote frees that raced with the
// release are routed so that some future owner finds them.
void slab_release(Slab* s);

// A free from a thread that does not own the slab.
void slab_remote_free(Slab* s, void* p);

// Announce that s holds remote frees: whoever wins the `listed` token routes s to its
// owner's mailbox, or to the global mailbox of its class when it has no owner.
void slab_notify(Slab* s);

// Take s off a mailbox or list (the caller popped it): clears the token and, if s
// still needs announcing to someone else, announces it again.
bool slab_take_listed(ThreadHeap* h, Slab* s, uint32_t expected = kOwnerNone);

// Global per-class lists of unowned slabs.
enum class OrphanList { kMailbox, kAdopt };
void orphan_push(OrphanList which, uint32_t c, Slab* s);  // caller holds the token
Slab* orphan_pop(OrphanList which, uint32_t c);
void orphan_lock_all();
void orphan_unlock_all();
void orphan_reset_locks_in_child();

// Free-list link encoding: plain pointers normally; in guard mode xor-ed with a
// per-process secret and the slot address, and checked when read.
void* link_decode_checked(Slab* s, void* block);  // guard mode only
void link_store(void* block, void* next);         // encodes in guard mode
void ownership_init(uint64_t entropy);  // sets the guard-mode secret

}  // namespace hakmem
