/*
 * slab_protocol.pml -- Promela model of hakmem's slab ownership protocol
 * (code: src/tiny/ownership.cpp, heap.cpp, refill.cpp, collect.cpp, slab_ops.cpp, the pool
 * of superslab.cpp, src/api/alloc_inline.h; the fork child of heap.cpp). Each inline is
 * named after the C++ function it stands for; change both together.
 *
 * The instance: NT threads (tids 1..NT) share NS slabs of U units each. NCLS size classes:
 * class c has blocks of SZ(c) = c + 1 units, so a slab cut for class 1 has blocks that
 * overlap those of class 0. Blocks are named by their first unit (0 .. NS*U-1). A slab
 * has an owner (kOwnerPool while in the pool, 0 when unowned, else a tid), an owner-local
 * part (free list, used, carved, class, place = its heap list) and a shared part (remote
 * stack, the `listed` token, adopt_listed + the adopt-list entry, bound_hint). A heap has
 * a mailbox (closed at exit), a bound slab per class, a partial and an empty list (place[]
 * of the slabs it owns) and, with -DFAST, a fast cache of one block. Global per-class lists:
 * the mailbox (entries carry the token) and the adopt list (hint entries). Threads run up
 * to MAXOPS operations -- malloc of either class, free of ANY allocated block (the program
 * hands blocks between threads, also blocks of exited or dead threads), heap_tick,
 * collect_orphans, and with -DFORK one fork() -- then exit (heap_thread_exit); with
 * MAXLIVES > 1 thread 1's heap is recycled (same tid). With -DLATE_FREE a thread may free
 * one more block after its teardown (a TLS destructor: retired heap, no adoption).
 *
 * Fork: the forking thread runs on alone (the `provided` clause freezes every other thread
 * where it stands, which may be between any two stores of an owner-local update: with
 * -DFORK every owner-local operation is split at each store, FORK_POINT), then runs the
 * child's recovery (heap_abandon_others_in_child) and goes on with its operations. Every
 * global list and pool operation is one atomic step here, which is what holding all those
 * locks across fork() buys: no thread is inside one at fork time.
 *
 * Ghost state:
 *   gst[u], holder[u]  UNCARVED | LOCAL | REMOTE | ALLOC(holder) | FAST(holder) |
 *                      TRANS(holder: inside an allocator call) | LEAK (unreachable: a dead
 *                      thread held it at fork)
 *   owned[t]           slabs heap t believes it owns (bound, partial, empty)
 *   pendm[s]           threads obliged to look at s's remote stack: a pusher whose push
 *                      made it non-empty (until slab_notify's token exchange or its own
 *                      claim-and-drain), a releaser (until it looked), a claimer (until it
 *                      drained), a thread that cleared the token (until it drained or
 *                      looked), an owner unbinding s (until it looked)
 *
 * Properties (the assertion names appear in spin's report):
 *   P1 never two owners (claim and never claim).
 *   P2 only the owner touches the local list, used, carved, class; only the owner drains
 *      (hakmem_ownership_violation in slab_drain, P2_not_owner elsewhere). -DSHARED: one
 *      thread at a time acts as the shared heap (ghost shactor, checked at its slow scope).
 *   P3 no block handed out twice, on two lists, or both live and listed; carving only
 *      uncarved blocks; no block lost (except LEAK); P3_overlap: a slab is re-cut (formatted)
 *      only when no block of its previous cut is live or queued.
 *   P4 no remote free stranded, in every state: a non-empty remote stack has the token
 *      held, or someone obliged to look (pendm), or an owner who will drain it unasked (bound
 *      slab, or the owner is exiting: closed mailbox). At the end: it is in a global mailbox
 *      (-DSHARED: or in the shared heap's mailbox, bound slab or not: its bind sets no hint).
 *   P5 the token and the lists: a mailbox entry carries the token; an adopt entry has
 *      adopt_listed; a slab is at most once in each. At the end no token is held by nobody.
 *   P6 adoption: at the end an unowned slab with free blocks (or uncarved room) is on the
 *      adopt list or in a global mailbox; a slab owned by kOwnerPool is in the pool.
 *   P7 bound_hint only on a slab its owner has bound (a bound slab without it, as the
 *      shared heap's, is fine: frees into it are announced).
 *   P8 a malloc of class c gets a block of a slab cut for class c (stale list entries that
 *      point to a re-cut slab must not be bound for their old class).
 *   P9 (-DRECLAIM) the reclaimer never takes a slab the owner's unlocked fast paths may use:
 *      when it starts on one, the slab is not bound and no block of it is held (program,
 *      fast cache, a free in progress); slab_pop / slab_push_local find no reclaimer on it.
 *   A used count check at the end (no fork): used == blocks out or queued.
 *
 * Variants (spin -D...); each seeded bug must be found by check.sh unsafe:
 *   -DUNSAFE_DRAIN     the seed's drain before the claim (hakmem_ownership_violation)
 *   -DNO_OWNER_ASSERT  without that assertion: the ghost checks find the corruption (P3)
 *   -DPOOL_TOKEN_DROP  route() drops the token of a pooled slab (the bug fixed 2026-11-25)
 *   -DLETGO_NO_RECHECK slab_let_go does not look at the queue after its release: a free
 *                      routed to the exiting owner's closed mailbox is stranded (P4)
 *   -DNO_CLASS_CHECK   take_orphan binds a stale entry's re-cut slab for the old class (P8)
 *   -DCARVE_LIST_BEFORE_COUNT  slab_carve publishes the block before committing `carved`:
 *                      the fork child carves it again (P3)
 *   -DCHILD_KEEPS_HINT the child takes dead slabs over without resetting place/bound_hint
 *   -DCHILD_TRUSTS_LISTS the child leaves dead threads' slabs owned by them (P4/P6)
 *   -DCLOSED_DROP_NO_RECHECK route() drops the token on a closed mailbox without looking
 *                      again: races slab_let_go's last slab_notify (P4; the code before
 *                      2026-11-28, found by this model)
 *   -DCHILD_NO_REPAIR  the fork child does not repair what dead threads left half-done in
 *                      the shared protocol (P5/P6; the code before 2026-11-28, found here)
 *   -DCHILD_LEAKS_OK   fork runs: accept stranding (leaks), check everything else
 *   -DRECLAIM          any thread may, between its operations, reclaim for another thread
 *                      (heap_reclaim_complete: the heap's slow lock, the owner's complete
 *                      partial and full slabs from its mailbox, its kept-empty slabs); owners
 *                      hold their slow lock on every slow path, their fast paths take none.
 *                      Implies -DFULL_LIST (heap_settle keeps full slabs on a full list).
 *   -DFREE_SLOW_NO_RECHECK  the code as of 523ef91 (bug 3, fixed since): heap_free_local_slow
 *                      settles the slab without checking that it is still ours (a reclaimer
 *                      may have given it back between the unlocked push and the lock: P2)
 *   -DRECLAIM_NO_LOCK  seeded: the reclaimer does not take the slow lock (P5)
 *   -DRECLAIM_BOUND    seeded: the reclaimer also takes the owner's bound slab (P9)
 *   -DRECLAIM_INCOMPLETE seeded: the reclaimer returns a slab without checking that every
 *                      block is free (P9)
 *   -DSHARED           the shared heap (8191592): a heap with its own tid (SH = NT + 1) and
 *                      no thread; any thread acts as its owner under g_shared_lock (shlock)
 *                      and its slow lock: the nursery (a malloc served by heap_alloc_shared,
 *                      any time; after teardown too with -DLATE_FREE), heap_tend_shared
 *                      (unbind and settle every bound slab, its mailbox, kept-empty slabs);
 *                      its bind does not set bound_hint (heap_bind: !h->shared), so every
 *                      free of its blocks is remote and announced in its mailbox, bound slab
 *                      or not; reclaimers visit it (-DRECLAIM); the fork child leaves its
 *                      slabs alone but announces their queues (-DFORK; no fork under shlock).
 *                      At the end it may own slabs: P4/P5/P6 accept its mailbox.
 *   -DSHARED_NO_LOCK   seeded: the nursery and tend act as the shared heap without
 *                      g_shared_lock: its slow scope takes kSlowOwner for nesting (P2)
 *   -DSHARED_BIND_HINT seeded: the shared heap's bind sets bound_hint (frees into its bound
 *                      slab are not announced) but tend only looks at its mailbox: a queued
 *                      free stays in the bound slab for good (P4 at the end)
 *   -DCHILD_NO_ANNOUNCE the fork child as of 8191592 (bug 5): a dead pusher's unannounced
 *                      remote free into a slab the child keeps (its own, the shared heap's)
 *                      stays unannounced (P4)
 *   -DTRIM_COLLECT_UNLOCKED the code as of 8191592 (bug 6): malloc_trim's collect_tick runs
 *                      collect_orphans(h) outside h's slow scope, racing a reclaimer of h
 *                      (hakmem_ownership_violation; needs -DRECLAIM, 4 operations)
 *   -DNT= -DNS= -DU= -DNCLS= -DMAXOPS= -DMAXLIVES= -DKEEP= -DKROUNDS= -DFAST -DFORK
 *
 * Reduction: without -DFORK, a step that touches only the owner's local state commutes
 * with every step of every other thread (while P2 holds, which is asserted), so an atomic
 * block holds one access to shared state plus owner-local work. A fork does not commute
 * with owner-local stores, so -DFORK splits those at every store (FORK_POINT), and
 * -DNO_OWNER_ASSERT splits them completely.
 */

