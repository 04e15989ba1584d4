/* The undo log: every change the plan makes is recorded, through fds, the moment it
 * is made, and a failure undoes them all in reverse before the error is reported.
 * Room is reserved before each change, so recording one can never fail after the
 * fact. Undoing never goes by path: a mount is detached through an fd on its own root,
 * a created entry is removed from its parent fd only if it is still the same inode. */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sysmount.h"

int undo_reserve(struct exec_ctx *ctx, size_t n, struct nvc_error *err)
{
    size_t want;
    struct undo *u;

    if (ctx->nundo + n <= ctx->capundo)
        return 0;
    want = ctx->capundo ? ctx->capundo * 2 : 64;
    while (want < ctx->nundo + n)
        want *= 2;
    u = realloc(ctx->undo, want * sizeof(*u));
    if (u == NULL) {
        errno = ENOMEM;
        return nvc_error_sys(err, "undo", NULL, "cannot grow the undo log");
    }
    ctx->undo = u;
    ctx->capundo = want;
    return 0;
}

static struct undo *push(struct exec_ctx *ctx, enum undo_kind kind, int fd, const char *target)
{
    struct undo *u = &ctx->undo[ctx->nundo++];
    memset(u, 0, sizeof(*u));
    u->kind = kind;
    u->fd = fd;
    u->at_fd = -1;
    u->at_parent = -1;
    snprintf(u->target, sizeof(u->target), "%s", target ? target : "");
    return u;
}

void undo_push_created(struct exec_ctx *ctx, int parent_fd, const char *name, dev_t dev, ino_t ino, int is_dir,
                       const char *target)
{
    struct undo *u = push(ctx, UNDO_CREATED, parent_fd, target);
    snprintf(u->name, sizeof(u->name), "%s", name);
    u->dev = dev;
    u->ino = ino;
    u->is_dir = is_dir;
}

void undo_push_mount(struct exec_ctx *ctx, int mnt_fd, int at_fd, int at_parent, const char *target)
{
    struct undo *u = push(ctx, UNDO_MOUNT, mnt_fd, target);
    u->at_fd = at_fd;
    u->at_parent = at_parent;
}

void undo_push_flags(struct exec_ctx *ctx, int mnt_fd, unsigned added, unsigned long prev_ms, const char *target)
{
    struct undo *u = push(ctx, UNDO_FLAGS, mnt_fd, target);
    u->added = added;
    u->prev_ms = prev_ms;
}

static int undo_created(const struct undo *u, char *why, size_t n)
{
    struct stat st;

    if (fstatat(u->fd, u->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0; /* already gone */
        snprintf(why, n, "cannot check %.400s before removing it: %s", u->target, strerror(errno));
        return -1;
    }
    if (st.st_dev != u->dev || st.st_ino != u->ino) {
        snprintf(why, n, "%.400s was replaced by something else; left alone", u->target);
        return -1;
    }
    if (unlinkat(u->fd, u->name, u->is_dir ? AT_REMOVEDIR : 0) < 0) {
        snprintf(why, n, "cannot remove %.400s: %s", u->target, strerror(errno));
        return -1;
    }
    return 0;
}

static int undo_mount(struct exec_ctx *ctx, const struct undo *u, char *why, size_t n)
{
    struct nvc_error e;
    char path[32];

    /* Unmounting below a shared mount propagates too (it can take peers' mounts at the
     * same place with it): guard the parent as when mounting. */
    if (guard_mount_point(ctx, u->at_fd, u->at_parent, u->target, &e) < 0) {
        snprintf(why, n, "cannot unmount %.300s safely: %.250s", u->target, e.msg);
        return -1;
    }
    /* The fd is the mount's own root: the magic link names exactly this mount, even if
     * something else was mounted on top of it since. */
    if (umount2(exec_fd_path(path, sizeof(path), u->fd), MNT_DETACH) < 0) {
        snprintf(why, n, "cannot unmount %.400s: %s", u->target, strerror(errno));
        return -1;
    }
    return 0;
}

static int undo_flags(const struct exec_ctx *ctx, const struct undo *u, char *why, size_t n)
{
    char path[32];
    int r;

    if (ctx->legacy)
        r = mount(NULL, exec_fd_path(path, sizeof(path), u->fd), NULL, MS_BIND | MS_REMOUNT | u->prev_ms, NULL);
    else
        r = sys_mount_setattr(u->fd, "", AT_EMPTY_PATH, 0, exec_flags_to_attr(u->added), 0);
    if (r < 0) {
        snprintf(why, n, "cannot restore the flags of %.400s: %s", u->target, strerror(errno));
        return -1;
    }
    return 0;
}

static void close_entry(struct undo *u)
{
    if (u->fd >= 0)
        close(u->fd);
    if (u->at_fd >= 0)
        close(u->at_fd);
    if (u->at_parent >= 0)
        close(u->at_parent);
    u->fd = u->at_fd = u->at_parent = -1;
}

void exec_rollback(struct exec_ctx *ctx, struct nvc_error *err)
{
    char first[600] = "", why[600];
    int failures = 0;
    struct nvc_error e;

    for (size_t i = ctx->nundo; i-- > 0;) {
        struct undo *u = &ctx->undo[i];
        int r = 0;

        why[0] = '\0';
        switch (u->kind) {
        case UNDO_CREATED: r = undo_created(u, why, sizeof(why)); break;
        case UNDO_MOUNT: r = undo_mount(ctx, u, why, sizeof(why)); break;
        case UNDO_FLAGS: r = undo_flags(ctx, u, why, sizeof(why)); break;
        }
        if (r < 0 && failures++ == 0)
            memcpy(first, why, sizeof(first));
        close_entry(u);
    }
    ctx->nundo = 0;
    if (guard_release_all(ctx, &e) < 0 && failures++ == 0)
        snprintf(first, sizeof(first), "%.590s", e.msg);
    if (failures > 0) {
        char old[sizeof(err->msg)];
        memcpy(old, err->msg, sizeof(old));
        /* The container is now in neither state: say so in the code, keep the cause. */
        err->code = NVC_ERR_ROLLBACK;
        snprintf(err->msg, sizeof(err->msg), "%.480s; undoing the plan failed too (%d step%s), first: %.440s", old,
                 failures, failures == 1 ? "" : "s", first);
    }
}

void undo_forget(struct exec_ctx *ctx)
{
    for (size_t i = 0; i < ctx->nundo; i++)
        close_entry(&ctx->undo[i]);
    ctx->nundo = 0;
}
