/*
 * slab_protocol.pml -- Promela model of hakmem's slab ownership protocol
 * (notes/protocol.md; code in src/tiny/ownership.cpp, heap.cpp, refill.cpp, collect.cpp,
 * superslab.cpp, slab_ops.cpp and src/api/alloc_inline.h). Each inline below is named
 * after the C++ function it stands for; change both together.
 *
 * The instance: NT threads (tids 1..NT) share NS slabs of one size class with BPS blocks
 * each. A slab has an owner (kOwnerPool while it sits in the pool of free slabs, 0 when
 * unowned, else a tid), an owner-only local free list, an atomic remote stack (push by
 * CAS, drain by exchange) and the `listed` token. A thread heap has a mailbox (MPSC stack
 * of slabs, CLOSED at exit) and owner-local lists (bound, partial, full, empty; here the
 * bound slab plus the ghost set owned[]). The global mailbox and adopt lists are locked
 * lists. A thread runs up to MAXOPS operations -- malloc, free of ANY allocated block
 * (its own or one that another thread, live or exited, handed to it), heap_tick,
 * collect_orphans -- and may exit at any time; with MAXLIVES > 1 the heap of thread 1 is
 * then recycled for a new thread with the same tid (heap_new's free list of heaps).
 * A slab bound to its owner carries bound_hint: pushers do not announce it, and the
 * owner looks at its remote stack when it unbinds it.
 * Not modelled: the fast cache (HAKMEM_TINY_FAST_CAP, owner-local), carving (blocks are
 * carved when the slab is formatted), several size classes, guard mode, fork (the
 * child's release_dead_owners), SuperSlab conversion between kinds, the order of the
 * partial/full/empty lists (any owned slab with free blocks may be chosen).
 *
 * Ghost state (only here to state the properties):
 *   gstate[b], holder[b]  FREE_LOCAL | FREE_REMOTE | ALLOC(by holder)   per block
 *   owned[t]              slabs thread t believes it owns (its bound/partial/full/empty)
 *   pend[s]               threads obliged to announce s: a pusher whose push made the
 *                         stack non-empty (until slab_notify's exchange), a releaser (until
 *                         it looked at remote_head), a thread that cleared the token in
 *                         slab_take_listed (until it owns s or looked at remote_head)
 *   where[s]              the mailbox or list s is on (this IS the lists' content)
 *
 * Properties (assert; the numbers are referred to below):
 *   P1 never two owners: a winning claim (slab_acquire) finds s in nobody else's owned[];
 *      the never claim checks owned[t] has s => owner[s] == t in every reachable state.
 *   P2 only the owner touches the local list / used / drains: assert(owner == self) in
 *      slab_drain ("hakmem: ownership violation"), slab_pop, slab_push_local, format.
 *   P3 no block on two lists, none handed out twice: gstate checks at every pop, push,
 *      drain and format; the collector's walk of every list at the end.
 *   P4 no remote free is lost: never claim, in every state: remote_head != NIL => owned
 *      by a thread, or listed, or pend > 0. Collector, at the end: a non-empty remote stack sits on the
 *      global mailbox or adopt list.
 *   P5 a slab is on at most one list, and only its token holder puts it there.
 *   P6 adoption: at the end, a slab with free blocks is in the pool or on a global list
 *      (else its free memory is stranded until someone frees into it). -DNO_P6 drops it.
 *   P7 bound_hint is set only on a slab its owner holds (so "no announcement" is safe).
 *
 * Variants (spin -D...):
 *   -DUNSAFE_DRAIN     the seed's bug as hakmem_faulty has it (HAKMEM_FAULT_UNSAFE_DRAIN
 *                      in slab_acquire): drain a slab with remote frees before the claim.
 *                      The ownership assertion in slab_drain must fire.
 *   -DNO_OWNER_ASSERT  without that assertion (the seed shipped without it): with
 *                      UNSAFE_DRAIN the ghost checks find the corruption itself.
 *   -DPOOL_TOKEN_DROP  route() with its former kOwnerPool shortcut (a late notifier that
 *                      found the slab pooled cleared the token instead of listing it).
 *                      spin found P6 (3 threads) and P4 (3 threads, one heap recycled)
 *                      broken by it; the code now lists the slab, as the default model does.
 *   -DNT= -DNS= -DBPS= -DMAXOPS= -DMAXLIVES=   size of the instance.
 *
 * Reduction: a step that touches only the owner's local state commutes with every step of
 * every other thread (while P2 holds, which is asserted), so an atomic block holds at most
 * one access to shared state (owner, remote_head, listed, mailboxes, lists, pool) plus any
 * owner-local work (Lipton's reduction). With NO_OWNER_ASSERT, P2 is not guaranteed, so the
 * owner-local work is split into the steps the machine makes (OWNER_STEP).
 */

