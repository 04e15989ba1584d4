/* Teardown: undo what one configure reported (its change list), later and in another
 * process than the one that made the changes, so nothing is known by fd any more: every
 * change is found again by its container path, resolved inside the rootfs, and undone only
 * if what is there now is still what was recorded (the mount's ids and root, the entry's
 * dev/ino and type). Anything else was changed by someone else since, and is left alone
 * and reported; that is not an error, and it makes a second teardown a no-op. Reverse
 * order: mounts made inside a tmpfs go before the tmpfs, entries after the mounts on them,
 * directories after their contents. */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mountinfo.h"
#include "path.h"
#include "sysmount.h"

static void report(struct nvc_undo_report *r, enum nvc_undo_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct nvc_undo_report *r, enum nvc_undo_status status, const char *fmt, ...)
{
    va_list ap;
    r->status = status;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof(r->why), fmt, ap);
    va_end(ap);
}

/* The directory holding path's last component, resolved inside the rootfs and checked to
 * be there still. -1 with *en (the errno of the lookup) when it cannot be opened. */
static int open_dir_of(struct exec_ctx *ctx, const char *path, const char **name, int *en)
{
    char dir[PATH_MAX];
    const char *last = strrchr(path, '/');
    struct nvc_error e;
    size_t dl = (size_t)(last - path);
    int fd;

    memcpy(dir, path, dl);
    dir[dl] = '\0';
    *name = last + 1;
    fd = nvc_path_open_in_root(ctx->rootfd, dl == 0 ? "/" : dir, O_PATH | O_DIRECTORY, &e);
    if (fd < 0) {
        *en = e.sys_errno ? e.sys_errno : EINVAL;
        return -1;
    }
    if (exec_check_in_root(ctx, fd, path, &e) < 0) {
        close(fd);
        *en = EXDEV;
        return -1;
    }
    return fd;
}

/* The mount a change recorded, if the thing at its path is still exactly that mount:
 * 1 with *fd on its root, 0 not there (status filled), -1 left alone (status filled). */
static int find_mount(struct exec_ctx *ctx, const struct nvc_change *c, int *fd, struct exec_fdinfo *info,
                      struct nvc_undo_report *r)
{
    struct nvc_error e;
    uint64_t unique = 0;

    *fd = nvc_path_open_in_root(ctx->rootfd, c->path, O_PATH | O_NOFOLLOW, &e);
    if (*fd < 0) {
        if (e.sys_errno == ENOENT || e.sys_errno == ENOTDIR) {
            report(r, NVC_UNDO_ABSENT, "nothing is at %s any more", c->path);
            return 0;
        }
        report(r, NVC_UNDO_KEPT, "cannot look up %s: %.180s", c->path, e.msg);
        return -1;
    }
    if (exec_fd_info(*fd, -1, info) < 0) {
        report(r, NVC_UNDO_KEPT, "cannot inspect %s: %s", c->path, strerror(errno));
        goto out;
    }
    if (!info->mount_root) {
        report(r, NVC_UNDO_ABSENT, "%s is no longer a mount point", c->path);
        close(*fd);
        return 0;
    }
    if ((c->mnt_unique != 0 && (exec_mnt_unique(*fd, &unique) < 0 || unique != c->mnt_unique)) ||
        info->mnt_id != c->mnt_id || (c->kind == NVC_CHANGE_MOUNT && (info->dev != c->dev || info->ino != c->ino))) {
        report(r, NVC_UNDO_KEPT, "the mount at %s is not the one configure made (replaced or covered); left alone",
               c->path);
        goto out;
    }
    if (exec_check_in_root(ctx, *fd, c->path, &e) < 0) {
        report(r, NVC_UNDO_KEPT, "%s does not lie under the rootfs any more; left alone", c->path);
        goto out;
    }
    return 1;
out:
    close(*fd);
    *fd = -1;
    return -1;
}

/* Unmounting below a shared mount propagates to its peers, as mounting does: guard the
 * mount that holds this one, as configure did. */