#ifndef NT
#define NT 2
#endif
#ifndef NS
#define NS 2
#endif
#ifndef U
#define U 2
#endif
#ifndef NCLS
#define NCLS 2
#endif
#ifndef MAXOPS
#define MAXOPS 3
#endif
#ifndef MAXLIVES
#define MAXLIVES 1
#endif
#ifndef KEEP
#define KEEP 1                  /* kKeepEmptySmall is 4, kKeepEmptyMedium 1 */
#endif
#if defined(RECLAIM) && !defined(FULL_LIST)
#define FULL_LIST   /* the reclaimer takes full slabs too: model the list they wait on */
#endif
#ifndef KROUNDS
#define KROUNDS 1               /* slab_let_go's kRounds is 4: rounds beyond 1 repeat it */
#endif
#define LIVES (self == 1 -> MAXLIVES : 1)
#ifdef SHARED
#define SH (NT + 1)             /* the shared heap's tid: no thread of its own */
#define NH (NT + 1)             /* heap ids 1 .. NH */
#else
#define NH NT
#endif
#define NU (NS * U)
#define SZ(c) ((c) + 1)
#define CAP(c) (U / SZ(c))
#define SLAB_OF(u) ((u) / U)
#define BLK(sl, i) ((sl) * U + (i) * SZ(cls[sl]))
#define HAS_FREE(sl) (free_head[sl] != NIL || carved[sl] < CAP(cls[sl]))   /* slab_has_free */

#ifdef NO_OWNER_ASSERT
#define OWNER_STEP
#else
#define OWNER_STEP atomic
#endif
#if defined(FORK) || defined(NO_OWNER_ASSERT)
#define FORK_POINT }; OWNER_STEP {
#else
#define FORK_POINT
#endif

#define NIL 255
#define NONE 255
#define OWNER_NONE 0
#define OWNER_POOL 254
#define BIT(s) (1 << (s))

#define G_UNCARVED 0
#define G_LOCAL  1
#define G_REMOTE 2
#define G_ALLOC  3
#define G_FAST   4
#define G_TRANS  5
#define G_LEAK   6

#define W_NONE 0
#define W_GMB(c) (1 + (c))          /* the global mailbox of class c */
#define W_MB(t) (1 + NCLS + (t))    /* heap(t)->mailbox */
#define IS_GMB(w) ((w) >= 1 && (w) <= NCLS)

#define P_NONE 0
#define P_BOUND 1
#define P_PARTIAL 2
#define P_EMPTY 3
#define P_FULL 4             /* the full list (-DFULL_LIST; implied by -DRECLAIM) */

#define L_MAILBOX 0
#define L_ADOPT 1

/* ---- Slab ---- */
byte owner[NS] = OWNER_POOL;
byte remote_head[NS] = NIL;
byte free_head[NS] = NIL;   /* owner-local from here ... */
byte used[NS];
byte carved[NS];
byte cls[NS];
byte place[NS];             /* ... to here */
bool listed[NS];
byte where[NS];             /* mailbox entry (list_next + the heads) */
bool adopt_listed[NS];
byte adopt_on[NS];          /* adopt entry: 0, or 1 + the class of the list (adopt_next) */
bool in_pool[NS] = true;    /* free_mask */
bool bound_hint[NS];
byte link[NU];
/* ---- ThreadHeap (heap ids 1 .. NH: the threads', then with -DSHARED the shared heap) ---- */
bool closed[NH + 1];
bool live[NH + 1];
byte slowlk[NH + 1];        /* the heap's slow lock: 0, its owner's tid, or RECLAIMER(r) */
bool reclaiming;            /* g_reclaim_lock: held by a reclaimer for its whole visit */
byte fc[NH + 1] = NIL;      /* the fast cache (one block) */
#define BND(c) bnd[c]         /* bound[c] of the heap the thread acts for (a local: see shared_enter) */
byte ndone;
#ifdef SHARED
byte shbnd[NCLS] = NONE;    /* the shared heap's bound[]: in the acting thread's bnd[] meanwhile */
byte shlock;                /* g_shared_lock: 0 or the tid of the thread acting as the shared heap */
byte shactor;               /* ghost: the thread inside the shared heap's slow scope (its owner now) */
#endif
/* ---- fork ---- */
byte forker;                /* _pid of the thread that forked; the others are frozen */
bool dead[NH + 1];
bool childdone;
/* ---- ghosts ---- */
bool hakmem_ownership_violation, P1_two_owners, P2_not_owner, P3_block_twice, P3_block_lost,
     P3_overlap, P3_used_wrong, P4_remote_free_stranded, P5_list_without_token,
     P5_token_lost, P6_free_blocks_stranded, P6_slab_lost, P7_hint_without_owner,
     P8_wrong_class, P9_reclaim_vs_fast_path;
byte gst[NU];
byte holder[NU];
byte owned[NH + 1];
byte pendm[NS];
bool reclm[NS];             /* a reclaimer is working on the slab (from its completeness check on,
                               until it is done with it or returns it to the pool) */

#define RECLAIMER(r) (100 + (r))
#define PEND(sl) pendm[sl] = pendm[sl] | BIT(self)
#define UNPEND(sl) pendm[sl] = pendm[sl] & ~BIT(self)

/* ======================= ownership.cpp ======================= */

/* slab_drain: exchange the stack, splice it in front of the free list, used -= n. */
inline slab_drain(sl) {
  OWNER_STEP {
#ifndef NO_OWNER_ASSERT
    assert(owner[sl] == self || hakmem_ownership_violation);
#endif
    atomic { dl = remote_head[sl]; remote_head[sl] = NIL; UNPEND(sl) }
    d_step {
      dc = 0; dt = dl;
      do
      :: dt == NIL -> break
      :: else ->
         assert((gst[dt] == G_REMOTE && SLAB_OF(dt) == sl) || P3_block_twice);
         gst[dt] = G_TRANS; holder[dt] = self; dc++; assert(dc <= U);
         if :: link[dt] == NIL -> break :: else -> dt = link[dt] fi
      od
    }
    printf("T%d drains S%d (%d blocks)\n", self, sl, dc);
  FORK_POINT
    if :: dl != NIL -> link[dt] = free_head[sl] :: else -> skip fi
  FORK_POINT
    if
    :: dl != NIL ->
       free_head[sl] = dl;
       d_step {
         dw = dl;
         do
         :: gst[dw] = G_LOCAL; holder[dw] = 0;
            if :: dw == dt -> break :: else -> dw = link[dw] fi
         od
       }
    :: else -> skip
    fi
  FORK_POINT
    used[sl] = used[sl] - dc
  }
}