#ifndef NT
#define NT 2
#endif
#ifndef NS
#define NS 2
#endif
#ifndef BPS
#define BPS 2
#endif
#ifndef MAXOPS
#define MAXOPS 3
#endif
#ifndef MAXLIVES
#define MAXLIVES 1
#endif
#define LIVES (self == 1 -> MAXLIVES : 1)   /* only thread 1's heap is recycled */
#define NB (NS * BPS)

#ifdef NO_OWNER_ASSERT
#define OWNER_STEP
#else
#define OWNER_STEP atomic
#endif

#define NIL 255                 /* null block pointer */
#define NONE 255                /* no slab */
#define OWNER_NONE 0            /* kOwnerNone */
#define OWNER_POOL 254          /* kOwnerPool */
#define SLAB_OF(b) ((b) / BPS)  /* free(p) finds the slab by masking p */
#define BIT(s) (1 << (s))

#define G_LOCAL  0
#define G_REMOTE 1
#define G_ALLOC  2
#define FREEING(t) (16 + (t))   /* holder while thread t frees the block */

#define W_NONE  0
#define W_GMB   1               /* OrphanList::kMailbox */
#define W_ADOPT 2               /* OrphanList::kAdopt */
#define W_MB(t) (2 + (t))       /* heap(t)->mailbox */

/* ---- Slab (SuperSlab header) ---- */
byte owner[NS] = OWNER_POOL;    /* owner_tid: a fresh SuperSlab's slabs are in the pool */
byte remote_head[NS] = NIL;
byte free_head[NS];             /* freelist (owner-local) */
byte used[NS];                  /* used (owner-local) */
bool listed[NS];
byte where[NS];                 /* list_next + the list heads */
bool in_pool[NS] = true;        /* bit in SuperSlab::free_mask */
bool bound_hint[NS];            /* bound to its owner: pushers need not announce */
byte link[NB];                  /* a free block's first word */
/* ---- ThreadHeap ---- */
bool closed[NT + 1];            /* mailbox == kMailboxClosed */
byte ndone;
/* ---- ghosts ---- */
/* Always false: `assert(cond || name)` makes spin's report name the property. */
bool hakmem_ownership_violation, P1_two_owners, P2_not_owner, P3_block_twice, P3_block_lost,
     P4_remote_free_lost, P5_listed_token_broken, P6_free_blocks_stranded, P7_hint_without_owner;
byte gstate[NB];
byte holder[NB];
byte owned[NT + 1];
byte pend[NS];

/* ======================= ownership.cpp ======================= */

/* slab_drain: only the owner, only through slab_acquire. */
inline slab_drain(sl) {
  OWNER_STEP {
#ifndef NO_OWNER_ASSERT
    assert(owner[sl] == self || hakmem_ownership_violation);       /* P2 */
#endif
    atomic { lst = remote_head[sl]; remote_head[sl] = NIL;
             printf("T%d drains S%d (stack head %d)\n", self, sl, lst) }
    if
    :: lst != NIL ->
       d_step {  /* the detached list is private: walk to its tail */
         cnt = 0; tail = lst;
         do
         :: assert((gstate[tail] == G_REMOTE && SLAB_OF(tail) == sl) || P3_block_twice);
            gstate[tail] = G_LOCAL; cnt++;
            assert(cnt <= BPS);
            if
            :: link[tail] == NIL -> break
            :: else -> tail = link[tail]
            fi
         od
       }
       link[tail] = free_head[sl];
       free_head[sl] = lst;
       used[sl] = used[sl] - cnt
    :: else -> skip
    fi
  }
}

