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
#include "sysmount.h"

/* How often a lookup that met a concurrently changing name is retried. */
#define RESOLVE_RETRIES 4

#define DELETED " (deleted)"

static void remember_root_path(struct exec_ctx *ctx)
{
    char link[32];
    ssize_t n = readlink(exec_fd_path(link, sizeof(link), ctx->rootfd), ctx->root_path, sizeof(ctx->root_path) - 1);

    /* "/" strips nothing and is refused anyway; a name that does not fit is not kept. */
    ctx->root_len = n > 1 && (size_t)n < sizeof(ctx->root_path) - 1 ? (size_t)n : 0;
    ctx->root_path[ctx->root_len] = '\0';
}

/* Checked once or more per edit, so the root's own name is read once and kept: only the
 * name of fd is read each time. Keeping it is safe because a stale root name can only
 * fail the fast check (the root moved, so names under it changed too), never pass it
 * wrongly: for fd to lie under the old name, something would have to be made there on
 * the host after the rootfs left it, which the container's processes cannot do (the
 * rootfs is their "/"). A failed fast check takes the full one, which reads the root's
 * name afresh and decides. */
int exec_check_in_root(struct exec_ctx *ctx, int fd, const char *target, struct nvc_error *err)
{
    char rel[PATH_MAX], p[PATH_MAX], link[32];
    ssize_t n;

    if (ctx->root_len > 0) {
        n = readlink(exec_fd_path(link, sizeof(link), fd), p, sizeof(p) - 1);
        if (n > 0 && (size_t)n < sizeof(p) - 1) {
            p[n] = '\0';
            /* The kernel names an unlinked entry "... (deleted)": only such a name needs
             * the link count looked at (the full check tells it from a file so named). */
            if (strncmp(p, ctx->root_path, ctx->root_len) == 0 &&
                (p[ctx->root_len] == '/' || p[ctx->root_len] == '\0') &&
                ((size_t)n < sizeof(DELETED) || strcmp(p + n - (sizeof(DELETED) - 1), DELETED) != 0))
                return 0;
        }
    }
    if (nvc_path_fd_in_root(ctx->rootfd, ctx->plan->rootfs, fd, target, rel, sizeof(rel), err) < 0)
        return -1;
    remember_root_path(ctx);
    return 0;
}

int exec_chown_fd(struct exec_ctx *ctx, int fd, const struct stat *st, const char *target, struct nvc_error *err)
{
    /* A new entry has no set-id bits for chown to clear, so skipping a chown to the owner
     * it already has changes nothing. */
    if (st->st_uid == ctx->plan->uid && st->st_gid == ctx->plan->gid)
        return 0;
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
    uint64_t btime;
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
    if (fd < 0 || exec_stat_new(fd, &st, &btime) < 0) {
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
    undo_push_created(ctx, pdup, name, &st, btime, target);
    if (exec_chown_fd(ctx, fd, &st, target, err) < 0 || exec_check_in_root(ctx, fd, target, err) < 0) {
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

/* Parents are cached because plans put many entries into few directories (the library
 * directory, /usr/bin, /dev): resolving the whole prefix from the root again for each
 * one was most of an edit's lookups. A cached fd is the directory the prefix named when
 * it was resolved, so a hit is checked under the rootfs again like a fresh lookup would
 * be; what a hit does not see is a rename or a symlink swap of the prefix meanwhile,
 * which only the container's own processes could do inside their own rootfs, and
 * whose result (the entry lands where the directory is now, under the rootfs) a fresh
 * lookup racing the same swap could give too. A mount over a cached directory would
 * hide it: the mount edits forget what lies at or below their target. */
static int cached_dir(struct exec_ctx *ctx, const char *parent, size_t len)
{
    for (size_t i = 0; i < EXEC_DIR_CACHE; i++) {
        const struct exec_dir_cache *d = &ctx->dirs[i];
        if (d->path[0] != '\0' && strncmp(d->path, parent, len) == 0 && d->path[len] == '\0')
            return fcntl(d->fd, F_DUPFD_CLOEXEC, 0);
    }
    return -1;
}

static void remember_dir(struct exec_ctx *ctx, const char *parent, size_t len, int fd)
{
    struct exec_dir_cache *d = &ctx->dirs[ctx->next_dir];
    int keep;

    if (len == 0 || len >= sizeof(d->path))
        return;
    keep = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (keep < 0)
        return; /* only a cache */
    if (d->path[0] != '\0')
        close(d->fd);
    memcpy(d->path, parent, len);
    d->path[len] = '\0';
    d->fd = keep;
    ctx->next_dir = (ctx->next_dir + 1) % EXEC_DIR_CACHE;
}

void exec_forget_dirs_under(struct exec_ctx *ctx, const char *target)
{
    size_t tl = strlen(target);

    for (size_t i = 0; i < EXEC_DIR_CACHE; i++) {
        struct exec_dir_cache *d = &ctx->dirs[i];
        if (d->path[0] != '\0' && strncmp(d->path, target, tl) == 0 && (d->path[tl] == '\0' || d->path[tl] == '/')) {
            close(d->fd);
            d->path[0] = '\0';
        }
    }
}

int exec_open_parent(struct exec_ctx *ctx, const char *target, const char **name, struct nvc_error *err)
{
    char prefix[PATH_MAX];
    const char *last = strrchr(target, '/'); /* targets are normalised: never NULL, never trailing */
    const char *p = target;
    size_t plen = (size_t)(last - target);
    int cur;

    cur = cached_dir(ctx, target, plen);
    if (cur >= 0) {
        if (exec_check_in_root(ctx, cur, target, err) < 0) {
            close(cur);
            return -1;
        }
        *name = last + 1;
        return cur;
    }
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
    remember_dir(ctx, target, plen, cur);
    *name = last + 1;
    return cur;
}