static int guard_parent(struct exec_ctx *ctx, const struct nvc_change *c, uint64_t id, struct nvc_undo_report *r)
{
    struct mi_entry *me = malloc(sizeof(*me));
    struct exec_fdinfo pinfo;
    struct nvc_error e;
    const char *name;
    uint64_t parent;
    int shared, dir, en = 0, rc = -1;

    if (me == NULL) {
        report(r, NVC_UNDO_KEPT, "out of memory");
        return -1;
    }
    if (mi_lookup(id, me) <= 0) {
        report(r, NVC_UNDO_KEPT, "the mount at %s is not in the container's mount table", c->path);
        goto out;
    }
    parent = me->parent;
    if (mi_lookup(parent, me) <= 0) {
        report(r, NVC_UNDO_KEPT, "the mount holding %s is not in the container's mount table", c->path);
        goto out;
    }
    shared = me->shared;
    if (!shared) {
        rc = 0;
        goto out;
    }
    dir = open_dir_of(ctx, c->path, &name, &en);
    if (dir < 0) {
        report(r, NVC_UNDO_KEPT, "cannot open the directory of %s: %s", c->path, strerror(en));
        goto out;
    }
    if (exec_fd_info(dir, -1, &pinfo) < 0 || pinfo.mnt_id != parent) {
        report(r, NVC_UNDO_KEPT,
               "%s lies on a shared mount that cannot be reached to keep the unmount in the container", c->path);
    } else if (guard_mount_point(ctx, dir, -1, c->path, NULL, &e) < 0) {
        report(r, NVC_UNDO_KEPT, "cannot unmount %s safely: %.180s", c->path, e.msg);
    } else {
        rc = 0;
    }
    close(dir);
out:
    free(me);
    return rc;
}

static void undo_mount_change(struct exec_ctx *ctx, const struct nvc_change *c, struct nvc_undo_report *r)
{
    struct exec_fdinfo info;
    uint64_t *below = NULL;
    size_t nbelow = 0;
    char path[32];
    int fd;

    if (find_mount(ctx, c, &fd, &info, r) <= 0)
        return;
    /* Our own mounts below it went first (reverse order): anything still there is
     * someone else's, and detaching would take it along. */
    if (mi_children(info.mnt_id, &below, &nbelow) < 0) {
        report(r, NVC_UNDO_KEPT, "cannot read the container's mount table: %s", strerror(errno));
    } else if (nbelow > 0) {
        report(r, NVC_UNDO_KEPT, "%zu mount%s were made below %s since configure; left alone", nbelow,
               nbelow == 1 ? "" : "s", c->path);
    } else if (guard_parent(ctx, c, info.mnt_id, r) == 0) {
        /* The fd is the mount's own root: the magic link names exactly this mount. */
        if (umount2(exec_fd_path(path, sizeof(path), fd), MNT_DETACH) < 0)
            report(r, NVC_UNDO_KEPT, "cannot unmount %s: %s", c->path, strerror(errno));
        else
            report(r, NVC_UNDO_DONE, "unmounted");
    }
    free(below);
    close(fd);
}

static void undo_flags_change(struct exec_ctx *ctx, const struct nvc_change *c, struct nvc_undo_report *r)
{
    struct exec_fdinfo info;
    unsigned cur;
    unsigned long ms;
    char path[32];
    int fd, rc;

    if (find_mount(ctx, c, &fd, &info, r) <= 0)
        return;
    if (ctx->legacy) {
        if (exec_mount_flags_of(fd, &cur, &ms) < 0)
            rc = -1;
        else
            rc = mount(NULL, exec_fd_path(path, sizeof(path), fd), NULL,
                       MS_BIND | MS_REMOUNT | (ms & ~exec_flags_to_ms(c->flags)), NULL);
    } else {
        rc = sys_mount_setattr(fd, "", AT_EMPTY_PATH, 0, exec_flags_to_attr(c->flags), 0);
    }
    if (rc < 0)
        report(r, NVC_UNDO_KEPT, "cannot clear the flags configure added to %s: %s", c->path, strerror(errno));
    else
        report(r, NVC_UNDO_DONE, "flags cleared");
    close(fd);
}

