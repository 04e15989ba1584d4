#ifndef NVC_CHILD_H
#define NVC_CHILD_H

/* The core's helper processes (the driver service, nvc-ts-exec, nvc-ts-ldconfig), started
 * and ended one way: posix_spawn (a fork followed at once by exec: safe from Node's
 * threads) with an empty environment, default signal handling and the helper's end of
 * a socketpair at NVC_CHILD_FD. Only our own pid is ever waited for, never waitpid(-1):
 * libuv reaps its own children. */

#include <stdint.h>
#include <sys/types.h>

#include "nvc_error.h"

#define NVC_CHILD_FD 3

struct nvc_child {
    pid_t pid; /* 0 when none (or reaped); stored atomically: nvc_context_kill reads it unlocked */
    int pidfd; /* -1 where pidfd_open is unavailable */
    int sock;  /* our end of the socketpair, -1 when closed */
};

/* After a SIGKILL that did not take within the wait: who reaps a process stuck in the kernel. */
enum nvc_child_linger {
    NVC_CHILD_REAP_DETACHED, /* a detached thread, so the caller does not block */
    NVC_CHILD_REAP_BLOCKING, /* the caller, with a blocking waitpid */
};

int64_t nvc_now_ms(void); /* CLOCK_MONOTONIC */

void nvc_child_reset(struct nvc_child *c);

/* Creates a socketpair of sock_type (close-on-exec) and spawns path with argv, its end at
 * NVC_CHILD_FD and, with null_stdio, stdin/stdout/stderr on /dev/null. Returns 0 with c
 * filled; -1 with err set when the socket cannot be made ("cannot create the <what>
 * socket"); or posix_spawn's error number, err untouched, for the caller to word. c is
 * left reset on failure. */
int nvc_child_spawn(struct nvc_child *c, const char *path, char *const argv[], int sock_type, int null_stdio,
                    const char *what, struct nvc_error *err);

/* Waits up to timeout_ms for the child to end. 1 once reaped (status filled, pid set to
 * 0; also when there is no child to wait for), 0 while it still runs. */
int nvc_child_wait(struct nvc_child *c, int timeout_ms, int *status);

/* SIGKILL, then up to wait_ms for it to go; past that the process is handed to `linger`.
 * Either way pid is 0 afterwards. Returns 1 when it was reaped here (status, which may be
 * NULL, then says how it ended), 0 when a detached thread will reap it. */
int nvc_child_kill(struct nvc_child *c, int wait_ms, enum nvc_child_linger linger, int *status);

/* Closes the socket and the pidfd (whichever are still open). */
void nvc_child_close(struct nvc_child *c);

#endif