/* slab_acquire(h, s, expected): claim unless ours, then drain. */
inline slab_acquire(sl, exp, okv) {
#ifdef UNSAFE_DRAIN
  if  /* HAKMEM_FAULT_UNSAFE_DRAIN */
  :: exp == OWNER_NONE && remote_head[sl] != NIL -> slab_drain(sl)
  :: else -> skip
  fi;
#endif
  atomic {
    if
    :: owner[sl] == self -> okv = true
    :: owner[sl] != self && owner[sl] == exp ->
       owner[sl] = self; okv = true; PEND(sl);
       printf("T%d claims S%d (owner was %d)\n", self, sl, exp);
       for (ak : 1 .. NH) { assert(ak == self || (owned[ak] & BIT(sl)) == 0 || P1_two_owners) }
       owned[self] = owned[self] | BIT(sl)
    :: else -> okv = false
    fi
  }
  if :: okv -> slab_drain(sl) :: else -> skip fi
}

/* orphan_push(kMailbox, class, s): the caller holds the token. */
inline orphan_push_mailbox(sl) {
  atomic { assert((where[sl] == W_NONE && listed[sl]) || P5_list_without_token);
           where[sl] = W_GMB(cls[sl]);
           printf("T%d puts S%d on the global mailbox of class %d\n", self, sl, cls[sl]) }
}

/* orphan_pop(which, c): any entry of the list (the order is abstracted away). */
inline orphan_pop(which, c, out) {
  atomic {
    out = NONE;
    for (ak : 0 .. NS - 1) {
      if
      :: out == NONE && ((which == L_MAILBOX && where[ak] == W_GMB(c)) ||
                         (which == L_ADOPT && adopt_on[ak] == 1 + c)) -> out = ak
      :: out == NONE && ((which == L_MAILBOX && where[ak] == W_GMB(c)) ||
                         (which == L_ADOPT && adopt_on[ak] == 1 + c)) -> skip
      :: else -> skip
      fi
    }
    if
    :: out == NONE ->
       for (ak : 0 .. NS - 1) {
         if
         :: out == NONE && ((which == L_MAILBOX && where[ak] == W_GMB(c)) ||
                            (which == L_ADOPT && adopt_on[ak] == 1 + c)) -> out = ak
         :: else -> skip
         fi
       }
    :: else -> skip
    fi;
    if
    :: out != NONE && which == L_MAILBOX -> where[out] = W_NONE;
       printf("T%d pops S%d from the global mailbox of class %d\n", self, out, c)
    :: out != NONE && which == L_ADOPT -> adopt_on[out] = 0; adopt_listed[out] = false;
       printf("T%d pops S%d from the adopt list of class %d\n", self, out, c)
    :: else -> skip
    fi;
    ak = 0
  }
}

/* adopt_offer(s, c): once on the adopt list of class c. */
inline adopt_offer(sl, c) {
  atomic { at = adopt_listed[sl]; adopt_listed[sl] = true }
  if
  :: !at -> atomic { assert(adopt_on[sl] == 0 || P5_list_without_token); adopt_on[sl] = 1 + c;
                     printf("T%d offers S%d for adoption (class %d)\n", self, sl, c) }
  :: else -> skip
  fi
}

/* route(s): the caller holds the token. */
inline route(sl) {
  do
  :: atomic { ro = owner[sl]; printf("T%d routes S%d: owner %d\n", self, sl, ro) }
     if
#ifdef POOL_TOKEN_DROP
     :: ro == OWNER_POOL -> atomic { listed[sl] = false; printf("T%d: S%d pooled, drops the token\n", self, sl) }; break
     :: ro == OWNER_NONE -> orphan_push_mailbox(sl); break
#else
     :: ro == OWNER_NONE || ro == OWNER_POOL -> orphan_push_mailbox(sl); break
#endif
     :: else ->
        atomic {  /* CAS push on heap(owner)->mailbox, until it reads kMailboxClosed */
          if
          :: closed[ro] -> rd = true
          :: else -> assert((where[sl] == W_NONE && listed[sl]) || P5_list_without_token);
                     where[sl] = W_MB(ro); rd = false;
                     printf("T%d puts S%d in T%d's mailbox\n", self, sl, ro)
          fi
        }
        if :: !rd -> break :: else -> skip fi;
        /* the owner is exiting: it lets go of s and looks at the queue after that */
#ifdef CLOSED_DROP_NO_RECHECK
        atomic { listed[sl] = false; printf("T%d: T%d's mailbox is closed, drops the token of S%d\n", self, ro, sl) }
        break
#else
        /* ... unless it has already let go (its last look may have lost to our token):
         * after the drop, look at the owner again and announce once more if it changed */
        atomic { listed[sl] = false; PEND(sl); printf("T%d: T%d's mailbox is closed, drops the token of S%d\n", self, ro, sl) }
        atomic { rd = ((owner[sl] == ro && closed[ro]) || remote_head[sl] == NIL); if :: rd -> UNPEND(sl) :: else -> skip fi }
        if :: rd -> break :: else -> skip fi;
        atomic { nt = listed[sl]; listed[sl] = true; UNPEND(sl);
                 printf("T%d notifies S%d again (token was %d)\n", self, sl, nt) }
        if :: nt -> break :: else -> skip fi
#endif
     fi
  od;
  rd = false; ro = 0
}

inline slab_notify(sl) {
  atomic { nt = listed[sl]; listed[sl] = true; UNPEND(sl);
           printf("T%d notifies S%d (token was %d)\n", self, sl, nt) }
  if :: !nt -> route(sl) :: else -> skip fi
}

inline slab_take_listed(sl, okv, exp) {
  atomic { listed[sl] = false; PEND(sl); printf("T%d clears the token of S%d\n", self, sl) }
  slab_acquire(sl, exp, okv);
  if
  :: !okv ->
     atomic { tr = (remote_head[sl] != NIL); if :: !tr -> UNPEND(sl) :: else -> skip fi }
     if :: tr -> slab_notify(sl) :: else -> skip fi
  :: else -> skip
  fi
}

/* pool_return_slab: owner_tid = kOwnerPool, then free_mask under the pool lock. */
inline pool_return_slab(sl) {
  atomic {
    assert(owner[sl] == self || P2_not_owner);
    assert((used[sl] == 0 && remote_head[sl] == NIL) || P3_overlap);
    assert(!bound_hint[sl] || P7_hint_without_owner);
    owner[sl] = OWNER_POOL; owned[self] = owned[self] & ~BIT(sl);
    reclm[sl] = false;   /* a reclaimer that gives it back is done with it */
    printf("T%d returns S%d to the pool\n", self, sl)
  }
  in_pool[sl] = true
}

/* slab_let_go: pool when unused; else release, look at the queue (Dekker with the push),
 * offer for adoption; a raced push: claim again, drain, loop; after KROUNDS: notify. */
inline slab_let_go(sl) {
  lr = 0;
  do
  :: used[sl] == 0 -> pool_return_slab(sl); break
  :: else ->
     atomic {
       assert(owner[sl] == self || P2_not_owner);
       lc = cls[sl]; lhf = HAS_FREE(sl);
       owner[sl] = OWNER_NONE; owned[self] = owned[self] & ~BIT(sl); PEND(sl);
       printf("T%d lets go of S%d (free blocks: %d)\n", self, sl, lhf)
     }
#ifdef LETGO_NO_RECHECK
     UNPEND(sl);
     if :: lhf -> adopt_offer(sl, lc) :: else -> skip fi;
     break
#else
     atomic { lrel = (remote_head[sl] != NIL); if :: !lrel -> UNPEND(sl) :: else -> skip fi }
     if
     :: !lrel -> if :: lhf -> adopt_offer(sl, lc) :: else -> skip fi; break
     :: lrel && lr == KROUNDS -> slab_notify(sl); break
     :: lrel && lr < KROUNDS ->
        atomic {
          if
          :: owner[sl] == OWNER_NONE ->
             owner[sl] = self; owned[self] = owned[self] | BIT(sl); lok = true;
             printf("T%d claims S%d again (a free raced the release)\n", self, sl);
             for (ak : 1 .. NH) { assert(ak == self || (owned[ak] & BIT(sl)) == 0 || P1_two_owners) }
          :: else -> lok = false; UNPEND(sl)   /* a freeing thread claimed it: its queue now */
          fi
        }
        if :: lok -> slab_drain(sl); lr++ :: else -> break fi
     fi
#endif
  od;
  lr = 0; lc = 0; lhf = false; lrel = false; lok = false
}

/* slab_remote_free: push; the push that made the stack non-empty announces it, unless
 * the slab is bound; an unowned slab is adopted by the freeing thread (claim, drain,
 * settle) when it has a heap and wins the token. */
