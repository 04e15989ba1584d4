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

#include "plan_codec.h"
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
    /* Copied: a missing parent's path lives in the resolver's stack buffer. Failing to copy
     * fails only the change report (undo_report), never the recording. */
    u->path = strdup(target);
    u->target = u->path != NULL ? u->path : "(a path)";
    return u;
}

void undo_push_created(struct exec_ctx *ctx, int parent_fd, const char *name, const struct stat *st, uint64_t btime,
                       const char *target)
{
    struct undo *u = push(ctx, UNDO_CREATED, parent_fd, target);
    snprintf(u->name, sizeof(u->name), "%s", name);
    u->dev = st->st_dev;
    u->ino = st->st_ino;
    u->mode = st->st_mode;
    u->btime = btime;
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
    if (unlinkat(u->fd, u->name, S_ISDIR(u->mode) ? AT_REMOVEDIR : 0) < 0) {
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
    if (guard_mount_point(ctx, u->at_fd, u->at_parent, u->target, NULL, &e) < 0) {
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
    free(u->path);
    u->path = NULL;
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

static enum nvc_change_kind created_kind(mode_t m)
{
    if (S_ISDIR(m))
        return NVC_CHANGE_DIR;
    if (S_ISLNK(m))
        return NVC_CHANGE_SYMLINK;
    return NVC_CHANGE_FILE;
}

int undo_report(struct exec_ctx *ctx, struct nvc_change **changes, size_t *n, struct nvc_error *err)
{
    struct nvc_change *c = calloc(ctx->nundo ? ctx->nundo : 1, sizeof(*c));

    *changes = NULL;
    *n = 0;
    if (c == NULL) {
        errno = ENOMEM;
        return nvc_error_sys(err, "report", NULL, "cannot report the changes");
    }
    for (size_t i = 0; i < ctx->nundo; i++) {
        const struct undo *u = &ctx->undo[i];
        struct exec_fdinfo info;

        c[i].path = u->path != NULL ? strdup(u->path) : NULL;
        if (c[i].path == NULL) {
            errno = ENOMEM;
            nvc_error_sys(err, "report", u->target, "cannot report the changes");
            goto fail;
        }
        if (u->kind == UNDO_CREATED) {
            c[i].kind = created_kind(u->mode);
            c[i].dev = (uint64_t)u->dev;
            c[i].ino = (uint64_t)u->ino;
            c[i].btime = u->btime;
            continue;
        }
        /* A mount: its identity as teardown will see it, through the fd on its root. */
        if (exec_fd_info(u->fd, -1, &info) < 0) {
            nvc_error_sys(err, "statx", u->target, "cannot identify the mount at %s for the change report", u->target);
            goto fail;
        }
        c[i].kind = u->kind == UNDO_MOUNT ? NVC_CHANGE_MOUNT : NVC_CHANGE_FLAGS;
        c[i].mnt_id = info.mnt_id;
        if (exec_mnt_unique(u->fd, &c[i].mnt_unique) < 0)
            c[i].mnt_unique = 0;
        if (u->kind == UNDO_MOUNT) {
            c[i].dev = (uint64_t)info.dev;
            c[i].ino = (uint64_t)info.ino;
        } else {
            c[i].flags = u->added;
        }
    }
    *changes = c;
    *n = ctx->nundo;
    return 0;
fail:
    nvc_changes_free(c, ctx->nundo);
    return -1;
}
