/* Keeping mounts inside the container's namespace.
 *
 * A mount attached below a *shared* mount is copied to every peer of that mount, and
 * the peers may live in the host's namespace (a runtime that unshared without making
 * the rootfs rslave/rprivate, or made it rshared on purpose). Flags on the new mount
 * do not help: propagation is decided by the mount it is attached to. So before the
 * first mount below a shared mount M, the executor:
 *   1. clones M as a detached mount C, makes C private, then copies M's peer group and
 *      master into C (move_mount MOVE_MOUNT_SET_GROUP): C now remembers where M was;
 *   2. makes M private: attaching below it propagates nowhere.
 * When the plan is over (success or rollback), M gets its peer group and master back
 * from C (MOVE_MOUNT_SET_GROUP again) and C is dropped. Mounts made meanwhile stay
 * where they are: propagation is not retroactive.
 * Without the fd-based API (kernels before 5.15) there is no way back, so a shared M
 * is refused instead. */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "mountinfo.h"
#include "sysmount.h"

/* Upper bound on ".." steps when climbing to a mount's root. */
#define MAX_CLIMB 4096

/* 1 when mount mnt_id of this namespace (the one holding fd) is shared, 0 when not, -1 on
 * error. statmount answers for the one mount in microseconds; the mount table, read
 * whole, costs tens of microseconds and grows with the host's mounts: it is read only
 * where statmount cannot answer. */
static int mount_is_shared(int fd, uint64_t mnt_id, char *where, size_t wn, struct nvc_error *err)
{
    struct mi_entry e;
    int r = exec_mount_shared(fd, mnt_id, where, wn);

    if (r >= 0)
        return r;
    r = mi_lookup(mnt_id, &e);

    if (r < 0)
        return nvc_error_sys(err, "open", "/proc/self/mountinfo", "cannot read the container's mount table");
    if (r == 0)
        return nvc_error_set(err, NVC_ERR_MOUNT, 0, "mountinfo", NULL,
                             "mount %" PRIu64 " is not in the container's mount table", mnt_id);
    snprintf(where, wn, "%.250s", e.mountpoint); /* for messages only */
    return e.shared;
}

/* An fd on the root of the mount that holds at_fd. */
static int mount_root_fd(int at_fd, int at_parent, const struct exec_fdinfo *at, const char *target,
                         struct nvc_error *err)
{
    int cur;

    if (at->mount_root || at_parent < 0)
        cur = fcntl(at_fd, F_DUPFD_CLOEXEC, 0);
    else
        cur = fcntl(at_parent, F_DUPFD_CLOEXEC, 0);
    if (cur < 0)
        return nvc_error_sys(err, "dup", target, "cannot find the mount holding %s", target);
    for (int i = 0; i < MAX_CLIMB; i++) {
        struct exec_fdinfo info;
        int up;

        if (exec_fd_info(cur, -1, &info) < 0) {
            nvc_error_sys(err, "statx", target, "cannot find the mount holding %s", target);
            break;
        }
        if (info.mnt_id != at->mnt_id) {
            nvc_error_set(err, NVC_ERR_MOUNT, 0, "statx", target,
                          "the mount holding %s changed while it was being looked up", target);
            break;
        }
        if (info.mount_root)
            return cur;
        up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        close(cur);
        cur = up;
        if (cur < 0)
            return nvc_error_sys(err, "openat", target, "cannot find the mount holding %s", target);
    }
    close(cur);
    return -1;
}

static int push_guard(struct exec_ctx *ctx, uint64_t id, int root_fd, int saved_fd, const char *where,
                      struct nvc_error *err)
{
    struct exec_guard *g;
    if (ctx->nguards == ctx->capguards) {
        size_t want = ctx->capguards ? ctx->capguards * 2 : 8;
        g = realloc(ctx->guards, want * sizeof(*g));
        if (g == NULL) {
            errno = ENOMEM;
            return nvc_error_sys(err, "guard", NULL, "out of memory");
        }
        ctx->guards = g;
        ctx->capguards = want;
    }
    g = &ctx->guards[ctx->nguards++];
    g->mnt_id = id;
    g->root_fd = root_fd;
    g->saved_fd = saved_fd;
    snprintf(g->where, sizeof(g->where), "%s", where);
    return 0;
}