/* slab_acquire(h, s, expected): claim (CAS expected -> self) unless already ours, then
 * drain. `dec` ends the caller's obligation (pend) once the slab is ours. */
inline slab_acquire(sl, exp, okv, dec) {
#ifdef UNSAFE_DRAIN
  if  /* HAKMEM_FAULT_UNSAFE_DRAIN: the seed's drain before the claim */
  :: exp == OWNER_NONE && remote_head[sl] != NIL -> slab_drain(sl)
  :: else -> skip
  fi;
#endif
  atomic {
    if
    :: owner[sl] == self -> okv = true
    :: owner[sl] != self && owner[sl] == exp ->
       owner[sl] = self; okv = true;
       printf("T%d claims S%d (owner was %d)\n", self, sl, exp);
       for (k : 1 .. NT) { assert(k == self || (owned[k] & BIT(sl)) == 0 || P1_two_owners) }
       owned[self] = owned[self] | BIT(sl)
    :: else -> okv = false
    fi;
    if :: okv -> pend[sl] = pend[sl] - dec :: else -> skip fi
  }
  if
  :: okv -> slab_drain(sl)
  :: else -> skip
  fi
}

/* orphan_push (caller holds the token) / orphan_pop (any slab of the list: order is
 * abstracted away). */
inline orphan_push(sl, w) {
  atomic { assert(where[sl] == W_NONE && listed[sl]); where[sl] = w;   /* P5 */
           if
           :: w == W_GMB -> printf("T%d pushes S%d on the global mailbox\n", self, sl)
           :: else -> printf("T%d pushes S%d on the adopt list\n", self, sl)
           fi }
}
inline orphan_pop(w, out) {
  atomic {
    out = NONE;
    for (k : 0 .. NS - 1) {
      if
      :: where[k] == w && out == NONE -> out = k
      :: where[k] == w && out == NONE -> skip   /* or a later one */
      :: else -> skip
      fi
    }
    if
    :: out == NONE ->  /* skipped all: the first one */
       for (k : 0 .. NS - 1) { if :: where[k] == w && out == NONE -> out = k :: else -> skip fi }
    :: else -> skip
    fi;
    if
    :: out != NONE -> where[out] = W_NONE; printf("T%d pops S%d from global list %d\n", self, out, w)
    :: else -> skip
    fi
  }
}

/* route(s): the caller holds the token. */
inline route(sl) {
  atomic { o = owner[sl]; printf("T%d routes S%d: owner %d\n", self, sl, o) }
  if
#ifdef POOL_TOKEN_DROP
  /* The code before 2026-11-25 15:00: a late notifier dropped the token of a pooled
   * slab. spin found the slab re-taken, released with free blocks and stranded (its
   * releaser's offer failed on the token being dropped): P6. Kept to show the check. */
  :: o == OWNER_POOL ->
     atomic { listed[sl] = false; printf("T%d: S%d is pooled, drops its token\n", self, sl) }
  :: o == OWNER_NONE -> orphan_push(sl, W_GMB)
#else
  :: o == OWNER_POOL || o == OWNER_NONE -> orphan_push(sl, W_GMB)   /* stale entries are harmless */
#endif
  :: else ->
     atomic {  /* CAS push on heap(o)->mailbox; gives up on kMailboxClosed */
       if
       :: closed[o] -> tok = true
       :: else -> assert(where[sl] == W_NONE && listed[sl]); where[sl] = W_MB(o); tok = false;
                  printf("T%d puts S%d in T%d's mailbox\n", self, sl, o)
       fi
     }
     if :: tok -> orphan_push(sl, W_GMB) :: else -> skip fi
  fi
}