inline slab_remote_free(sl, bl) {
  atomic {
    rp = remote_head[sl]; link[bl] = rp; remote_head[sl] = bl;
    assert(gst[bl] == G_TRANS && holder[bl] == self);
    gst[bl] = G_REMOTE; holder[bl] = 0;
    if :: rp == NIL -> PEND(sl) :: else -> skip fi;
    printf("T%d frees block %d of S%d remotely (stack was %d)\n", self, bl, sl, rp)
  }
  if
  :: rp == NIL ->
     atomic { rt = bound_hint[sl]; if :: rt -> UNPEND(sl) :: else -> skip fi }
     if
     :: rt -> skip
     :: else ->
        atomic { ro2 = owner[sl] }
        if
        :: ro2 == OWNER_NONE && live[self] ->
           atomic { rt = listed[sl]; listed[sl] = true;
                    printf("T%d adopts S%d? (token was %d)\n", self, sl, rt) }
           if
           :: !rt -> heap_lock();
                     slab_take_listed(sl, rok, OWNER_NONE);
                     if :: rok -> heap_settle(sl) :: else -> skip fi;
                     heap_unlock()
           :: else -> slab_notify(sl)
           fi
        :: else -> slab_notify(sl)
        fi
     fi
  :: else -> skip
  fi;
  rp = 0; rt = false; ro2 = 0; rok = false
}

/* ======================= slab_ops.cpp ======================= */

/* slab_pop, with slab_carve of one block when the list is empty. */
inline slab_pop(sl, out) {
  OWNER_STEP {
    assert(owner[sl] == self || P2_not_owner);
    assert(!reclm[sl] || P9_reclaim_vs_fast_path);
    assert(cls[sl] == req || P8_wrong_class);
    pc = (free_head[sl] == NIL && carved[sl] < CAP(cls[sl]));
    if
    :: pc -> ph = BLK(sl, carved[sl]);
             assert(gst[ph] == G_UNCARVED || P3_block_twice);
             link[ph] = free_head[sl]
    :: else -> skip
    fi;
  FORK_POINT
#ifdef CARVE_LIST_BEFORE_COUNT
    if :: pc -> free_head[sl] = ph; gst[ph] = G_LOCAL :: else -> skip fi;
  FORK_POINT
    if :: pc -> carved[sl]++ :: else -> skip fi;
#else
    if :: pc -> carved[sl]++ :: else -> skip fi;   /* carved is committed first */
  FORK_POINT
    if :: pc -> free_head[sl] = ph; gst[ph] = G_LOCAL :: else -> skip fi;
#endif
  FORK_POINT
    ph = free_head[sl];
    if
    :: ph == NIL -> out = NIL
    :: else ->
       assert((gst[ph] == G_LOCAL && SLAB_OF(ph) == sl) || P3_block_twice);
       free_head[sl] = link[ph]; gst[ph] = G_TRANS; holder[ph] = self; out = ph
    fi;
  FORK_POINT
    if
    :: out != NIL -> used[sl]++; gst[out] = G_ALLOC;
       printf("T%d allocates block %d of S%d (class %d)\n", self, out, sl, req)
    :: else -> skip
    fi;
    pc = false; ph = 0
  }
}

/* slab_push_local: the owner frees onto the local list. */
inline slab_push_local(sl, bl) {
  OWNER_STEP {
    assert(owner[sl] == self || P2_not_owner);
    assert(!reclm[sl] || P9_reclaim_vs_fast_path);
    pp = free_head[sl]; link[bl] = pp;
  FORK_POINT
    free_head[sl] = bl;
    assert(gst[bl] == G_TRANS && holder[bl] == self);
    gst[bl] = G_LOCAL; holder[bl] = 0;
    printf("T%d frees block %d of its S%d\n", self, bl, sl);
  FORK_POINT
    used[sl]--
  }
}

/* slab_format: a slab fresh from the pool gets class c. */
inline slab_format(sl, c) {
  OWNER_STEP {
    assert(owner[sl] == self || P2_not_owner);
    assert((used[sl] == 0 && remote_head[sl] == NIL) || P3_overlap);
    d_step {  /* nothing of the previous cut may be live or queued */
      for (ak : sl * U .. sl * U + U - 1) {
        assert(gst[ak] == G_UNCARVED || gst[ak] == G_LOCAL || gst[ak] == G_LEAK || P3_overlap)
      }
      ak = 0
    }
    cls[sl] = c; printf("T%d cuts S%d for class %d\n", self, sl, c);
  FORK_POINT
    carved[sl] = 0;
  FORK_POINT
    free_head[sl] = NIL;
    d_step { for (ak : sl * U .. sl * U + U - 1) { gst[ak] = G_UNCARVED; holder[ak] = 0 }; ak = 0 }
  FORK_POINT
    used[sl] = 0; place[sl] = P_NONE
  }
}

/* pool_take_slab: any slab of free_mask, still owned by kOwnerPool. */
inline pool_take_slab(out) {
  atomic {
    out = NONE;
    for (ak : 0 .. NS - 1) {
      if
      :: in_pool[ak] && out == NONE -> out = ak
      :: in_pool[ak] && out == NONE -> skip
      :: else -> skip
      fi
    }
    if
    :: out == NONE ->
       for (ak : 0 .. NS - 1) { if :: in_pool[ak] && out == NONE -> out = ak :: else -> skip fi }
    :: else -> skip
    fi;
    if :: out != NONE -> in_pool[out] = false; printf("T%d takes S%d from the pool\n", self, out)
       :: else -> skip fi;
    ak = 0
  }
}

/* ======================= heap.cpp ======================= */

/* unlink(): a bound slab is announced again from now on; what came before is ours to
 * drain (the seq_cst store/load pair mirrors slab_let_go against the push). */
inline heap_unlink(sl) {
  if
  :: place[sl] == P_BOUND ->
     BND(cls[sl]) = NONE;
     atomic { bound_hint[sl] = false; PEND(sl) }
     atomic { urel = (remote_head[sl] != NIL); if :: !urel -> UNPEND(sl) :: else -> skip fi }
     if :: urel -> slab_acquire(sl, OWNER_NONE, uok); assert(uok) :: else -> skip fi
  :: else -> skip
  fi;
  place[sl] = P_NONE; urel = false; uok = false
}

/* heap_bind (refill binds only when the class has no bound slab). */
inline heap_bind(sl) {
  assert(BND(cls[sl]) == NONE && owner[sl] == self && place[sl] != P_BOUND);
  place[sl] = P_BOUND;
  /* bound_hint = !h->shared: the shared heap's next call may never come, so frees into
   * its bound slab are announced (its mailbox) like frees into any unbound slab */
#if defined(SHARED) && !defined(SHARED_BIND_HINT)
  atomic { bound_hint[sl] = (self != SH); printf("T%d binds S%d\n", self, sl) }
#else
  atomic { bound_hint[sl] = true; printf("T%d binds S%d\n", self, sl) }
#endif
  BND(cls[sl]) = sl
}

/* heap_settle: bound stays; unused: kept empty while fewer than KEEP (and the retention
 * budget allows: a free choice here) else to the pool; free blocks: partial; full: let go. */
inline heap_settle(sl) {
  if
  :: place[sl] == P_BOUND -> skip
  :: place[sl] != P_BOUND && used[sl] == 0 ->
     if
     :: place[sl] == P_EMPTY -> skip
     :: else ->
        d_step {
          ec = 0;
          for (ek : 0 .. NS - 1) {
            if :: (owned[self] & BIT(ek)) && place[ek] == P_EMPTY && cls[ek] == cls[sl] -> ec++
               :: else -> skip fi
          }
          ek = 0
        }
        if
        :: ec >= KEEP -> place[sl] = P_NONE; pool_return_slab(sl)
        :: ec < KEEP -> place[sl] = P_NONE; pool_return_slab(sl)   /* retention budget exceeded */
        :: ec < KEEP -> place[sl] = P_EMPTY
        fi;
        ec = 0
     fi
  :: place[sl] != P_BOUND && used[sl] != 0 && HAS_FREE(sl) -> place[sl] = P_PARTIAL
  :: place[sl] != P_BOUND && used[sl] != 0 && !HAS_FREE(sl) ->
#ifdef FULL_LIST
     if  /* kept on the full list below its cap; at the cap the oldest is let go of (here: this one) */
     :: place[sl] == P_FULL -> skip
     :: place[sl] != P_FULL -> place[sl] = P_FULL
     :: place[sl] != P_FULL -> place[sl] = P_NONE; slab_let_go(sl)
     fi
#else
     place[sl] = P_NONE; slab_let_go(sl)
#endif
  fi
}