int guard_mount_point(struct exec_ctx *ctx, int at_fd, int at_parent, const char *target, struct exec_fdinfo *info,
                      struct nvc_error *err)
{
    struct exec_fdinfo at, *at_info = info ? info : &at;
    char where[256] = "?";
    int shared, root, saved;

    if (exec_fd_info(at_fd, at_parent, at_info) < 0)
        return nvc_error_sys(err, "statx", target, "cannot find the mount holding %s", target);
    at = *at_info;
    for (size_t i = 0; i < ctx->nguards; i++) {
        if (ctx->guards[i].mnt_id == at.mnt_id)
            return 0;
    }
    shared = mount_is_shared(at_fd, at.mnt_id, where, sizeof(where), err);
    if (shared < 0)
        return -1;
    if (!shared) /* remembered, so the mount table is read once per mount */
        return push_guard(ctx, at.mnt_id, -1, -1, where, err);
    if (ctx->legacy)
        return nvc_error_set(err, NVC_ERR_MOUNT, 0, "propagation", target,
                             "%s lies on the shared mount %s: a mount there would propagate out of the container's "
                             "namespace, and without the mount API (Linux 5.15) this cannot be prevented and undone; "
                             "make the container's rootfs rslave or rprivate",
                             target, where);
    root = mount_root_fd(at_fd, at_parent, &at, target, err);
    if (root < 0)
        return -1;
    saved = sys_open_tree(root, "", EXEC_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
    if (saved < 0 || sys_mount_setattr(saved, "", AT_EMPTY_PATH, 0, 0, MS_PRIVATE) < 0 ||
        sys_move_mount(root, "", saved, "",
                       EXEC_MOVE_MOUNT_SET_GROUP | EXEC_MOVE_MOUNT_F_EMPTY_PATH | EXEC_MOVE_MOUNT_T_EMPTY_PATH) < 0) {
        int e = errno;
        if (saved >= 0)
            close(saved);
        close(root);
        return nvc_error_set(err, NVC_ERR_MOUNT, e, "propagation", target,
                             "%s lies on the shared mount %s and its peer group cannot be saved (%s); make the "
                             "container's rootfs rslave or rprivate",
                             target, where, strerror(e));
    }
    if (push_guard(ctx, at.mnt_id, root, saved, where, err) < 0) {
        close(saved);
        close(root);
        return -1;
    }
    if (sys_mount_setattr(root, "", AT_EMPTY_PATH, 0, 0, MS_PRIVATE) < 0) {
        ctx->nguards--;
        close(saved);
        close(root);
        return nvc_error_set(err, NVC_ERR_MOUNT, errno, "mount_setattr", target,
                             "cannot make the shared mount %s private while mounting %s: %s", where, target,
                             strerror(errno));
    }
    return 0;
}

int guard_release_all(struct exec_ctx *ctx, struct nvc_error *err)
{
    int rc = 0;

    for (size_t i = ctx->nguards; i-- > 0;) {
        struct exec_guard *g = &ctx->guards[i];
        if (g->root_fd >= 0) {
            if (sys_move_mount(g->saved_fd, "", g->root_fd, "",
                               EXEC_MOVE_MOUNT_SET_GROUP | EXEC_MOVE_MOUNT_F_EMPTY_PATH |
                                   EXEC_MOVE_MOUNT_T_EMPTY_PATH) < 0 &&
                rc == 0) {
                rc = nvc_error_set(err, NVC_ERR_MOUNT, errno, "move_mount", g->where,
                                   "cannot give the mount %s its peer group back: %s", g->where, strerror(errno));
            }
            close(g->saved_fd);
            close(g->root_fd);
        }
    }
    ctx->nguards = 0;
    return rc;
}
