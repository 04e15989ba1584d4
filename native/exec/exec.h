#ifndef NVC_EXEC_EXEC_H
#define NVC_EXEC_EXEC_H

/* nvc-ts-exec internals: the state of one plan being applied, shared by the files of
 * native/exec. The executor is single-threaded and applies one plan, then exits, so
 * this state is plain and owned by main. */

#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "nvc_error.h"
#include "nvc_plan.h"

struct exec_fdinfo; /* sysmount.h */

#define EXEC_SOCKET_FD 3

/* A bind source, opened and checked on the host before entering the container. */
struct exec_source {
    int tree_fd; /* detached clone ready to attach (mount API), else -1 */
    int host_fd; /* O_PATH fd of the checked file (mount(2) fallback), else -1 */
    dev_t dev;   /* identity and type as checked */
    ino_t ino;
    mode_t mode;
};

enum undo_kind {
    UNDO_CREATED, /* a file, directory or symlink this plan created: remove it */
    UNDO_MOUNT,   /* a mount this plan attached: detach it */
    UNDO_FLAGS,   /* flags this plan added to an existing mount: clear them */
};

struct undo {
    enum undo_kind kind;
    int fd;         /* CREATED: parent dir; MOUNT, FLAGS: the mount's root */
    int at_fd;      /* MOUNT: the mount point below it (for the propagation guard) */
    int at_parent;  /* MOUNT: the directory holding the mount point, or -1 */
    char name[256]; /* CREATED: name in the parent (NAME_MAX + 1: recording never allocates) */
    dev_t dev;      /* CREATED: identity, so that a replaced entry is left alone */
    ino_t ino;
    mode_t mode;           /* CREATED: its type (a directory is removed as one; the change report) */
    uint64_t btime;        /* CREATED: birth time in ns (0: unknown), tells a reused inode number apart */
    unsigned added;        /* FLAGS: nvc_mount_flag bits that were added */
    unsigned long prev_ms; /* FLAGS: MS_* of the mount before (mount(2) fallback) */
    const char *target;    /* container path, for messages (path when it could be copied) */
    char *path;            /* a copy of the container path, for the change report; NULL: out of memory */
};

/* A shared mount turned private while this plan mounts below it (see guard.c). */
struct exec_guard {
    uint64_t mnt_id;
    int root_fd;  /* root of that mount, -1 when it was not shared (nothing to restore) */
    int saved_fd; /* detached clone holding its old peer group and master */
    char where[256];
};

#define EXEC_DIR_CACHE 8

struct exec_ctx {
    const struct nvc_plan *plan;
    int rootfd; /* O_PATH on the rootfs, opened inside the container namespace */
    /* The kernel's name for rootfd when last asked (see exec_check_in_root); empty: unknown. */
    char root_path[PATH_MAX];
    size_t root_len;
    int legacy;                  /* 1: mount(2) through /proc/self/fd instead of the fd-based API */
    unsigned delay_us;           /* test hook: widen race windows */
    struct exec_source *sources; /* one per edit; meaningful for binds */
    enum nvc_edit_outcome *outcomes;
    struct undo *undo;
    size_t nundo, capundo;
    struct exec_guard *guards;
    size_t nguards, capguards;
    /* Parent directories already resolved in this plan (see exec_open_parent). */
    struct exec_dir_cache {
        char path[PATH_MAX]; /* container path, "" when the slot is free */
        int fd;
    } dirs[EXEC_DIR_CACHE];
    size_t next_dir;
    uint64_t *tmpfs_ids; /* mounts made by this plan's tmpfs edits: where writes may go */
    size_t ntmpfs;
    uint32_t edits_us; /* time from the first edit to propagation restored, for the result */
};

extern volatile int exec_cancelled; /* set by SIGTERM/SIGINT/SIGHUP */

/* ---- nsenter.c ---- */
/* Opens /proc/<pid>/ns/mnt and refuses our own namespace. */
int exec_ns_open(pid_t pid, uint64_t pid_start, int *nsfd, struct nvc_error *err);
int exec_ns_enter(int nsfd, pid_t pid, struct nvc_error *err);
/* Opens the rootfs (after entering) and checks that /proc is usable there. */
int exec_open_rootfs(struct exec_ctx *ctx, struct nvc_error *err);

/* ---- sources.c ---- */
int exec_sources_open(struct exec_ctx *ctx, struct nvc_error *err);
/* Fallback only: the host fds cannot be bound from another namespace; reopen each
 * source by path after entering and insist it is the same file. */
int exec_sources_reopen(struct exec_ctx *ctx, struct nvc_error *err);
void exec_sources_close(struct exec_ctx *ctx);

