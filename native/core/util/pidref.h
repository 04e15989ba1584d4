#ifndef NVC_PIDREF_H
#define NVC_PIDREF_H

/* A container's process named by pid, held still while we use it: the pid alone may be
 * recycled by the time a helper opens /proc/<pid>/..., so the process is named by
 * (pid, start time) and checked against a pidfd around every open. */

#include <stdint.h>
#include <sys/types.h>

#include "nvc_error.h"

/* The start time of pid (clock ticks after boot, field 22 of <proc>/<pid>/stat).
 * 0 with *start filled, -1 with errno (ESRCH for a process that is not there). */
int nvc_pid_start_time(const char *proc, pid_t pid, uint64_t *start);

/* Opens /proc/<pid>/ns/<ns> (e.g. "mnt") of the process pid names, and only of it: a
 * pidfd is taken first, the process's start time must be expected_start (when that is not
 * 0), the namespace is opened, and the pidfd must show the process still alive afterwards,
 * so the namespace is the process's and not a recycled pid's. Kernels without pidfd_open
 * (before 5.3) get the start-time checks before and after the open instead. 0 with *fd
 * (O_CLOEXEC), -1 with err (NVC_ERR_NAMESPACE) set. */
int nvc_pid_ns_open(pid_t pid, uint64_t expected_start, const char *ns, int *fd, struct nvc_error *err);

/* The same for any entry of /proc/<pid> ("root": the process's root directory, through
 * which its mount namespace's tree is walked), opened with flags | O_CLOEXEC. */
int nvc_pid_open(pid_t pid, uint64_t expected_start, const char *entry, int flags, int *fd, struct nvc_error *err);

#endif