inline heap_process_mailbox() {
  atomic {
    taken = 0;
    for (ak : 0 .. NS - 1) {
      if :: where[ak] == W_MB(self) -> taken = taken | BIT(ak); where[ak] = W_NONE :: else -> skip fi
    }
    ak = 0
  }
  for (s2 : 0 .. NS - 1) {
    if
    :: taken & BIT(s2) ->
       slab_take_listed(s2, ok2, OWNER_NONE);
       if :: ok2 -> heap_settle(s2) :: else -> skip fi
    :: else -> skip
    fi
  }
  taken = 0; s2 = 0
}

/* HeapSlowScope: the owner holds its heap's slow lock across each slow path (nested
 * scopes are free); it waits while a reclaimer holds it. */
inline heap_lock() {
  if
  :: lkd == 0 -> atomic { slowlk[self] == 0 -> slowlk[self] = self }
  :: else -> skip
  fi;
  lkd++
}
inline heap_unlock() {
  lkd--;
  if :: lkd == 0 -> slowlk[self] = 0 :: else -> skip fi
}

/* Every block of the slab free: the remote stack holds `used` blocks. */
inline slab_complete(sl, out) {
  d_step {
    out = false;
    if
    :: used[sl] != 0 ->
       rn = 0; rb = remote_head[sl];
       do
       :: rb == NIL -> break
       :: else -> rn++; rb = link[rb]
       od;
       out = (rn == used[sl]); rn = 0; rb = 0
    :: else -> skip
    fi
  }
}

/* P9: the reclaimer starts on a slab of the owner (self = the owner here). Its fast paths
 * may use a slab that is bound (malloc pops from it) or has a block in the program's hands,
 * in its fast cache or in a free in progress (a local free pushes onto it): the reclaimer
 * must take neither. The other side: slab_pop and slab_push_local assert that no reclaimer
 * is at work on their slab. */
inline reclaim_begin(sl) {
  d_step {
    reclm[sl] = true;
    assert(place[sl] != P_BOUND || P9_reclaim_vs_fast_path);
    for (ak : sl * U .. sl * U + U - 1) {
      assert(!(gst[ak] == G_ALLOC || gst[ak] == G_FAST || gst[ak] == G_TRANS) || P9_reclaim_vs_fast_path)
    }
    ak = 0
  }
  printf("T%d (for T%d) reclaims S%d (used %d)\n", rself, self, sl, used[sl])
}

/* heap_reclaim_complete(heap of thread rt2): try the reclaim lock and the heap's slow lock,
 * then act as its owner (self = rt2: its tid, its owned set, its obligations): take its
 * mailbox; each entry it owns that is partial or full (the bound slab is never taken) and
 * complete is claimed-then-drained as that owner and, when unused, unlinked and returned
 * to the pool; the other entries go back into the mailbox with their tokens; then its
 * kept-empty slabs go to the pool. */
inline heap_reclaim_complete() {
  rself = self;
  atomic {
    rcl = (!reclaiming && live[rt2] && !closed[rt2] && !dead[rt2]
#ifndef RECLAIM_NO_LOCK
           && slowlk[rt2] == 0
#endif
          );
    if
    :: rcl -> reclaiming = true;
#ifndef RECLAIM_NO_LOCK
              slowlk[rt2] = RECLAIMER(self);
#endif
              printf("T%d reclaims for idle T%d\n", self, rt2)
    :: else -> skip
    fi
  }
  if
  :: rcl ->
     self = rt2;
     atomic {
       taken = 0;
       for (ak : 0 .. NS - 1) {
         if :: where[ak] == W_MB(self) -> taken = taken | BIT(ak); where[ak] = W_NONE :: else -> skip fi
       }
       ak = 0
     }
     for (s2 : 0 .. NS - 1) {
       rok = false;
       slab_complete(s2, rok);
#ifdef RECLAIM_INCOMPLETE
       rok = true;
#endif
       if
       :: (taken & BIT(s2)) && owner[s2] == self && rok && (place[s2] == P_PARTIAL || place[s2] == P_FULL) ->
          reclaim_begin(s2);
          slab_take_listed(s2, ok2, OWNER_NONE);
          if
#ifdef RECLAIM_INCOMPLETE
          :: ok2 -> heap_unlink(s2); pool_return_slab(s2)
#else
          :: ok2 && used[s2] == 0 -> heap_unlink(s2); pool_return_slab(s2)   /* heap_slab_emptied */
          :: ok2 && used[s2] != 0 -> skip
#endif
          /* slab_take_listed failed: back into the mailbox (the code's `keep`; its token is
           * cleared by then, so P5 would object; it cannot fail: the owner is excluded) */
          :: !ok2 -> atomic { where[s2] = W_MB(self) }
          fi;
          reclm[s2] = false
#ifdef RECLAIM_BOUND
       /* seeded bug: the bound slab too (the owner's fast path pops from it unlocked) */
       :: owner[s2] == self && rok && place[s2] == P_BOUND ->
          reclaim_begin(s2);
          if :: taken & BIT(s2) -> atomic { listed[s2] = false } :: else -> skip fi;
          slab_acquire(s2, OWNER_NONE, ok2);
          if :: ok2 && used[s2] == 0 -> place[s2] = P_NONE; bound_hint[s2] = false; pool_return_slab(s2)
             :: else -> skip fi;
          reclm[s2] = false
#endif
       :: (taken & BIT(s2)) -> atomic { where[s2] = W_MB(self) }   /* back, token and all */
       :: else -> skip
       fi
     }
     release_kept_empty();
     taken = 0; s2 = 0; rok = false; ok2 = false;
     self = rself;
     atomic {
#ifndef RECLAIM_NO_LOCK
       slowlk[rt2] = 0;
#endif
       reclaiming = false
     }
  :: else -> skip
  fi;
  rcl = false; rself = 0
}

/* free_slab_block: the program hands any allocated block to this thread. */
inline do_free() {
  atomic {
    b = 0;
    do
    :: b < NU && gst[b] == G_ALLOC -> break
    :: b < NU -> b++
    :: b == NU -> break
    od;
    if
    :: b < NU -> gst[b] = G_TRANS; holder[b] = self; sb = SLAB_OF(b);
                 mine = (live[self] && owner[sb] == self)
    :: else -> skip
    fi
  }
  if
  :: b == NU -> skip
#ifdef FAST
  :: b < NU && mine && fc[self] == NIL ->   /* the fast cache has room */
     atomic { fc[self] = b; gst[b] = G_FAST; printf("T%d caches block %d\n", self, b) }
  :: b < NU && mine && fc[self] != NIL ->
#else
  :: b < NU && mine ->
#endif
     slab_push_local(sb, b);
     if  /* heap_free_local_slow: the push above took no lock */
     :: pp == NIL || (used[sb] == 0 && place[sb] != P_BOUND) ->
        heap_lock();
#ifndef FREE_SLOW_NO_RECHECK
        /* a reclaimer may have given the slab back between the push and the lock:
         * settle it only if it is still ours (the fix of bug 3) */
        if :: owner[sb] == self -> heap_settle(sb) :: else -> skip fi;
#else
        heap_settle(sb);
#endif
        heap_unlock()
     :: else -> skip
     fi
  :: b < NU && !mine -> slab_remote_free(sb, b)
  fi
}

/* return_cached_block */
inline return_cached(bl) {
  sb = SLAB_OF(bl);
  if
  :: owner[sb] == self -> slab_push_local(sb, bl)
  :: else -> slab_remote_free(sb, bl)
  fi
}

/* ======================= refill.cpp ======================= */