/* slab_notify: the caller's obligation (pend) ends with the exchange of the token. */
inline slab_notify(sl) {
  atomic { tok = listed[sl]; listed[sl] = true; pend[sl]--;
           printf("T%d notifies S%d (token was %d)\n", self, sl, tok) }
  if
  :: tok -> skip
  :: else -> route(sl)
  fi
}

/* slab_release: store 0, then look at remote_head (Dekker with slab_remote_free).
 * hasfree = slab_has_free(s), read by heap_thread_exit/collect_orphans just before. */
inline slab_release(sl) {
  atomic { assert(owner[sl] == self && !bound_hint[sl]); hasfree = (free_head[sl] != NIL);
           owner[sl] = OWNER_NONE; owned[self] = owned[self] & ~BIT(sl); pend[sl]++;
           printf("T%d releases S%d (free blocks %d)\n", self, sl, hasfree) }
  atomic { rel = (remote_head[sl] != NIL); if :: !rel -> pend[sl]-- :: else -> skip fi }
  if :: rel -> slab_notify(sl) :: else -> skip fi
}

/* slab_take_listed: the caller popped sl from a mailbox or list. */
inline slab_take_listed(sl, okv) {
  atomic { listed[sl] = false; pend[sl]++; printf("T%d clears the token of S%d\n", self, sl) }
  slab_acquire(sl, OWNER_NONE, okv, 1);
  if
  :: !okv ->
     atomic { rel = (remote_head[sl] != NIL); if :: !rel -> pend[sl]-- :: else -> skip fi }
     if :: rel -> slab_notify(sl) :: else -> skip fi
  :: else -> skip
  fi
}

/* ============ slab_ops.cpp, alloc_inline.h: owner-local block operations ============ */

/* slab_pop */
inline slab_pop(sl, out) {
  OWNER_STEP {
    assert(owner[sl] == self || P2_not_owner);
    h = free_head[sl];
    if
    :: h == NIL -> out = NIL
    :: else ->
       free_head[sl] = link[h];
       atomic { assert((gstate[h] == G_LOCAL && SLAB_OF(h) == sl) || P3_block_twice);
                gstate[h] = G_ALLOC; holder[h] = self; used[sl]++; out = h;
                printf("T%d allocates block %d of S%d\n", self, h, sl) }
    fi
  }
}

/* slab_format: a slab fresh from the pool: nothing out, nothing pending. */
inline slab_format(sl) {
  d_step {
    assert(owner[sl] == self && used[sl] == 0 && remote_head[sl] == NIL);  /* P2, P3 */
    cnt = 0; h = free_head[sl];
    do
    :: h == NIL -> break
    :: else -> assert(gstate[h] == G_LOCAL && SLAB_OF(h) == sl); cnt++; assert(cnt <= BPS);
               h = link[h]
    od;
    assert(cnt == BPS);
    h = 0; cnt = 0
  }
}

/* pool_take_slab: a slab of free_mask, still owned by kOwnerPool. */
inline pool_take_slab(out) {
  atomic {
    out = NONE;
    for (k : 0 .. NS - 1) { if :: in_pool[k] && out == NONE -> out = k :: else -> skip fi }
    if
    :: out != NONE -> in_pool[out] = false; printf("T%d takes S%d from the pool\n", self, out)
    :: else -> skip
    fi
  }
}

/* pool_return_slab: owner_tid = kOwnerPool (release), then into free_mask under the lock. */
inline pool_return_slab(sl) {
  atomic { assert(owner[sl] == self && used[sl] == 0 && remote_head[sl] == NIL && !bound_hint[sl]);
           owner[sl] = OWNER_POOL; owned[self] = owned[self] & ~BIT(sl);
           printf("T%d returns S%d to the pool\n", self, sl) }
  in_pool[sl] = true
}

/* ======================= heap.cpp ======================= */

/* heap_bind (refill's steps 2-5 run with no slab bound). */
inline heap_bind(sl) {
  atomic { assert(bound == NONE && owner[sl] == self); bound = sl; bound_hint[sl] = true;
           printf("T%d binds S%d\n", self, sl) }
}

