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
#include "nvc_wait.h"

#define NVC_CHILD_FD 3

struct nvc_child {
    pid_t pid; /* 0 when none (or reaped); stored atomically: nvc_context_kill reads it unlocked */
    int pidfd; /* -1 where pidfd_open is unavailable */
    int sock;  /* our end of the socketpair, -1 when closed */
};

void nvc_child_reset(struct nvc_child *c);

/* A helper runs in its own session and process group (its pgid is its pid): a signal goes
 * to the whole group, so that what the helper forked ends with it. Only for an unreaped
 * helper of ours (pid > 0); nothing for pid 0. */
void nvc_child_signal(const struct nvc_child *c, int sig);
void nvc_child_signal_pid(pid_t pid, int sig);

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

/* SIGKILL, then up to wait_ms for it to go; past that (a process stuck in the kernel) a
 * detached thread reaps it, so the caller does not block (the caller itself only where no
 * thread can be made). Either way pid is 0 afterwards. Returns 1 when it was reaped here
 * (status, which may be NULL, then says how it ended), 0 when the thread will reap it. */
int nvc_child_kill(struct nvc_child *c, int wait_ms, int *status);

/* Closes the socket and the pidfd (whichever are still open). */
void nvc_child_close(struct nvc_child *c);

/* ---- Waiting without blocking ----------------------------------------------------------
 * The exchanges with the executor and the ldconfig helper are state machines: a step does
 * only what can be done at once (non-blocking send/recv, waitid WNOHANG, a deadline
 * check) and then says what it waits for. Whoever drives it waits for that however it
 * likes: nvc_wait_block (poll) for the synchronous C API, libuv in the addon, so that no
 * libuv pool thread sits in a wait while a helper works. A spurious wake-up is harmless:
 * the next step finds nothing to do and asks for the same wait again. */

/* Blocks until w's fd is ready or its deadline passes. */
void nvc_wait_block(const struct nvc_wait *w);

/* The end of a child, step by step: up to grace_ms for it to exit by itself (0: kill at
 * once), then SIGKILL and up to kill_ms for it to go; a process stuck in the kernel past
 * that is left to a detached reaping thread. Only our own pid is ever waited for. */
struct nvc_child_end {
    int64_t deadline;
    int kill_ms;
    int killed; /* SIGKILL sent */
    int status; /* how it ended; after a detached reap, as if killed by SIGKILL */
    int reaped; /* reaped here (else by the detached thread) */
};

/* What to wait for to see the child's exit by deadline: its pidfd (or, without one, a short
 * step, after which nvc_child_wait is asked again). */
void nvc_child_wait_for(const struct nvc_child *c, int64_t deadline, struct nvc_wait *w);

void nvc_child_end_begin(struct nvc_child *c, struct nvc_child_end *e, int grace_ms, int kill_ms);
/* 1 once the child is gone (e->status says how), or 0 with *w filled. */
int nvc_child_end_step(struct nvc_child *c, struct nvc_child_end *e, struct nvc_wait *w);

#endif