inline take_orphan(which) {
  do
  :: ok -> break
  :: else ->
     orphan_pop(which, req, s);
     if
     :: s == NONE -> break
     :: else ->
        if
        :: which == L_MAILBOX -> slab_take_listed(s, ok2, OWNER_NONE)
        :: else -> slab_acquire(s, OWNER_NONE, ok2)   /* a hint: the claim may fail */
        fi;
        if
#ifdef NO_CLASS_CHECK
        :: ok2 && HAS_FREE(s) && BND(cls[s]) == NONE -> heap_bind(s); BND(req) = s; ok = true
        :: ok2 && !(HAS_FREE(s) && BND(cls[s]) == NONE) -> heap_settle(s)
#else
        :: ok2 && cls[s] == req && HAS_FREE(s) -> heap_bind(s); ok = true
        :: ok2 && !(cls[s] == req && HAS_FREE(s)) -> heap_settle(s)
#endif
        :: else -> skip
        fi
     fi
  od
}

/* collect_orphans -> collect_mailbox for every class. */
inline collect_orphans() {
  for (cc : 0 .. NCLS - 1) {
    do
    :: orphan_pop(L_MAILBOX, cc, cs);
       if
       :: cs == NONE -> break
       :: else ->
          slab_take_listed(cs, ok2, OWNER_NONE);
          if
          :: ok2 && place[cs] != P_NONE -> heap_settle(cs)
          :: ok2 && place[cs] == P_NONE -> slab_let_go(cs)
          :: else -> skip
          fi
       fi
    od
  }
  cc = 0; cs = 0
}

inline refill() {
  ok = false;
  /* 1. the bound slab's own remote frees; else it is unbound and settled (full: let go) */
  if
  :: BND(req) != NONE ->
     s = BND(req);
     if
     :: remote_head[s] != NIL -> slab_acquire(s, OWNER_NONE, ok2); assert(ok2); ok = HAS_FREE(s)
     :: else -> skip
     fi;
     if :: !ok -> heap_unlink(s); heap_settle(s) :: else -> skip fi
  :: else -> skip
  fi;
  /* 2. the mailbox, then the partial list, then the empty list */
  if
  :: !ok ->
     heap_process_mailbox();
     atomic {
       s = NONE;
       for (ak : 0 .. NS - 1) {
         if
         :: s == NONE && (owned[self] & BIT(ak)) && place[ak] == P_PARTIAL && cls[ak] == req -> s = ak
         :: s == NONE && (owned[self] & BIT(ak)) && place[ak] == P_PARTIAL && cls[ak] == req -> skip
         :: else -> skip
         fi
       }
       for (ak : 0 .. NS - 1) {   /* the first partial one if all were skipped, else an empty one */
         if
         :: s == NONE && (owned[self] & BIT(ak)) && place[ak] == P_PARTIAL && cls[ak] == req -> s = ak
         :: else -> skip
         fi
       }
       for (ak : 0 .. NS - 1) {
         if
         :: s == NONE && (owned[self] & BIT(ak)) && place[ak] == P_EMPTY && cls[ak] == req -> s = ak
         :: else -> skip
         fi
       }
       ak = 0
     }
     if :: s != NONE -> heap_bind(s); ok = true :: else -> skip fi
  :: else -> skip
  fi;
  /* 3. the global mailbox, 4. the adopt list */
  if :: !ok -> take_orphan(L_MAILBOX) :: else -> skip fi;
  if :: !ok -> take_orphan(L_ADOPT) :: else -> skip fi;
  /* 5. the pool; before mapping (= out of memory here): collect_orphans */
  if
  :: !ok ->
     pool_take_slab(s);
     if :: s == NONE -> collect_orphans(); pool_take_slab(s) :: else -> skip fi;
     if
     :: s != NONE ->
        slab_acquire(s, OWNER_POOL, ok2);
        assert(ok2);
        slab_format(s, req);
        heap_bind(s); ok = true
     :: else -> skip
     fi
  :: else -> skip
  fi
}

/* heap_alloc_slow after the nursery step and the fast cache: the bound slab (its remote
 * frees drained before the pop when its list is empty), else refill. */
inline heap_alloc_slow_body() {
  if
  :: BND(req) != NONE ->
     s = BND(req);
     if
     :: free_head[s] == NIL && remote_head[s] != NIL -> slab_acquire(s, OWNER_NONE, ok2)
     :: else -> skip
     fi;
     slab_pop(s, b)
  :: else -> skip
  fi;
  if
  :: b == NIL ->
     refill();
     if :: ok -> slab_pop(BND(req), b); assert(b != NIL) :: else -> skip fi
  :: else -> skip
  fi
}

/* do_malloc: the inline fast path, then heap_alloc_slow (its nursery step is nursery_malloc
 * below, a separate choice): class req. */
inline do_malloc() {
  if
  :: req = 0
#if NCLS > 1
  :: req = 1
#endif
  fi;
  b = NIL;
#ifdef FAST
  atomic {
    if
    :: fc[self] != NIL && cls[SLAB_OF(fc[self])] == req ->
       b = fc[self]; fc[self] = NIL; gst[b] = G_ALLOC; holder[b] = self;
       printf("T%d allocates block %d from its fast cache\n", self, b)
    :: else -> skip
    fi
  }
#endif
  /* the inline fast path: the bound slab's list, no lock */
  if
  :: b == NIL && BND(req) != NONE && free_head[BND(req)] != NIL -> slab_pop(BND(req), b)
  :: else -> skip
  fi;
  if
  :: b == NIL ->
     heap_lock();
     heap_alloc_slow_body();
     heap_unlock()
  :: else -> skip
  fi
}

inline release_kept_empty() {
  for (s2 : 0 .. NS - 1) {
    if
    :: (owned[self] & BIT(s2)) && place[s2] == P_EMPTY -> place[s2] = P_NONE; pool_return_slab(s2)
    :: else -> skip
    fi
  }
  s2 = 0
}

inline heap_tick() {
  heap_process_mailbox();
  if :: skip :: release_kept_empty() fi
}

/* ======================= the shared heap (-DSHARED) ======================= */
#ifdef SHARED
/* g_shared_lock, then the shared heap's HeapSlowScope: the thread acts as the shared heap's
 * owner (self = SH: its tid, bound slabs, lists, mailbox, owned set and obligations) until
 * shared_leave. HeapSlowScope as the code has it: a slow lock that reads kSlowOwner is taken
 * for a nested scope of the same thread (the lock does not say which thread holds it), so
 * only g_shared_lock keeps two threads apart; a reclaimer's kSlowReclaimer is waited for.
 * Ghost shactor: the thread inside the shared heap's slow scope; a second one is two
 * owners in one heap's local state (P2). The two locks are taken in one step: the states
 * between them only hold others back. */
inline shared_enter() {
  atomic {
#ifndef SHARED_NO_LOCK
    shlock == 0 &&
#endif
    (slowlk[SH] == 0 || slowlk[SH] == SH) ->
#ifndef SHARED_NO_LOCK
    shlock = self;
#endif
    shtook = (slowlk[SH] == 0); slowlk[SH] = SH;
    assert(shactor == 0 || P2_not_owner); shactor = self;
    printf("T%d acts as the shared heap T%d\n", self, SH);
    rself = self; self = SH; shlkd = lkd; lkd = 1;  /* nested scopes inside are free */
    for (ak : 0 .. NCLS - 1) { mybnd[ak] = bnd[ak]; bnd[ak] = shbnd[ak] }
    ak = 0
  }
}
inline shared_leave() {
  atomic {
    if :: shtook -> slowlk[SH] = 0 :: else -> skip fi;
    for (ak : 0 .. NCLS - 1) { shbnd[ak] = bnd[ak]; bnd[ak] = mybnd[ak]; mybnd[ak] = 0 }
    ak = 0;
    self = rself; lkd = shlkd; shlkd = 0; rself = 0; shtook = false;
    if :: shactor == self -> shactor = 0 :: else -> skip fi;
#ifndef SHARED_NO_LOCK
    shlock = 0
#endif
  }
}

/* heap_alloc_slow step 0, the nursery (and every allocation after the thread's teardown):
 * heap_alloc_shared(c) = heap_alloc_slow(shared heap, c) under g_shared_lock. The block
 * is then the thread's; every free of it is remote (its owner is the shared heap). */
inline nursery_malloc() {
  if
  :: req = 0
#if NCLS > 1
  :: req = 1
#endif
  fi;
  b = NIL;
  shared_enter();
  /* heap_tick(shared heap) first (time-throttled: a free choice): its mailbox and kept-empty
   * slabs are what tend does too; collect_tick also has the shared heap collect orphans */
  if :: skip :: collect_orphans() fi;
  heap_alloc_slow_body();
  shared_leave()
}

