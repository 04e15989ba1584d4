#ifndef NVC_TEST_EXEC_TUTIL_H
#define NVC_TEST_EXEC_TUTIL_H

/* Helpers of the executor tests: a private "host" namespace for the whole run, fake
 * containers (a child in its own mount namespace), snapshots of mount tables and
 * directory trees, and the standard plan every layout is tried with. */

#include <stddef.h>
#include <sys/types.h>

#include "nvc_error.h"
#include "nvc_plan.h"

#define T_BASE   "/tmp/nvc-exec-test"
#define T_CANARY T_BASE "/canary"
#define T_SRC    T_BASE "/host-src"

/* Executor variants: the real thing, the userspace resolver walk, and the walk plus
 * mount(2) through /proc/self/fd instead of the fd-based mount API. */
enum t_variant { T_DEFAULT = 0, T_WALK = 1, T_LEGACY = 2, T_NVARIANTS = 3 };
const char *t_exec_path(enum t_variant v);
const char *t_variant_name(enum t_variant v);
/* A variant with --test-delay-us (race tests, cancellation). */
const char *t_exec_slow_path(enum t_variant v);
extern const char *t_exec_dir;

/* Enter a private mount namespace with a tmpfs on T_BASE; create the host sources and
 * the canary tree. */
int t_sandbox_init(void);
/* Make T_BASE shared (1) or private (0) in the test's namespace. */
int t_base_shared(int shared);

/* A container: a child in a new mount namespace, copied from ours (private: made
 * rprivate first, as runtimes do; else left as is). With proc, a procfs is mounted at
 * <rootfs>/proc inside it when that is a plain directory, as runc does before hooks. */
struct t_container {
    pid_t pid;
};
int t_container_start(struct t_container *c, const char *rootfs, int private_, int proc);
/* As runtimes do, bind the rootfs onto itself inside the container first (1); with 2,
 * also make that mount shared and give it a peer outside the rootfs (T_BASE/peer),
 * so that anything mounted below the rootfs without care shows up there too. */
extern int t_container_bind_self;
void t_container_stop(struct t_container *c);

/* Whole files, malloc'd, NUL-terminated. */
char *t_read_file(const char *path);
char *t_mountinfo(pid_t pid); /* pid 0: ours */
/* Mount points of lines in `after` that are not in `before` (newline separated), malloc'd. */
char *t_new_mounts(const char *before, const char *after);
/* The options field of the topmost mount at exactly that mount point, or NULL. */
int t_mount_options(pid_t pid, const char *mountpoint, char *out, size_t n);
int t_has_opt(const char *opts, const char *opt);

/* Sorted listing of a tree (type, mode, owner, size, link text; with_times adds
 * mtimes), malloc'd. Never follows links or crosses into other mounts. */
char *t_tree(const char *root, int with_times);

int t_mkdirs(const char *path);
int t_write(const char *path, const char *text);
int t_symlink(const char *target, const char *path);
void t_rmrf(const char *path);

/* A fresh rootfs with the usual directories, at T_BASE/<name>; path into out. */
int t_rootfs(const char *name, char *out, size_t n);

/* The standard plan: tmpfs + write + remount on /proc/driver, binds of a library, a
 * binary, /dev/null, a directory (twice, the second below /etc) and a socket, a symlink.
 * Fills edits (at least T_STD_EDITS entries). */
#define T_STD_EDITS 10
void t_std_plan(struct nvc_plan *plan, struct nvc_edit *edits, pid_t pid, const char *rootfs);

/* Nothing of the probe names exists at the host paths an escape would hit. */
int t_host_clean(void);

/* One plan applied to a fresh container, with every invariant checked that must hold
 * whatever the layout: the test's own mount table unchanged, the canary tree
 * unchanged (mtimes included), no probe file at host paths, every new container mount
 * below the rootfs, and on failure the container's mount table and the rootfs tree
 * exactly as before. The container is left running (t_run_end stops it). */
struct t_run {
    const char *rootfs;
    int private_;     /* container namespace rprivate (else copied as is) */
    int proc;         /* procfs at <rootfs>/proc in the container */
    const char *exec; /* executor path */
    struct nvc_plan *plan;
    int skip_tree; /* races: the tree changes under the test's feet, do not compare it */
    /* results */
    int rc;
    struct nvc_error err;
    struct nvc_plan_result res;
    struct t_container c;
    char *cmi_before, *cmi_after;
};
/* Returns 0 when every invariant held (whatever rc), -1 otherwise. */
int t_run_plan(struct t_run *r);
void t_run_end(struct t_run *r);
#endif
