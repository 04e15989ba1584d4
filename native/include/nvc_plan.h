#ifndef NVC_PLAN_H
#define NVC_PLAN_H

/* A container edit plan: what the TypeScript planner computed, as plain data, for the
 * executor (nvc-ts-exec) to apply inside a container's mount namespace. Every target
 * is a path inside the container rootfs; every source is a host path. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvc_error.h"
#include "nvc_wait.h"

enum nvc_edit_kind {
    NVC_EDIT_INVALID_ = 0,
#define NVC_EDIT_KIND(name, NAME) NVC_EDIT_##NAME,
#include "nvc_vocabulary.def"
    NVC_EDIT_END_ /* one past the last kind */
};

enum nvc_mount_flag_bit {
#define NVC_MOUNT_FLAG(name, NAME) NVC_MNT_BIT_##NAME,
#include "nvc_vocabulary.def"
    NVC_MNT_BIT_END_
};

/* Mount flags, applied after the mount exists (mount_setattr or bind-remount). */
enum nvc_mount_flag {
#define NVC_MOUNT_FLAG(name, NAME) NVC_MNT_##NAME = 1u << NVC_MNT_BIT_##NAME,
#include "nvc_vocabulary.def"
};

/* What a bind source must be; checked with lstat on the host before binding. */
enum nvc_source_kind {
    NVC_SRC_INVALID_ = 0,
#define NVC_SOURCE_KIND(name, NAME) NVC_SRC_##NAME,
#include "nvc_vocabulary.def"
    NVC_SRC_END_ /* one past the last kind */
};

struct nvc_edit {
    enum nvc_edit_kind kind;
    const char *target; /* container path, absolute */
    const char *source; /* BIND: host path */
    const char *link;   /* SYMLINK: link contents */
    const void *data;   /* WRITE: contents */
    size_t data_len;
    unsigned mode;                    /* TMPFS/WRITE: permission bits */
    unsigned flags;                   /* enum nvc_mount_flag bits (BIND, TMPFS, REMOUNT) */
    enum nvc_source_kind source_kind; /* BIND */
    unsigned major, minor;            /* BIND of NVC_SRC_CHAR */
};

struct nvc_plan {
    pid_t pid; /* container init; its mount namespace is the one changed. 0 = our own namespace */
    uint64_t
        pid_start; /* its start time (stat field 22) when the caller looked: a recycled pid is refused; 0 = unchecked */
    const char *rootfs; /* host path of the rootfs as seen in that namespace (pre-pivot_root) */
    uid_t uid;          /* owner of created files and directories */
    gid_t gid;
    const struct nvc_edit *edits;
    size_t nedits;
};

/* What was done, for reporting: one entry per edit, in order. */
enum nvc_edit_outcome {
    NVC_OUTCOME_DONE = 1,
    NVC_OUTCOME_SKIPPED = 2, /* an identical symlink was already there */
};

/* One change a plan made that teardown may undo, in the order it was made. Entries and
 * mounts are recognised later by identity, never by path alone: a path may by then name
 * something else. */
enum nvc_change_kind {
    NVC_CHANGE_MOUNT = 1,   /* a mount attached at path (bind or tmpfs) */
    NVC_CHANGE_FILE = 2,    /* a regular file created (bind placeholder, write) */
    NVC_CHANGE_DIR = 3,     /* a directory created (placeholder or a missing parent) */
    NVC_CHANGE_SYMLINK = 4, /* a symlink created */
    NVC_CHANGE_FLAGS = 5,   /* mount flags added to an existing mount (remount) */
};

struct nvc_change {
    enum nvc_change_kind kind;
    char *path;          /* container path (as the plan named it) */
    uint64_t mnt_id;     /* MOUNT, FLAGS: the mount's id as mountinfo shows it */
    uint64_t mnt_unique; /* MOUNT, FLAGS: STATX_MNT_ID_UNIQUE (never reused) where the kernel has it, else 0 */
    uint64_t dev, ino;   /* MOUNT: root of the mount; FILE/DIR/SYMLINK: the entry */
    uint64_t btime;      /* FILE/DIR/SYMLINK: birth time in ns (a reused inode number has another); 0: unknown */
    unsigned flags;      /* FLAGS: the nvc_mount_flag bits that were added */
};