/* unlink() of the bound slab: from now on pushers announce; what came before is ours to
 * drain (the seq_cst store/load pair mirrors slab_release against slab_remote_free). */
inline heap_unbind() {
  bound_hint[bound] = false;
  if
  :: remote_head[bound] != NIL ->
     slab_acquire(bound, OWNER_NONE, ok2, 0);
     assert(ok2)
  :: else -> skip
  fi;
  bound = NONE
}

/* heap_settle: an owned slab goes to the list its state calls for. Lists are derived
 * here (owned[] plus the block counts), so only the unused case does anything: the code
 * keeps up to kKeepEmptySmall (4) unused slabs per class on the empty list, which with
 * NS <= 4 is all of them; heap_tick and heap_thread_exit give them back to the pool. */
inline heap_settle(sl) {
  skip
}

/* heap_process_mailbox */
inline heap_process_mailbox() {
  atomic {
    taken = 0;
    for (k : 0 .. NS - 1) {
      if :: where[k] == W_MB(self) -> taken = taken | BIT(k); where[k] = W_NONE :: else -> skip fi
    }
  }
  for (s2 : 0 .. NS - 1) {
    if
    :: taken & BIT(s2) ->
       slab_take_listed(s2, ok2);
       if :: ok2 -> heap_settle(s2) :: else -> skip fi
    :: else -> skip
    fi
  }
}

/* free_slab_block (alloc_inline.h) for any allocated block: the application handed it to
 * this thread (the hand-over is atomic: two threads never free one block). The owner
 * pushes locally (slab_push_local), anyone else calls slab_remote_free. */
inline do_free() {
  atomic {
    b = 0;
    do
    :: b < NB && gstate[b] == G_ALLOC && holder[b] >= 1 && holder[b] <= NT -> break
    :: b < NB -> b++
    :: b == NB -> break
    od;
    if
    :: b < NB ->
       holder[b] = FREEING(self); sb = SLAB_OF(b);
       mine = (owner[sb] == self)
    :: else -> skip
    fi
  }
  if
  :: b < NB && mine ->
     OWNER_STEP {  /* slab_push_local */
       assert(owner[sb] == self || P2_not_owner);
       atomic { assert(gstate[b] == G_ALLOC); gstate[b] = G_LOCAL; holder[b] = 0;
                printf("T%d frees block %d of its S%d\n", self, b, sb) }
       prev = free_head[sb];
       link[b] = prev;
       free_head[sb] = b;
       used[sb]--
     }
     /* heap_free_local_slow when the list was empty or the slab went unused */
     if :: prev == NIL || used[sb] == 0 -> heap_settle(sb) :: else -> skip fi
  :: b < NB && !mine ->  /* slab_remote_free */
     atomic {
       assert(gstate[b] == G_ALLOC && holder[b] == FREEING(self));
       prev = remote_head[sb]; link[b] = prev; remote_head[sb] = b;
       gstate[b] = G_REMOTE; holder[b] = 0;
       printf("T%d frees block %d of S%d remotely (stack head was %d)\n", self, b, sb, prev);
       if :: prev == NIL -> pend[sb]++ :: else -> skip fi
     }
     if
     :: prev == NIL ->
        /* The push made the stack non-empty. A bound slab's owner drains it unasked
         * (bound_hint). An unowned slab is adopted by the freeing thread (claim, then
         * drain, through slab_take_listed). Else slab_notify. */
        atomic { tok = bound_hint[sb]; if :: tok -> pend[sb]-- :: else -> skip fi }
        if
        :: tok -> o = NONE   /* no announcement */
        :: else -> o = owner[sb]
        fi;
        if
        :: o == NONE -> skip
        :: o == OWNER_NONE ->
           atomic { tok = listed[sb]; listed[sb] = true; if :: !tok -> pend[sb]-- :: else -> skip fi;
                    printf("T%d adopts unowned S%d? (token was %d)\n", self, sb, tok) }
           if
           :: !tok -> slab_take_listed(sb, ok2)   /* then heap_settle */
           :: else -> slab_notify(sb)
           fi
        :: else -> slab_notify(sb)
        fi
     :: else -> skip
     fi
  :: else -> skip
  fi
}