/* heap_tend_shared: any thread's collection round and thread exit (try_lock, when the
 * shared mailbox is non-empty), the purger, malloc_trim (lock, force). As the shared heap's
 * owner: every bound slab is unbound (heap_place kNone: unlink clears bound_hint, already
 * false, then a look at the queue and a drain) and settled; then its mailbox; then (malloc_
 * trim; a free choice here) its kept-empty slabs go to the pool. A failed try_lock (or an
 * empty mailbox) is a tend that did nothing. -DSHARED_BIND_HINT: the bound slab carries
 * bound_hint and tend only looks at the mailbox (seeded). */
inline heap_tend_shared() {
  shared_enter();
#ifndef SHARED_BIND_HINT
  for (cc : 0 .. NCLS - 1) {
    if
    :: BND(cc) != NONE ->
       s = BND(cc);
       printf("T%d (shared) unbinds S%d\n", rself, s);
       heap_unlink(s);
       heap_settle(s)
    :: else -> skip
    fi
  }
  cc = 0;
#endif
  heap_process_mailbox();
  if :: skip :: release_kept_empty() fi;
  shared_leave()
}
#endif

inline heap_thread_exit() {
  heap_lock();
  /* flush_fast_caches: a block of a slab we let go of goes back as a remote free */
  if
  :: fc[self] != NIL ->
     atomic { fb = fc[self]; fc[self] = NIL; gst[fb] = G_TRANS; holder[fb] = self }
     return_cached(fb)
  :: else -> skip
  fi;
  atomic {  /* mailbox.exchange(kMailboxClosed) */
    closed[self] = true; taken = 0;
    printf("T%d exits: closes its mailbox\n", self);
    for (ak : 0 .. NS - 1) {
      if :: where[ak] == W_MB(self) -> taken = taken | BIT(ak); where[ak] = W_NONE :: else -> skip fi
    }
    ak = 0
  }
  for (s2 : 0 .. NS - 1) {
    if
    :: taken & BIT(s2) ->
       slab_take_listed(s2, ok2, OWNER_NONE);
       if :: ok2 && place[s2] == P_NONE -> place[s2] = P_PARTIAL :: else -> skip fi
    :: else -> skip
    fi
  }
  /* let_go_of_everything */
  for (s : 0 .. NS - 1) {
    if
    :: owned[self] & BIT(s) ->
       slab_acquire(s, OWNER_NONE, ok2); assert(ok2);
       heap_unlink(s);
       slab_let_go(s)
    :: else -> skip
    fi
  }
  assert(owned[self] == 0);
  heap_unlock();
  live[self] = false
}

/* ======================= fork (heap_abandon_others_in_child) ======================= */

inline child_recovery() {
  /* the threads that did not survive: what they held in flight is unreachable */
  for (ak : 0 .. NU - 1) {
    if :: gst[ak] == G_TRANS && holder[ak] != self -> gst[ak] = G_LEAK :: else -> skip fi
  }
  for (ak : 0 .. NS - 1) { pendm[ak] = pendm[ak] & BIT(self) }
  ak = 0;
  /* their mailboxes: closed, entries dropped with their tokens */
  for (t : 1 .. NT) {
    if
    :: t != self && live[t] ->
       if
       :: !closed[t] ->
          for (ak : 0 .. NS - 1) {
            if :: where[ak] == W_MB(t) -> where[ak] = W_NONE; listed[ak] = false :: else -> skip fi
          }
          closed[t] = true
       :: else -> skip
       fi;
       live[t] = false; dead[t] = true; slowlk[t] = 0
    :: else -> skip
    fi
  }
#ifndef CHILD_NO_REPAIR
  /* Tokens and adopt flags held by dead threads between their exchange and their list
   * push are rebuilt from the lists (all consistent: their locks were held). */
  for (ak : 0 .. NS - 1) {
    listed[ak] = (where[ak] != W_NONE);
    adopt_listed[ak] = (adopt_on[ak] != 0);
    if :: owner[ak] == OWNER_POOL && !in_pool[ak] -> in_pool[ak] = true   /* mid pool_take/return */
       :: else -> skip fi
  }
#endif
  /* take_over_dead_slabs */
  for (s3 : 0 .. NS - 1) {
    if
#ifndef CHILD_NO_REPAIR
    /* also unowned slabs: a dead releaser or pusher may not have looked/announced yet */
    :: owner[s3] == OWNER_NONE ->
       owner[s3] = self; owned[self] = owned[self] | BIT(s3);
       slab_acquire(s3, OWNER_NONE, ok2);
       slab_let_go(s3)
#endif
#ifndef CHILD_TRUSTS_LISTS
#ifdef SHARED
    :: owner[s3] != OWNER_NONE && owner[s3] != OWNER_POOL && owner[s3] != self && owner[s3] != SH ->
#else
    :: owner[s3] != OWNER_NONE && owner[s3] != OWNER_POOL && owner[s3] != self ->
#endif
       printf("child: T%d takes over S%d of dead T%d\n", self, s3, owner[s3]);
       owned[owner[s3]] = owned[owner[s3]] & ~BIT(s3);
#ifndef CHILD_KEEPS_HINT
       place[s3] = P_NONE; bound_hint[s3] = false;
#endif
       owner[s3] = self; owned[self] = owned[self] | BIT(s3);
       slab_acquire(s3, OWNER_NONE, ok2);
       slab_let_go(s3)
#endif
    :: else -> skip
    fi
  }
#if !defined(CHILD_NO_ANNOUNCE) && !defined(CHILD_NO_REPAIR)
  /* The slabs the child keeps (its own, the shared heap's): a dead pusher may have pushed
   * and died before its announcement (or a dead token clearer before its re-notify), and
   * the rebuild above dropped its token: announce what waits in an unbound slab's queue
   * (bug 5 in the README; the code as of 8191592 does not: -DCHILD_NO_ANNOUNCE). */
  for (s3 : 0 .. NS - 1) {
    if
#ifdef SHARED
    :: (owner[s3] == self || owner[s3] == SH) && remote_head[s3] != NIL && !listed[s3] && !bound_hint[s3] ->
#else
    :: owner[s3] == self && remote_head[s3] != NIL && !listed[s3] && !bound_hint[s3] ->
#endif
       slab_notify(s3)
    :: else -> skip
    fi
  }
#endif
  /* the dead threads' fast caches go back through the usual free */
  for (t : 1 .. NT) {
    if
    :: dead[t] && fc[t] != NIL ->
       fb = fc[t]; fc[t] = NIL; gst[fb] = G_TRANS; holder[fb] = self;
       return_cached(fb)
    :: else -> skip
    fi
  }
  t = 0; s3 = 0; ak = 0
}

