/* Container paths to fds. Every lookup goes through nvc_path_open_in_root on the rootfs
 * fd (symlinks followed as if the rootfs were "/", /proc magic links refused), every
 * creation happens with *at() calls in a directory fd obtained that way, and every
 * result is checked afterwards to still lie under the rootfs: a directory renamed out
 * of it between lookup and use is caught there. */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

/* How often a lookup that met a concurrently changing name is retried. */
#define RESOLVE_RETRIES 4

int exec_check_in_root(struct exec_ctx *ctx, int fd, const char *target, struct nvc_error *err)
{
    char rel[PATH_MAX];
    return nvc_path_fd_in_root(ctx->rootfd, ctx->plan->rootfs, fd, target, rel, sizeof(rel), err);
}

int exec_chown_fd(struct exec_ctx *ctx, int fd, const char *target, struct nvc_error *err)
{
    /* AT_EMPTY_PATH works on O_PATH fds, and on a symlink's own fd changes the link. */
    if (fchownat(fd, "", ctx->plan->uid, ctx->plan->gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        return nvc_error_sys(err, "fchownat", target, "cannot give %s to %u:%u", target, (unsigned)ctx->plan->uid,
                             (unsigned)ctx->plan->gid);
    return 0;
}

int exec_mkdir_at(struct exec_ctx *ctx, int parent, const char *name, unsigned mode, const char *target,
                  struct nvc_error *err)
{
    struct stat st;
    int fd, pdup;

    if (undo_reserve(ctx, 1, err) < 0)
        return -1;
    if (mkdirat(parent, name, (mode_t)mode) < 0) {
        if (errno == EEXIST)
            return -2;
        return nvc_error_sys(err, "mkdirat", target, "cannot create directory %s", target);
    }
    /* O_NOFOLLOW|O_DIRECTORY: if the new directory was swapped for a link meanwhile,
     * fail rather than follow it. */
    fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        /* Not left behind: it is not in the undo log yet (AT_REMOVEDIR: only while empty,
         * so nothing with content that may have taken its name goes). */
        unlinkat(parent, name, AT_REMOVEDIR);
        errno = e;
        return nvc_error_sys(err, "openat", target, "directory %s changed right after it was created", target);
    }
    pdup = fcntl(parent, F_DUPFD_CLOEXEC, 0);
    if (pdup < 0) {
        close(fd);
        unlinkat(parent, name, AT_REMOVEDIR);
        return nvc_error_sys(err, "dup", target, "cannot keep a handle for undoing %s", target);
    }
    undo_push_created(ctx, pdup, name, fd, &st, target);
    if (exec_chown_fd(ctx, fd, target, err) < 0 || exec_check_in_root(ctx, fd, target, err) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One directory component: resolve prefix (the target up to and including it) from
 * the root; when missing, create it in cur, the directory of the previous prefix. */
static int step(struct exec_ctx *ctx, int cur, const char *prefix, const char *comp, struct nvc_error *err)
{
    for (int attempt = 0; attempt < RESOLVE_RETRIES; attempt++) {
        struct nvc_error e;
        int fd = nvc_path_open_in_root(ctx->rootfd, prefix, O_PATH | O_DIRECTORY, &e);
        if (fd >= 0)
            return fd;
        if (e.sys_errno == ENOTDIR)
            return nvc_error_set(err, NVC_ERR_FILE_EXISTS, ENOTDIR, "open", prefix,
                                 "%s exists and is not a directory (or resolves to one inside the rootfs)", prefix);
        if (e.sys_errno != ENOENT) {
            *err = e;
            nvc_error_wrap(err, "resolving %s inside the rootfs", prefix);
            return -1;
        }
        fd = exec_mkdir_at(ctx, cur, comp, 0755, prefix, err);
        if (fd >= 0)
            return fd;
        if (fd != -2)
            return -1;
        /* Something appeared meanwhile, or the name is a symlink whose target does not
         * exist: look again, and give up if it stays unresolvable. */
    }
    return nvc_error_set(err, NVC_ERR_FILE_EXISTS, ENOENT, "open", prefix,
                         "%s exists but does not resolve inside the rootfs (a dangling symlink?); the image must "
                         "not ship it",
                         prefix);
}

int exec_open_parent(struct exec_ctx *ctx, const char *target, const char **name, struct nvc_error *err)
{
    char prefix[PATH_MAX];
    const char *last = strrchr(target, '/'); /* targets are normalised: never NULL, never trailing */
    const char *p = target;
    int cur;

    cur = fcntl(ctx->rootfd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0)
        return nvc_error_sys(err, "dup", target, "cannot duplicate the rootfs fd");
    while (p < last) {
        const char *c = p + 1, *end = strchr(c, '/');
        char comp[NAME_MAX + 1];
        size_t cl = (size_t)(end - c);
        int next;

        memcpy(comp, c, cl);
        comp[cl] = '\0';
        memcpy(prefix, target, (size_t)(end - target));
        prefix[end - target] = '\0';
        next = step(ctx, cur, prefix, comp, err);
        close(cur);
        if (next < 0)
            return -1;
        cur = next;
        p = end;
    }
    if (exec_check_in_root(ctx, cur, target, err) < 0) {
        close(cur);
        return -1;
    }
    *name = last + 1;
    return cur;
}