struct nvc_plan_result {
    enum nvc_edit_outcome *outcomes; /* nedits entries, malloc'd */
    size_t nedits;
    /* The executor's own time on the edits (entered, first edit to last), in microseconds;
     * NVC_PLAN_NO_TIME when it did not say. The rest of its run is start and entry. */
    uint32_t edits_us;
    struct nvc_change *changes; /* what was changed, in order; malloc'd, paths too */
    size_t nchanges;
};

/* What teardown did with one change. */
enum nvc_undo_status {
    NVC_UNDO_DONE = 1,   /* undone */
    NVC_UNDO_ABSENT = 2, /* already gone (a second teardown, or removed by someone else) */
    NVC_UNDO_KEPT = 3,   /* left in place: changed by someone else, not empty, or not undoable; why says */
};

struct nvc_undo_report {
    enum nvc_undo_status status;
    char why[240];
};

/* A teardown request: the changes of one configure, for the same container. */
struct nvc_teardown {
    pid_t pid;
    uint64_t pid_start;
    const char *rootfs;
    const struct nvc_change *changes;
    size_t nchanges;
};

struct nvc_teardown_result {
    struct nvc_undo_report *reports; /* nchanges entries, in the request's order; malloc'd */
    size_t nchanges;
};
#define NVC_PLAN_NO_TIME UINT32_MAX

/* Apply the plan in a fresh single-threaded helper process (nvc-ts-exec, at exec_path)
 * that enters the container's mount namespace. All or nothing: on failure every mount
 * made is detached and every file or directory created is removed before this returns
 * the error. */
int nvc_plan_apply(const char *exec_path, const struct nvc_plan *plan, struct nvc_plan_result *result,
                   struct nvc_error *err);
void nvc_plan_result_free(struct nvc_plan_result *result);

/* The same exchange, for callers that must not block while the executor works (the addon
 * waits with libuv, off the thread pool). nvc_plan_apply is these three around a poll loop.
 *   start:  checks and encodes the plan, spawns the executor (short; nothing waits).
 *   step:   1 when the exchange is over; 0 with *w filled: call again once w's fd is
 *           ready or its deadline has passed.
 *   finish: after step returned 1: the result, or the error, exactly as nvc_plan_apply's.
 * nvc_plan_job_free may be called at any time: an executor still running is asked to stop
 * (it rolls back) and reaped in the background. */
struct nvc_plan_job;
struct nvc_plan_job *nvc_plan_job_start(const char *exec_path, const struct nvc_plan *plan, struct nvc_error *err);
/* Right after start: this job's limit instead of nvc_plan_apply_timeout_ms (a caller's own
 * deadline, e.g. the service's bound on a whole request); 0 keeps the default. */
void nvc_plan_job_set_timeout(struct nvc_plan_job *job, unsigned timeout_ms);
int nvc_plan_job_step(struct nvc_plan_job *job, struct nvc_wait *w);
int nvc_plan_job_finish(struct nvc_plan_job *job, struct nvc_plan_result *result, struct nvc_error *err);
void nvc_plan_job_free(struct nvc_plan_job *job);

/* Teardown: the same executor and exchange with a TEARDOWN request. In the container's
 * mount namespace, in reverse order, each mount is detached only if the mount at its path
 * is still the one recorded and has no mounts below it that were not recorded, each entry
 * removed only if it is still the same inode (a directory only when empty). Paths are
 * resolved inside the rootfs. A change found changed is reported KEPT, not an error. */
struct nvc_plan_job *nvc_teardown_job_start(const char *exec_path, const struct nvc_teardown *req,
                                            struct nvc_error *err);
int nvc_teardown_job_finish(struct nvc_plan_job *job, struct nvc_teardown_result *result, struct nvc_error *err);
int nvc_teardown(const char *exec_path, const struct nvc_teardown *req, struct nvc_teardown_result *result,
                 struct nvc_error *err);
void nvc_teardown_result_free(struct nvc_teardown_result *result);

#endif
