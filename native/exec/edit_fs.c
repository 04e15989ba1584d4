/* The edits that only create files: WRITE, SYMLINK. Each creates its entry
 * with an *at() call in a parent fd resolved inside the rootfs, with O_EXCL or its
 * equivalent, and records it for undoing before doing anything else with it. */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"
#include "sysmount.h"

static int in_plan_tmpfs(const struct exec_ctx *ctx, int fd, uint64_t *id)
{
    struct exec_fdinfo info;
    if (exec_fd_info(fd, -1, &info) < 0)
        return -1;
    *id = info.mnt_id;
    for (size_t k = 0; k < ctx->ntmpfs; k++) {
        if (ctx->tmpfs_ids[k] == info.mnt_id)
            return 1;
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR && !exec_cancelled)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int exec_edit_write(struct exec_ctx *ctx, size_t i, struct nvc_error *err)
{
    const struct nvc_edit *e = &ctx->plan->edits[i];
    const char *name = NULL;
    struct stat st;
    uint64_t btime;
    uint64_t id = 0;
    int parent, fd, pdup, inside;

    parent = exec_open_parent(ctx, e->target, &name, err);
    if (parent < 0)
        return -1;
    /* Only into a tmpfs this plan mounted: never into the image's own files. */
    inside = in_plan_tmpfs(ctx, parent, &id);
    if (inside <= 0) {
        close(parent);
        if (inside < 0)
            return nvc_error_sys(err, "statx", e->target, "cannot identify the mount holding %s", e->target);
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "write", e->target,
                             "%s is not inside a tmpfs mounted by this plan; writes go only there", e->target);
    }
    if (undo_reserve(ctx, 1, err) < 0) {
        close(parent);
        return -1;
    }
    /* The undo entry's fd is taken before the file exists, so that nothing can fail
     * between creating it and recording it. */
    pdup = fcntl(parent, F_DUPFD_CLOEXEC, 0);
    close(parent);
    if (pdup < 0)
        return nvc_error_sys(err, "fcntl", e->target, "cannot keep the directory of %s for undoing", e->target);
    fd = openat(pdup, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int en = errno;
        close(pdup);
        if (en == EEXIST)
            return nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "openat", e->target,
                                 "%s already exists (written twice by the plan?)", e->target);
        errno = en;
        return nvc_error_sys(err, "openat", e->target, "cannot create %s", e->target);
    }
    if (exec_stat_new(fd, &st, &btime) < 0) {
        nvc_error_sys(err, "fstat", e->target, "cannot record %s for undoing", e->target);
        unlinkat(pdup, name, 0);
        close(pdup);
        close(fd);
        return -1;
    }
    undo_push_created(ctx, pdup, name, &st, btime, e->target);
    /* Owner before mode: chown clears set-id bits, and the mode is what the plan says. */
    if (write_all(fd, e->data, e->data_len) < 0) {
        nvc_error_sys(err, "write", e->target, "cannot write %s", e->target);
        goto fail;
    }
    if (fchown(fd, ctx->plan->uid, ctx->plan->gid) < 0 || fchmod(fd, (mode_t)e->mode) < 0) {
        nvc_error_sys(err, "fchown", e->target, "cannot set the owner and mode of %s", e->target);
        goto fail;
    }
    if (exec_check_in_root(ctx, fd, e->target, err) < 0)
        goto fail;
    close(fd);
    ctx->outcomes[i] = NVC_OUTCOME_DONE;
    return 0;
fail:
    close(fd);
    return -1;
}

int exec_edit_symlink(struct exec_ctx *ctx, size_t i, struct nvc_error *err)
{
    const struct nvc_edit *e = &ctx->plan->edits[i];
    const char *name = NULL;
    char have[PATH_MAX];
    struct stat st;
    uint64_t btime;
    ssize_t n;
    int parent, fd, pdup, seen;

    parent = exec_open_parent(ctx, e->target, &name, err);
    if (parent < 0)
        return -1;
    /* Everything needed to record the link is obtained first, so that once it exists
     * nothing but a race can keep it out of the undo log. */
    pdup = fcntl(parent, F_DUPFD_CLOEXEC, 0);
    if (pdup < 0) {
        nvc_error_sys(err, "dup", e->target, "cannot keep a handle for undoing %s", e->target);
        goto fail_parent;
    }
    if (undo_reserve(ctx, 1, err) < 0)
        goto fail_dup;
    if (symlinkat(e->link, parent, name) < 0) {
        if (errno != EEXIST) {
            nvc_error_sys(err, "symlinkat", e->target, "cannot create the symlink %s", e->target);
            goto fail_dup;
        }
        n = readlinkat(parent, name, have, sizeof(have));
        if (n < 0 && errno == EINVAL) {
            nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "symlinkat", e->target,
                          "%s exists and is not a symlink; remove it from the image", e->target);
            goto fail_dup;
        }
        if (n < 0) {
            nvc_error_sys(err, "readlinkat", e->target, "cannot read the existing %s", e->target);
            goto fail_dup;
        }
        if ((size_t)n == strlen(e->link) && memcmp(have, e->link, (size_t)n) == 0) {
            close(pdup);
            close(parent);
            ctx->outcomes[i] = NVC_OUTCOME_SKIPPED;
            return 0;
        }
        nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "symlinkat", e->target,
                      "%s exists and points to \"%.*s\", not \"%s\"; remove it from the image", e->target,
                      (int)((size_t)n < 512 ? (size_t)n : 512), have, e->link);
        goto fail_dup;
    }
    /* The link's own fd: chown through it changes the link, never its target. */
    fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    seen = fd >= 0 && exec_stat_new(fd, &st, &btime) == 0;
    if (!seen || !S_ISLNK(st.st_mode)) {
        nvc_error_sys(err, "openat", e->target, "the symlink %s changed right after it was created", e->target);
        if (fd >= 0)
            close(fd);
        /* Unseen, the link is ours and not in the undo log yet: not left behind (unlinkat
         * without AT_REMOVEDIR never removes a directory that took its name). What is seen
         * in its place and is no link is not ours: left alone. */
        if (!seen)
            unlinkat(parent, name, 0);
        goto fail_dup;
    }
    close(parent);
    undo_push_created(ctx, pdup, name, &st, btime, e->target);
    if (exec_chown_fd(ctx, fd, &st, e->target, err) < 0 || exec_check_in_root(ctx, fd, e->target, err) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    ctx->outcomes[i] = NVC_OUTCOME_DONE;
    return 0;
fail_dup:
    close(pdup);
fail_parent:
    close(parent);
    return -1;
}
