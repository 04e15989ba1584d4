/* Bind sources: opened and checked on the host, before the executor enters the
 * container, so that nothing the image controls can stand in for one. Each source is
 * opened O_PATH|O_NOFOLLOW and checked through that fd (not lstat then open: the name
 * could change in between). With the mount API the checked file is then cloned as a
 * detached mount, which pins exactly that inode until it is attached. */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sysmount.h"

const char *exec_type_name(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFLNK: return "a symlink";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    }
    return "of unknown type";
}

static int bad_source(const struct nvc_edit *e, struct nvc_error *err, const char *fmt_what, mode_t m)
{
    return nvc_error_set(err, NVC_ERR_INVALID_SOURCE, 0, "open", e->source, "source %s is %s; %s", e->source,
                         exec_type_name(m), fmt_what);
}

static int check_type(const struct nvc_edit *e, const struct stat *st, struct nvc_error *err)
{
    /* Never a symlink, whatever the kind: its target is whatever the link says at the
     * moment of mounting (the CVE-2024-0132 class). */
    if (S_ISLNK(st->st_mode))
        return bad_source(e, err, "refusing to bind a symlink (give the path it points to)", st->st_mode);
    switch (e->source_kind) {
    case NVC_SRC_FILE:
        if (!S_ISREG(st->st_mode))
            return bad_source(e, err, "expected a regular file", st->st_mode);
        break;
    case NVC_SRC_DIR:
        if (!S_ISDIR(st->st_mode))
            return bad_source(e, err, "expected a directory", st->st_mode);
        break;
    case NVC_SRC_CHAR:
        if (!S_ISCHR(st->st_mode))
            return bad_source(e, err, "expected a character device", st->st_mode);
        if (st->st_rdev != makedev(e->major, e->minor))
            return nvc_error_set(err, NVC_ERR_INVALID_SOURCE, 0, "stat", e->source,
                                 "invalid device node %s: it is %u:%u, expected %u:%u", e->source, major(st->st_rdev),
                                 minor(st->st_rdev), e->major, e->minor);
        break;
    case NVC_SRC_SOCKET:
        if (!S_ISSOCK(st->st_mode))
            return bad_source(e, err, "expected a unix socket", st->st_mode);
        break;
    case NVC_SRC_INVALID_:
    case NVC_SRC_END_: return bad_source(e, err, "unknown source kind", st->st_mode);
    }
    return 0;
}

static int open_one(struct exec_ctx *ctx, size_t i, struct nvc_error *err)
{
    const struct nvc_edit *e = &ctx->plan->edits[i];
    struct exec_source *s = &ctx->sources[i];
    struct stat st;
    int fd;

    fd = open(e->source, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return nvc_error_set(err, NVC_ERR_INVALID_SOURCE, errno, "open", e->source, "cannot open source %s: %s",
                             e->source, strerror(errno));
    if (fstat(fd, &st) < 0) {
        int en = errno;
        close(fd);
        return nvc_error_set(err, NVC_ERR_INVALID_SOURCE, en, "fstat", e->source, "cannot stat source %s: %s",
                             e->source, strerror(en));
    }
    if (check_type(e, &st, err) < 0) {
        close(fd);
        return -1;
    }
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->mode = st.st_mode;
    if (ctx->legacy) {
        s->host_fd = fd;
        return 0;
    }
    /* Not AT_RECURSIVE: like MS_BIND without MS_REC, mounts below a directory source
     * stay behind. */
    s->tree_fd = sys_open_tree(fd, "", EXEC_OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
    close(fd);
    if (s->tree_fd < 0)
        return nvc_error_set(err, NVC_ERR_MOUNT, errno, "open_tree", e->source, "cannot clone source %s: %s", e->source,
                             strerror(errno));
    /* Flags now, and private: a clone of a shared mount joins its peer group, and
     * mounts made later below a directory bind would travel back to the host. */
    if (sys_mount_setattr(s->tree_fd, "", AT_EMPTY_PATH, exec_flags_to_attr(e->flags), 0, MS_PRIVATE) < 0)
        return nvc_error_set(err, NVC_ERR_MOUNT, errno, "mount_setattr", e->source,
                             "cannot set the flags of the bind of %s: %s", e->source, strerror(errno));
    return 0;
}

int exec_sources_open(struct exec_ctx *ctx, struct nvc_error *err)
{
    for (size_t i = 0; i < ctx->plan->nedits; i++) {
        if (ctx->plan->edits[i].kind != NVC_EDIT_BIND)
            continue;
        if (open_one(ctx, i, err) < 0) {
            nvc_error_wrap(err, "edit %zu (bind %s)", i, ctx->plan->edits[i].target);
            return -1;
        }
    }
    return 0;
}

int exec_sources_reopen(struct exec_ctx *ctx, struct nvc_error *err)
{
    for (size_t i = 0; i < ctx->plan->nedits; i++) {
        const struct nvc_edit *e = &ctx->plan->edits[i];
        struct exec_source *s = &ctx->sources[i];
        struct stat st;
        int fd;

        if (e->kind != NVC_EDIT_BIND)
            continue;
        fd = open(e->source, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
            int en = errno;
            if (fd >= 0)
                close(fd);
            return nvc_error_set(
                err, NVC_ERR_INVALID_SOURCE, en, "open", e->source,
                "edit %zu (bind %s): source %s is not reachable in the container's mount namespace: %s", i, e->target,
                e->source, strerror(en));
        }
        if (st.st_dev != s->dev || st.st_ino != s->ino || (st.st_mode & S_IFMT) != (s->mode & S_IFMT)) {
            close(fd);
            return nvc_error_set(err, NVC_ERR_INVALID_SOURCE, 0, "open", e->source,
                                 "edit %zu (bind %s): source %s is a different file in the container's mount namespace",
                                 i, e->target, e->source);
        }
        close(s->host_fd);
        s->host_fd = fd;
    }
    return 0;
}

void exec_sources_close(struct exec_ctx *ctx)
{
    if (ctx->sources == NULL)
        return;
    for (size_t i = 0; i < ctx->plan->nedits; i++) {
        if (ctx->sources[i].tree_fd >= 0)
            close(ctx->sources[i].tree_fd);
        if (ctx->sources[i].host_fd >= 0)
            close(ctx->sources[i].host_fd);
        ctx->sources[i].tree_fd = ctx->sources[i].host_fd = -1;
    }
}