/* ======================= refill.cpp ======================= */

/* take_orphan: pop until a slab is ours; bind it if it has free blocks. */
inline take_orphan(w) {
  do
  :: ok -> break
  :: else ->
     orphan_pop(w, s);
     if
     :: s == NONE -> break
     :: else ->
        slab_take_listed(s, ok2);
        if
        :: ok2 && free_head[s] != NIL -> heap_bind(s); ok = true
        :: ok2 && free_head[s] == NIL -> heap_settle(s)
        :: else -> skip
        fi
     fi
  od
}

/* refill(h, c): the bound slab ran dry. ok = a bound slab with free blocks. */
inline refill() {
  ok = false;
  /* 1. the bound slab's own remote frees */
  if
  :: bound != NONE ->
     if
     :: remote_head[bound] != NIL ->
        slab_acquire(bound, OWNER_NONE, ok2, 0);
        assert(ok2);
        ok = (free_head[bound] != NIL)
     :: else -> skip
     fi;
     if :: !ok -> heap_unbind() :: else -> skip fi   /* heap_place(kFull) */
  :: else -> skip
  fi;
  /* 2. own mailbox, then the partial or empty list */
  if
  :: !ok ->
     heap_process_mailbox();
     atomic {  /* owner-local lists: any owned slab with free blocks */
       s = NONE;
       for (k : 0 .. NS - 1) {
         if
         :: (owned[self] & BIT(k)) && free_head[k] != NIL && s == NONE -> s = k
         :: (owned[self] & BIT(k)) && free_head[k] != NIL && s == NONE -> skip
         :: else -> skip
         fi
       }
       if
       :: s == NONE ->
          for (k : 0 .. NS - 1) {
            if :: (owned[self] & BIT(k)) && free_head[k] != NIL && s == NONE -> s = k :: else -> skip fi
          }
       :: else -> skip
       fi;
     }
     if :: s != NONE -> heap_bind(s); ok = true :: else -> skip fi
  :: else -> skip
  fi;
  /* 3. global mailbox, 4. adopt list */
  if :: !ok -> take_orphan(W_GMB) :: else -> skip fi;
  if :: !ok -> take_orphan(W_ADOPT) :: else -> skip fi;
  /* 5. pool (mmap gate); 6. a new SuperSlab = out of memory in this model */
  if
  :: !ok ->
     pool_take_slab(s);
     if
     :: s == NONE ->  /* before mapping a new SuperSlab: empty slabs parked in the lists */
        collect_orphans();
        pool_take_slab(s)
     :: else -> skip
     fi;
     if
     :: s != NONE ->
        slab_acquire(s, OWNER_POOL, ok2, 0);
        assert(ok2);   /* fatal("pool handed out a slab that was not free") */
        slab_format(s);
        heap_bind(s); ok = true
     :: else -> skip
     fi
  :: else -> skip
  fi
}

/* heap_alloc_slow for the class */
inline do_malloc() {
  b = NIL;
  if :: bound != NONE -> slab_pop(bound, b) :: else -> skip fi;
  if
  :: b == NIL ->
     refill();
     if :: ok -> slab_pop(bound, b); assert(b != NIL) :: else -> skip fi
  :: else -> skip
  fi
}

/* heap_tick: the mailbox, then maybe the expired empty slabs go back to the pool. */
inline heap_tick() {
  heap_process_mailbox();
  for (s : 0 .. NS - 1) {
    if
    :: (owned[self] & BIT(s)) && s != bound && used[s] == 0 ->
       if :: skip :: pool_return_slab(s) fi
    :: else -> skip
    fi
  }
}

/* collect_list (collect.cpp): claim every slab of a global list; ours after all ->
 * settle; unused -> pool; else release it, and park those with free blocks (token taken)
 * to be pushed on the adopt list at the end. */
