/* Shim so glibc's test support library (support/) and malloc tests build outside
 * glibc's tree against the installed glibc: what glibc's Makeconfig would pass. */
#define _GNU_SOURCE 1
#define IS_IN(x) 0
#define attribute_hidden
#define libc_hidden_proto(x)
#define libc_hidden_def(x)
#include <limits.h>        /* NAME_MAX, PATH_MAX: support/ expects them from glibc's internal headers */
#include <linux/limits.h>
#define TIMEOUTFACTOR 1    /* test-driver scaling; TIMEOUTFACTOR in the environment still applies */
#define SRCDIR_PATH GLIBC_TESTS_DIR "/src"
#define OBJDIR_PATH GLIBC_TESTS_DIR "/obj"
#define OBJDIR_ELF_LDSO_PATH "/lib64/ld-linux-x86-64.so.2"
#define INSTDIR_PATH "/usr"
#define LIBDIR_PATH "/usr/lib"
#define BINDIR_PATH "/usr/bin"
#define SBINDIR_PATH "/usr/sbin"
#define SLIBDIR_PATH "/lib"
#define ROOTSBINDIR_PATH "/sbin"
#define COMPLOCALEDIR_PATH "/usr/lib/locale"
