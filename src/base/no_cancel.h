// Cancellation off for a scope. Every hakmem path that holds a lock across a
// cancellation point (open, read, write: statistics, the profile dump) runs under one.
// A thread cancelled there would never release the lock, as nothing unwinds through
// hakmem (-fno-exceptions, no cleanup handlers), and the next fork() or report would
// wait for it forever. glibc's malloc_stats does the same.
#pragma once
#include <pthread.h>

namespace hakmem {

class NoCancel {
 public:
  NoCancel() { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old_); }
  ~NoCancel() { pthread_setcancelstate(old_, nullptr); }
  NoCancel(const NoCancel&) = delete;
  NoCancel& operator=(const NoCancel&) = delete;

 private:
  int old_ = PTHREAD_CANCEL_ENABLE;
};

}  // namespace hakmem