#ifdef FORK
proctype thread(byte self) provided (forker == 0 || forker == _pid) {
#else
proctype thread(byte self) {
#endif
  byte s, s2, s3, sb, cs, cc, b, fb, req, taken, t, ak, ek, ec;
  byte dl, dt, dc, dw, ro, ro2, rp, pp, ph, lr, lc;
  byte ops, lives;
  bool ok, ok2, mine, at, nt, tr, rd, rt, rok, lhf, lrel, lok, urel, uok, pc, rcl;
  byte bnd[NCLS];
  byte lkd, rt2, rself, rn, rb;
#ifdef SHARED
  bool shtook;
  byte shlkd;
  byte mybnd[NCLS];
#endif
  for (ak : 0 .. NCLS - 1) { bnd[ak] = NONE }
  ak = 0;
  do
  :: lives < LIVES ->
     atomic { lives++; ops = 0; closed[self] = false; live[self] = true;
              printf("T%d starts (heap use %d)\n", self, lives) }
     do
     :: ops < MAXOPS ->
        ops++;
        if
        :: do_malloc()
        :: do_free()
        :: true -> heap_lock(); heap_tick(); heap_unlock()
        :: true -> heap_lock(); collect_orphans(); heap_unlock()
#ifdef TRIM_COLLECT_UNLOCKED
        :: collect_orphans()   /* hak_collect -> collect_tick(h, now, true): outside h's slow scope */
#endif
#ifdef SHARED
        :: nursery_malloc()
        :: heap_tend_shared()
#endif
#ifdef RECLAIM
        :: atomic { rt2 = 1 + (self % NT) }  /* another thread's heap, whatever it is doing */
           heap_reclaim_complete();
           rt2 = 0
#ifdef SHARED
        :: atomic { rt2 = SH }               /* the shared heap (the code visits it like any) */
           heap_reclaim_complete();
           rt2 = 0
#endif
#endif
#ifdef FORK
        /* fork_prepare takes the reclaim lock (and the shared heap's): the test and the fork
         * are one step, so no reclaim (nor shared-heap call) is in progress at fork time */
        :: atomic {
#ifdef SHARED
             forker == 0 && !reclaiming && shlock == 0 ->
#else
             forker == 0 && !reclaiming ->
#endif
             forker = _pid;
             printf("T%d forks: the child goes on alone\n", self);
             child_recovery()
           }
#endif
        fi;
        skip;
        d_step { s = 0; s2 = 0; sb = 0; b = 0; fb = 0; req = 0; ok = false; ok2 = false; mine = false;
                 dl = 0; dt = 0; dc = 0; dw = 0; ro = 0; pp = 0; nt = false; tr = false; rd = false; at = false }
     :: break
     od;
     heap_thread_exit();
     skip;
     d_step { s = 0; s2 = 0; sb = 0; b = 0; fb = 0; req = 0; ok = false; ok2 = false; mine = false;
              dl = 0; dt = 0; dc = 0; dw = 0; ro = 0; pp = 0; nt = false; tr = false; rd = false; at = false;
              ops = 0 }
  :: else -> break
  od;
#ifdef LATE_FREE
  /* a TLS destructor after ours: t_heap is the retired heap, every free is remote, and
   * with -DSHARED an allocation is served by the shared heap (heap_alloc_shared) */
  if
  :: do_free()
#ifdef SHARED
  :: nursery_malloc()
#endif
  :: skip
  fi;
  d_step { s = 0; s2 = 0; sb = 0; b = 0; fb = 0; mine = false; dl = 0; dt = 0; dc = 0; dw = 0;
           ro = 0; pp = 0; nt = false; tr = false; rd = false; at = false; req = 0; ok = false; ok2 = false }
#endif
  if :: forker == _pid -> childdone = true :: else -> ndone++ fi
}

/* P1, P4, P5, P7 in every reachable state (never claim; atomic blocks are invisible to it). */
#define P1(i, j) ((owned[j] & BIT(i)) == 0 || owner[i] == j)
#define OWNER_LOOKS(i) (owner[i] >= 1 && owner[i] <= NH && (bound_hint[i] || closed[owner[i]]) && !dead[owner[i]])
#define P4(i) (remote_head[i] == NIL || listed[i] || pendm[i] != 0 || OWNER_LOOKS(i))
#define P5(i) ((where[i] == W_NONE || listed[i]) && (adopt_on[i] == 0 || adopt_listed[i]))
#define P7(i) (!bound_hint[i] || (owner[i] >= 1 && owner[i] <= NH && place[i] == P_BOUND))
#ifdef SHARED
#define P1_SH(i) && P1(i, SH)
#else
#define P1_SH(i)
#endif
#if NT == 2
#define P1_SLAB(i) (P1(i, 1) && P1(i, 2) P1_SH(i))
#else
#define P1_SLAB(i) (P1(i, 1) && P1(i, 2) && P1(i, 3) P1_SH(i))
#endif
#if NS == 1
#define ALL_SLABS(P) P(0)
#elif NS == 2
#define ALL_SLABS(P) (P(0) && P(1))
#else
#define ALL_SLABS(P) (P(0) && P(1) && P(2))
#endif
#ifdef CHILD_LEAKS_OK
#define P4_ALL (forker != 0 || ALL_SLABS(P4))
#else
#define P4_ALL ALL_SLABS(P4)
#endif

never {
  do
  :: ALL_SLABS(P1_SLAB) && P4_ALL && ALL_SLABS(P5) && ALL_SLABS(P7)
  :: else ->
     assert(ALL_SLABS(P1_SLAB) || P1_two_owners);
     assert(P4_ALL || P4_remote_free_stranded);
     assert(ALL_SLABS(P5) || P5_list_without_token);
     assert(ALL_SLABS(P7) || P7_hint_without_owner)
  od
}

/* The shared heap never exits: at the end it may own slabs (on one of its lists, or bound),
 * and a slab may have remote frees (or, unowned, free blocks) if it is announced in the
 * shared heap's mailbox (the next tend takes it, as an owner takes a stale entry of a slab
 * it let go of: claim, drain, settle). Its bound slab is no exception: its bind does not
 * set bound_hint, so the announcement is what guarantees a queued free is found (the next
 * nursery allocation of the class may never come). */
#ifdef SHARED
#define SH_MB(i) (where[i] == W_MB(SH))
#define SH_KEEPS(i) (owner[i] == SH && (owned[SH] & BIT(i)) && place[i] != P_NONE)
#define SH_LOOKS(i) SH_MB(i)
#else
#define SH_MB(i) false
#define SH_KEEPS(i) false
#define SH_LOOKS(i) false
#endif

/* The end: every thread gone (or, after a fork, the child). */
active proctype collector() {
  byte i, bl, n, j;
  byte seen[NU];
  bool leaky;
  ((forker == 0 && ndone == NT) || childdone);
  d_step {
#ifdef CHILD_LEAKS_OK
    leaky = (forker != 0);
#else
    leaky = false;
#endif
    for (i : 0 .. NS - 1) {
      assert(owner[i] == OWNER_NONE || owner[i] == OWNER_POOL || SH_KEEPS(i) || P6_slab_lost);  /* owned by a thread that is gone */
      assert(owner[i] != OWNER_POOL || in_pool[i] || leaky || P6_slab_lost);
      assert(where[i] == W_NONE || IS_GMB(where[i]) || SH_MB(i) || P5_token_lost);
      assert(where[i] != W_NONE || !listed[i] || leaky || P5_token_lost);
      assert(adopt_on[i] != 0 || !adopt_listed[i] || leaky || P5_token_lost);
      assert(pendm[i] == 0);
      n = 0; bl = free_head[i];
      do
      :: bl == NIL -> break
      :: else -> assert((gst[bl] == G_LOCAL && SLAB_OF(bl) == i) || P3_block_twice);
                 seen[bl]++; n++; assert(n <= U); bl = link[bl]
      od;
      bl = remote_head[i];
      do
      :: bl == NIL -> break
      :: else -> assert((gst[bl] == G_REMOTE && SLAB_OF(bl) == i) || P3_block_twice);
                 seen[bl]++; n++; assert(n <= U); bl = link[bl]
      od;
      assert(remote_head[i] == NIL || IS_GMB(where[i]) || SH_LOOKS(i) || leaky || P4_remote_free_stranded);
      assert(owner[i] != OWNER_NONE || !HAS_FREE(i) || IS_GMB(where[i]) || SH_MB(i) || adopt_on[i] != 0 ||
             leaky || P6_free_blocks_stranded);
      if
      :: forker == 0 ->  /* used == blocks out or queued */
         n = 0;
         for (j : i * U .. i * U + U - 1) {
           if :: gst[j] == G_ALLOC || gst[j] == G_REMOTE || gst[j] == G_FAST -> n++ :: else -> skip fi
         }
         assert(used[i] == n || P3_used_wrong)
      :: else -> skip
      fi
    }
    for (bl : 0 .. NU - 1) {
      assert(seen[bl] <= 1 || P3_block_twice);
      assert(!(gst[bl] == G_ALLOC || gst[bl] == G_FAST || gst[bl] == G_LEAK || gst[bl] == G_UNCARVED)
             || seen[bl] == 0 || P3_block_twice);                      /* live and listed */
      assert(!(gst[bl] == G_LOCAL || gst[bl] == G_REMOTE) || seen[bl] == 1 || P3_block_lost);
      assert(gst[bl] != G_TRANS && gst[bl] != G_FAST)
    }
  }
}

init {
  byte i;
  atomic {
#ifdef SHARED
    live[SH] = true;    /* created at the first use, never torn down: live from the start here */
#endif
    for (i : 1 .. NT) { run thread(i) }
  }
}