static int kind_matches(enum nvc_change_kind k, mode_t m)
{
    switch (k) {
    case NVC_CHANGE_DIR: return S_ISDIR(m);
    case NVC_CHANGE_SYMLINK: return S_ISLNK(m);
    case NVC_CHANGE_FILE: return S_ISREG(m);
    case NVC_CHANGE_MOUNT:
    case NVC_CHANGE_FLAGS: break;
    }
    return 0;
}

static void undo_entry_change(struct exec_ctx *ctx, const struct nvc_change *c, struct nvc_undo_report *r)
{
    const char *name;
    struct stat st;
    int dir, en = 0;

    dir = open_dir_of(ctx, c->path, &name, &en);
    if (dir < 0) {
        if (en == ENOENT || en == ENOTDIR)
            report(r, NVC_UNDO_ABSENT, "the directory of %s is gone", c->path);
        else
            report(r, NVC_UNDO_KEPT, "cannot open the directory of %s inside the rootfs: %s", c->path, strerror(en));
        return;
    }
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            report(r, NVC_UNDO_ABSENT, "%s is gone", c->path);
        else
            report(r, NVC_UNDO_KEPT, "cannot inspect %s: %s", c->path, strerror(errno));
    } else if ((uint64_t)st.st_dev != c->dev || (uint64_t)st.st_ino != c->ino || !kind_matches(c->kind, st.st_mode) ||
               (c->btime != 0 && exec_btime(dir, name, 0) != c->btime)) {
        report(r, NVC_UNDO_KEPT, "%s is no longer what configure created (replaced, or covered by a mount); left alone",
               c->path);
    } else if (unlinkat(dir, name, c->kind == NVC_CHANGE_DIR ? AT_REMOVEDIR : 0) < 0) {
        if (errno == ENOENT)
            report(r, NVC_UNDO_ABSENT, "%s is gone", c->path);
        else if (errno == ENOTEMPTY || errno == EEXIST)
            report(r, NVC_UNDO_KEPT, "%s is not empty (something was put there since configure); left alone", c->path);
        else if (errno == EBUSY)
            report(r, NVC_UNDO_KEPT, "%s is a mount point; left alone", c->path);
        else
            report(r, NVC_UNDO_KEPT, "cannot remove %s: %s", c->path, strerror(errno));
    } else {
        report(r, NVC_UNDO_DONE, "removed");
    }
    close(dir);
}

int exec_teardown(struct exec_ctx *ctx, const struct nvc_teardown *req, struct nvc_undo_report *reports,
                  struct nvc_error *err)
{
    struct nvc_error e;

    if (exec_prepare(ctx, err) < 0)
        return -1;
    for (size_t i = req->nchanges; i-- > 0;) {
        const struct nvc_change *c = &req->changes[i];
        struct nvc_undo_report *r = &reports[i];

        if (exec_cancelled) {
            report(r, NVC_UNDO_KEPT, "the teardown was stopped before it got here");
            continue;
        }
        exec_test_delay(ctx);
        switch (c->kind) {
        case NVC_CHANGE_MOUNT: undo_mount_change(ctx, c, r); break;
        /* Also on a tmpfs of this configure: it was made read-only after its files were
         * written, and they are removed before it is detached. */
        case NVC_CHANGE_FLAGS: undo_flags_change(ctx, c, r); break;
        case NVC_CHANGE_FILE:
        case NVC_CHANGE_DIR:
        case NVC_CHANGE_SYMLINK: undo_entry_change(ctx, c, r); break;
        }
    }
    if (guard_release_all(ctx, &e) < 0) {
        *err = e;
        nvc_error_wrap(err, "teardown: the changes were undone but a mount's propagation could not be restored");
        return -1;
    }
    return 0;
}
