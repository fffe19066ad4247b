// Owner-local operations on one slab: format, carve, pop, push. The caller owns the
// slab (ownership.h); these never look at the remote queue.
#pragma once
#include "tiny/superslab.h"

namespace hakmem {

inline bool slab_has_free(const Slab* s) { return s->freelist || s->carved < s->capacity; }

// Gives a freshly claimed pool slab to class c.
void slab_format(Slab* s, uint32_t c);
// Moves up to a batch of never-used blocks onto the free list, so a slab's pages are
// touched only as it fills; `lean`: one page's worth at a time (at least a block).
// False when nothing is left to carve.
bool slab_carve(Slab* s, bool lean = false);
// Slow-path pop (checked in guard mode); nullptr when the local list and the
// uncarved tail are both empty. `lean` as for slab_carve.
void* slab_pop(Slab* s, bool lean = false);
// Slow-path push by the owner; the caller settles the slab's list afterwards.
void slab_push_local(Slab* s, void* p);

}  // namespace hakmem
