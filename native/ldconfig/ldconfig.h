#ifndef NVC_LC_HELPER_H
#define NVC_LC_HELPER_H

/* Internals of nvc-ts-ldconfig, the helper that runs ldconfig for a container.
 *
 * Process layout:
 *   client (the core)  --posix_spawn-->  supervisor (main.c: host namespaces, root)
 *   supervisor  --unshare(pid/net/ipc/uts/cgroup) + fork-->  confined child (confine.c),
 *   pid 1 of its new pid namespace, which enters the container's mount namespace, makes
 *   a private copy of it, puts the budget view over the rootfs (an overlay with a limited
 *   tmpfs upper; budget_view.c), pivots into it, drops everything and execs ldconfig.
 * The supervisor captures the child's output, enforces the deadline, reaps it, copies the
 * expected results out of the budget view into the rootfs (budget_apply.c) and sends the
 * client one report. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ldconfig_report.h"
#include "nvc_ldconfig.h"

struct lc_args {
    pid_t pid;          /* 0: our own mount namespace */
    uint64_t pid_start; /* its start time as the caller saw it; 0: unchecked */
    const char *rootfs;
    const char *ldconfig; /* without the '@' */
    int host_binary;      /* 1 when the request had '@' */
    const char *const *dirs;
    size_t ndirs;
    uid_t uid;
    gid_t gid;
    unsigned timeout_ms;
    int no_pivot; /* MS_MOVE + chroot instead of pivot_root (nvidia-container-cli --no-pivot) */
    int gated;    /* wait for the client's go (and its time limit) before touching the container */
};

/* The go a gated helper waits for on its report socket: this byte, then the time limit in
 * milliseconds (u32, host order: both ends are on one machine); 0 keeps --timeout-ms. */
#define LC_GATE_GO   'G'
#define LC_GATE_SIZE 5

/* Descriptors the confined child inherits. All are O_CLOEXEC: none survives exec. */
struct lc_child_fds {
    int mntns;    /* the container's mount namespace, -1 for our own */
    int exe;      /* sealed memfd of the host ldconfig, -1 for the container's */
    int out;      /* write end of the output pipe: becomes stdout and stderr */
    int report;   /* write end of the child's error pipe (closed by a successful exec) */
    int lifeline; /* read end of a pipe only the supervisor writes to: hangs up when it dies */
    int budget;   /* socket: the budget view's upper layer and rootfs bind go to the supervisor */
    int drop[5];  /* the supervisor's ends and its client socket: closed first; -1 = unused */
};

/* What the confined child writes to its error pipe when it gives up before exec. */
struct lc_child_error {
    int kind; /* NVC_LDCONFIG_MISSING or NVC_LDCONFIG_SETUP_FAILED */
    int sys_errno;
    char step[64];
    char msg[512];
};

/* sealed.c: copy the host binary at path into a sealed, executable memfd (O_CLOEXEC).
 * Returns the fd, or -1 with why (and errno) filled in. */
int lc_seal_host_binary(const char *path, char *why, size_t whysz);

/* Copies size bytes of src, read from its start, to dst (sendfile where the two allow it);
 * 0, or -1 with errno (EIO: src ended early). */
int lc_copy_file(int dst, int src, off_t size);

/* confine.c: never returns. */
void lc_confined_child(const struct lc_args *a, const struct lc_child_fds *fds) __attribute__((noreturn));

/* mounts.c: in the confined child, after the pivot: detach every kernel interface
 * (procfs, sysfs, ... found by filesystem type) and make every mount but the rootfs
 * read-only, then check the table. 0, or -1 with errno and why filled in. */
int lc_confine_mounts(int host_binary, char *why, size_t whysz);

/* One line of mountinfo (mounts.c). */
struct lc_mount {
    int id, parent; /* mount ids */
    char *path;     /* unescaped mount point, absolute from the process root */
    char *type;
    int ro;    /* the per-mount read-only flag */
    int depth; /* number of '/' in path, to work from the leaves up */
};
/* mounts.c: /proc/self/mountinfo read through a procfs of our own (malloc'd), or NULL with
 * errno; lc_parse_mountinfo splits it (modified; the mounts point into it) into the mounts
 * other than "/" and returns how many (*out malloc'd), or -1. */
char *lc_read_mountinfo(void);
int lc_parse_mountinfo(char *buf, struct lc_mount **out);

/* budget_view.c, in the confined child before the pivot: mount the budget view over the
 * rootfs bind (an overlay whose upper layer is a tmpfs of NVC_LDCONFIG_BUDGET_BYTES and
 * NVC_LDCONFIG_BUDGET_INODES, the submounts cloned on top). Returns 1 with *upper (the upper
 * directory) and *real (O_PATH, the rootfs bind below the overlay), 0 when the rootfs is
 * read-only (nothing to budget), -1 with errno and why (nothing left mounted). */
int lc_budget_view(const char *rootfs, int *upper, int *real, char *why, size_t whysz);
/* The two fds over a unix socket, child to supervisor; receive returns 1 when they came. */
int lc_budget_send(int sock, int upper, int real);
int lc_budget_receive(int sock, int *upper, int *real);

/* budget_apply.c, in the supervisor after ldconfig exited. */
struct lc_budget_tally {
    uint64_t entries, bytes; /* what was charged */
    unsigned files, links, removed, ignored;
};
/* 1 when ldconfig filled the upper layer (blocks or inodes): it ran into the budget. */
int lc_budget_exhausted(int upper);
/* Copy the expected results (the cache, links, removed links) from the upper layer into the
 * rootfs. 0, or -1 with errno and why (what was renamed into place before stays). */
int lc_budget_apply(int upper, int real, struct lc_budget_tally *t, char *why, size_t whysz);

/* seccomp.c: the allow-list every confined ldconfig runs under. 0 or -1 with errno. */
int lc_install_seccomp(void);

#endif