/* ---- resolve.c ---- */
/* The directory that holds target's last component, missing directories created on
 * the way (0755, plan owner). Returns an O_PATH fd checked to be under the rootfs;
 * *name points into target. */
int exec_open_parent(struct exec_ctx *ctx, const char *target, const char **name, struct nvc_error *err);
/* A mount was attached at target: directories at or below it resolve differently now. */
void exec_forget_dirs_under(struct exec_ctx *ctx, const char *target);
/* Creates directory name in parent (mode, plan owner), records it for rollback, and
 * returns an O_PATH fd on it. Returns -2 (err untouched) when name already exists. */
int exec_mkdir_at(struct exec_ctx *ctx, int parent, const char *name, unsigned mode, const char *target,
                  struct nvc_error *err);
/* Fails with NVC_ERR_PATH_ESCAPE unless fd lies under the rootfs. */
int exec_check_in_root(struct exec_ctx *ctx, int fd, const char *target, struct nvc_error *err);
/* Gives the entry fd (just created, st from exec_stat_new) to the plan's owner; nothing to
 * do when it already has that owner (created by root for root, the common case). */
int exec_chown_fd(struct exec_ctx *ctx, int fd, const struct stat *st, const char *target, struct nvc_error *err);

/* ---- undo.c ---- */
/* Makes room for n more undo entries, so that recording what was just done cannot fail. */
int undo_reserve(struct exec_ctx *ctx, size_t n, struct nvc_error *err);
/* The push functions take ownership of the fds they are given; room must be reserved. */
/* st and btime: the entry just created, from exec_stat_new (kept only as its identity:
 * dev, ino, type and birth time). */
void undo_push_created(struct exec_ctx *ctx, int parent_fd, const char *name, const struct stat *st, uint64_t btime,
                       const char *target);
void undo_push_mount(struct exec_ctx *ctx, int mnt_fd, int at_fd, int at_parent, const char *target);
void undo_push_flags(struct exec_ctx *ctx, int mnt_fd, unsigned added, unsigned long prev_ms, const char *target);
/* Undoes everything in reverse. err holds the failure that caused it; if anything
 * cannot be undone, err becomes NVC_ERR_ROLLBACK and says both. */
void exec_rollback(struct exec_ctx *ctx, struct nvc_error *err);
/* After success: forget the log (the changes stay). */
void undo_forget(struct exec_ctx *ctx);
/* After success, before undo_forget: the log as the change list the result reports
 * (malloc'd, paths too). -1 with err when it cannot be built. */
int undo_report(struct exec_ctx *ctx, struct nvc_change **changes, size_t *n, struct nvc_error *err);

/* ---- guard.c ---- */
/* Before attaching a mount on at_fd (whose directory is at_parent): if the mount that
 * holds at_fd is shared, make it private for the duration of the plan so that nothing
 * propagates out of the container's namespace. info (NULL: not wanted) receives what
 * was found of at_fd. */
int guard_mount_point(struct exec_ctx *ctx, int at_fd, int at_parent, const char *target, struct exec_fdinfo *info,
                      struct nvc_error *err);
/* Rejoin the peer groups of every guarded mount. Returns -1 with err on the first failure. */
int guard_release_all(struct exec_ctx *ctx, struct nvc_error *err);

/* ---- edit_mount.c ---- */
int exec_edit_bind(struct exec_ctx *ctx, size_t i, struct nvc_error *err);
int exec_edit_tmpfs(struct exec_ctx *ctx, size_t i, struct nvc_error *err);
int exec_edit_remount(struct exec_ctx *ctx, size_t i, struct nvc_error *err);

/* ---- edit_fs.c ---- */
int exec_edit_write(struct exec_ctx *ctx, size_t i, struct nvc_error *err);
int exec_edit_symlink(struct exec_ctx *ctx, size_t i, struct nvc_error *err);

/* ---- teardown.c ---- */
/* Enter the container's namespace and undo the changes of req in reverse order, each only
 * if still what was recorded; reports[i] says what happened to change i. -1 with err
 * only when the container cannot be entered. */
int exec_teardown(struct exec_ctx *ctx, const struct nvc_teardown *req, struct nvc_undo_report *reports,
                  struct nvc_error *err);

/* ---- apply.c ---- */
/* Everything before the first change: open and enter the namespace, pin the sources, open
 * the rootfs. */
int exec_prepare(struct exec_ctx *ctx, struct nvc_error *err);
/* Enter, apply every edit in order, restore propagation. On failure everything is
 * rolled back before this returns -1. */
int exec_apply(struct exec_ctx *ctx, struct nvc_error *err);
void exec_test_delay(const struct exec_ctx *ctx);

/* "a regular file", "a directory", ...: for messages about what sits where. */
const char *exec_type_name(mode_t m);

#endif