inline collect_list(w) {
  do
  :: orphan_pop(w, sc);
     if
     :: sc == NONE -> break
     :: else ->
        mine = ((owned[self] & BIT(sc)) != 0);   /* s->place != kNone afterwards */
        slab_take_listed(sc, ok2);
        if
        :: ok2 && mine -> skip                       /* heap_settle */
        :: ok2 && !mine && used[sc] == 0 -> pool_return_slab(sc)
        :: ok2 && !mine && used[sc] != 0 ->
           slab_release(sc);
           if
           :: hasfree ->
              atomic { tok = listed[sc]; listed[sc] = true;
                       printf("T%d offers S%d for adoption (token was %d)\n", self, sc, tok) }
              if :: !tok -> keep = keep | BIT(sc) :: else -> skip fi
           :: else -> skip
           fi
        :: else -> skip
        fi
     fi
  od
}

/* collect_orphans: both global lists; then the parked slabs go on the adopt list. */
inline collect_orphans() {
  keep = 0;
  collect_list(W_GMB);
  collect_list(W_ADOPT);
  for (sc : 0 .. NS - 1) {
    if :: keep & BIT(sc) -> orphan_push(sc, W_ADOPT) :: else -> skip fi
  }
  keep = 0; sc = 0
}

/* heap_thread_exit */
inline heap_thread_exit() {
  atomic {  /* mailbox.exchange(kMailboxClosed) */
    closed[self] = true; taken = 0;
    printf("T%d exits\n", self);
    for (k : 0 .. NS - 1) {
      if :: where[k] == W_MB(self) -> taken = taken | BIT(k); where[k] = W_NONE :: else -> skip fi
    }
  }
  for (s2 : 0 .. NS - 1) {
    if :: taken & BIT(s2) -> slab_take_listed(s2, ok2) :: else -> skip fi
  }
  for (s : 0 .. NS - 1) {
    if
    :: owned[self] & BIT(s) ->
       slab_acquire(s, OWNER_NONE, ok2, 0);   /* ours already: drains */
       assert(ok2);
       if :: s == bound -> heap_unbind() :: else -> skip fi;   /* unlink */
       if
       :: used[s] == 0 -> pool_return_slab(s)
       :: else ->
          slab_release(s);
          if
          :: hasfree ->
             atomic { tok = listed[s]; listed[s] = true;
                      printf("T%d offers S%d for adoption (token was %d)\n", self, s, tok) }
             if :: !tok -> orphan_push(s, W_ADOPT) :: else -> skip fi
          :: else -> skip
          fi
       fi
    :: else -> skip
    fi
  }
  assert(owned[self] == 0 && bound == NONE)
}

proctype thread(byte self) {
  byte bound = NONE;
  byte s, s2, sb, sc, b, h, lst, tail, cnt, prev, o, taken, keep, k, ops, lives;
  bool ok, ok2, tok, rel, hasfree, mine;
  do
  :: lives < LIVES ->
     atomic {
       lives++;
       ops = 0;
       closed[self] = false;   /* heap_reset: a recycled heap, same tid */
       printf("T%d starts (heap use %d)\n", self, lives)
     }
     do
     :: ops < MAXOPS ->
        ops++;
        if
        :: do_malloc()
        :: do_free()
        :: heap_tick()
        :: collect_orphans()
        fi;
        skip;  /* forget the temporaries: equal heaps make equal states */
        d_step { s = 0; s2 = 0; sb = 0; b = 0; h = 0; lst = 0; tail = 0; cnt = 0; prev = 0;
                 o = 0; taken = 0; k = 0; ok = false; ok2 = false; tok = false; rel = false;
                 hasfree = false; mine = false }
     :: break
     od;
     heap_thread_exit();
     skip;
     d_step { s = 0; s2 = 0; sb = 0; b = 0; h = 0; lst = 0; tail = 0; cnt = 0; prev = 0;
              o = 0; taken = 0; k = 0; ok = false; ok2 = false; tok = false; rel = false;
              hasfree = false; mine = false; ops = 0 }
  :: lives > 0 && lives < LIVES -> break
  :: else -> break
  od;
  ndone++
}

