// The pthread_atfork handlers (fork.cpp explains the lock order).
#pragma once

namespace hakmem {

void fork_prepare();
void fork_parent();
void fork_child();

}  // namespace hakmem
