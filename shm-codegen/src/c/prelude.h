/* Linux: the waiter and the writer below use POSIX and Linux calls
 * (syscall, clock_gettime, fcntl, kill, opendir, shmat). Compiled with a strict
 * -std=c11 and no feature-test macro, this header asks for the default
 * set; include it first, or define _GNU_SOURCE or _DEFAULT_SOURCE. */
#if defined(__linux__) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) \
    && !defined(_POSIX_C_SOURCE) && !defined(_XOPEN_SOURCE)
#define _DEFAULT_SOURCE 1
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#if defined(__linux__)
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#endif