/* P1, P4, P5 in every reachable state: a never claim is evaluated after every step (a
 * monitor process would double the states); the failing assertion names the property.
 * It is stutter-invariant ([] INV), so spin's partial order reduction stays valid. */
#define P1(i, j) ((owned[j] & BIT(i)) == 0 || owner[i] == j)
#define P4(i) (remote_head[i] == NIL || (owner[i] != OWNER_NONE && owner[i] != OWNER_POOL) \
               || listed[i] || pend[i] > 0)
#define P5(i) (where[i] == W_NONE || listed[i])
#define P7(i) (!bound_hint[i] || (owner[i] >= 1 && owner[i] <= NT))
#if NT == 2
#define P1_SLAB(i) (P1(i, 1) && P1(i, 2))
#elif NT == 3
#define P1_SLAB(i) (P1(i, 1) && P1(i, 2) && P1(i, 3))
#else
#define P1_SLAB(i) (P1(i, 1) && P1(i, 2) && P1(i, 3) && P1(i, 4))
#endif
#if NS == 1
#define ALL_SLABS(P) P(0)
#elif NS == 2
#define ALL_SLABS(P) (P(0) && P(1))
#else
#define ALL_SLABS(P) (P(0) && P(1) && P(2))
#endif
#define P1_never_two_owners ALL_SLABS(P1_SLAB)
#define P4_no_lost_remote_free ALL_SLABS(P4)
#define P5_listed_token ALL_SLABS(P5)
#define P7_hint_only_when_owned ALL_SLABS(P7)

never {
  do
  :: P1_never_two_owners && P4_no_lost_remote_free && P5_listed_token && P7_hint_only_when_owned
  :: else ->
     assert(P1_never_two_owners || P1_two_owners);
     assert(P4_no_lost_remote_free || P4_remote_free_lost);
     assert(P5_listed_token || P5_listed_token_broken);
     assert(P7_hint_only_when_owned || P7_hint_without_owner)
  od
}

/* The end: all threads gone. Every block is allocated, or on exactly one list of a slab
 * that some future thread can find. */
active proctype collector() {
  byte i, bl, n;
  byte seen[NB];
  (ndone == NT);
  d_step {
    for (i : 0 .. NS - 1) {
      assert(owner[i] == OWNER_NONE || (owner[i] == OWNER_POOL && in_pool[i]));
      assert(pend[i] == 0 && (where[i] != W_NONE) == listed[i]);
      assert(where[i] == W_NONE || where[i] == W_GMB || where[i] == W_ADOPT);
      n = 0; bl = free_head[i];
      do
      :: bl == NIL -> break
      :: else -> assert(gstate[bl] == G_LOCAL && SLAB_OF(bl) == i);              /* P3 */
                 seen[bl]++; n++; assert(n <= BPS); bl = link[bl]
      od;
      bl = remote_head[i];
      do
      :: bl == NIL -> break
      :: else -> assert(gstate[bl] == G_REMOTE && SLAB_OF(bl) == i);             /* P3 */
                 seen[bl]++; n++; assert(n <= BPS); bl = link[bl]
      od;
      assert(remote_head[i] == NIL || where[i] != W_NONE || P4_remote_free_lost);
#ifndef NO_P6
      assert(n == 0 || in_pool[i] || where[i] != W_NONE || P6_free_blocks_stranded);
#endif
    }
    for (bl : 0 .. NB - 1) {
      assert(gstate[bl] != G_ALLOC || seen[bl] == 0 || P3_block_twice);  /* out and on a list */
      assert(seen[bl] <= 1 || P3_block_twice);                           /* on two lists */
      assert(gstate[bl] == G_ALLOC || seen[bl] == 1 || P3_block_lost);   /* free, on no list */
    }
  }
}

init {
  byte i, bl;
  atomic {
    for (i : 0 .. NS - 1) {  /* formatted and carved: all blocks on the free list */
      free_head[i] = i * BPS;
      for (bl : i * BPS .. i * BPS + BPS - 2) { link[bl] = bl + 1 }
      link[i * BPS + BPS - 1] = NIL
    }
    for (i : 1 .. NT) { run thread(i) }
  }
}
