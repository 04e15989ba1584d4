/* The edits that mount: BIND, TMPFS, REMOUNT. Every mount is attached onto an fd (the
 * placeholder), never onto a path the kernel would walk again: with the fd-based API
 * through move_mount(MOVE_MOUNT_T_EMPTY_PATH), otherwise through the /proc/self/fd
 * magic link of that fd. Afterwards the new mount is checked to lie under the rootfs. */
#define _GNU_SOURCE
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "mountinfo.h"
#include "path.h"
#include "sysmount.h"

#define TMPFS_MAGIC_        0x01021994
#define PLACEHOLDER_RETRIES 4

/* An existing entry may serve as the mount point when its type fits: a directory for
 * a directory, a regular file (or a node of the source's own type) for anything else.
 * Never a symlink: mounting "on" it would mean wherever it points. */
static int check_existing(int fd, const char *target, int want_dir, mode_t src_type, struct nvc_error *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return nvc_error_sys(err, "fstat", target, "cannot inspect %s", target);
    if (S_ISLNK(st.st_mode))
        return nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "open", target,
                             "%s exists and is a symlink; refusing to mount over a symlink (the image ships driver "
                             "files? remove them)",
                             target);
    if (want_dir && !S_ISDIR(st.st_mode))
        return nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "open", target,
                             "%s exists and is %s, not a directory; remove it from the image", target,
                             exec_type_name(st.st_mode));
    if (!want_dir && S_ISDIR(st.st_mode))
        return nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "open", target,
                             "%s exists and is a directory; the image ships driver files? remove them", target);
    if (!want_dir && !S_ISREG(st.st_mode) && (st.st_mode & S_IFMT) != src_type)
        return nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "open", target,
                             "%s exists and is %s; remove it from the image", target, exec_type_name(st.st_mode));
    return 0;
}

static int create_file(struct exec_ctx *ctx, int parent, const char *name, const char *target, struct nvc_error *err)
{
    struct stat st;
    uint64_t btime;
    int fd, pdup;

    if (undo_reserve(ctx, 1, err) < 0)
        return -1;
    /* O_EXCL|O_NOFOLLOW: never open (let alone truncate) whatever is there. */
    fd = openat(parent, name, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (errno == EEXIST)
            return -2;
        return nvc_error_sys(err, "openat", target, "cannot create the mount point %s", target);
    }
    pdup = fcntl(parent, F_DUPFD_CLOEXEC, 0);
    if (pdup < 0 || exec_stat_new(fd, &st, &btime) < 0) {
        nvc_error_sys(err, "fstat", target, "cannot record %s for undoing", target);
        if (pdup >= 0)
            close(pdup);
        close(fd);
        unlinkat(parent, name, 0);
        return -1;
    }
    undo_push_created(ctx, pdup, name, &st, btime, target);
    if (exec_chown_fd(ctx, fd, &st, target, err) < 0 || exec_check_in_root(ctx, fd, target, err) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The fd to mount on: the existing entry when it fits, else a new empty file or
 * directory. */
static int placeholder(struct exec_ctx *ctx, int parent, const char *name, const char *target, int want_dir,
                       mode_t src_type, struct nvc_error *err)
{
    for (int attempt = 0; attempt < PLACEHOLDER_RETRIES; attempt++) {
        int fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            if (check_existing(fd, target, want_dir, src_type, err) < 0 ||
                exec_check_in_root(ctx, fd, target, err) < 0) {
                close(fd);
                return -1;
            }
            return fd;
        }
        if (errno != ENOENT)
            return nvc_error_sys(err, "openat", target, "cannot look up %s", target);
        fd = want_dir ? exec_mkdir_at(ctx, parent, name, 0755, target, err)
                      : create_file(ctx, parent, name, target, err);
        if (fd != -2)
            return fd;
    }
    return nvc_error_set(err, NVC_ERR_FILE_EXISTS, EEXIST, "openat", target,
                         "%s keeps appearing and disappearing; something is racing the executor", target);
}

/* mount(2) fallback. mount(2) returns no handle on the mount it made, so it has to be
 * found again: first by looking the name up in parent (which crosses into it), and if
 * that name was swapped meanwhile, as the child of the mount below that did not exist
 * before (`before`), opened by whatever path the mount table shows for it now and
 * accepted only if the fd is on exactly that mount. */
#define FIND_RETRIES 200

static int in_list(const uint64_t *ids, size_t n, uint64_t id)
{
    for (size_t k = 0; k < n; k++) {
        if (ids[k] == id)
            return 1;
    }
    return 0;
}

/* The mount point text of the mount table, resolved inside the rootfs like any other
 * container path (never by the kernel from "/", which would follow the image's links). */
static int open_mountpoint(const struct exec_ctx *ctx, const char *mountpoint)
{
    char link[32], root[PATH_MAX];
    struct nvc_error ignored;
    ssize_t n;
    size_t rl;

    n = readlink(exec_fd_path(link, sizeof(link), ctx->rootfd), root, sizeof(root) - 1);
    if (n <= 0)
        return -1;
    root[n] = '\0';
    rl = strcmp(root, "/") == 0 ? 0 : (size_t)n;
    if (strncmp(mountpoint, root, rl) != 0 || mountpoint[rl] != '/')
        return -1; /* not below the rootfs: not ours to look at */
    return nvc_path_open_in_root(ctx->rootfd, mountpoint + rl, O_PATH | O_NOFOLLOW, &ignored);
}

static int find_new_mount(const struct exec_ctx *ctx, int parent, const char *name, uint64_t under_id,
                          const uint64_t *before, size_t nbefore, const char *target, struct nvc_error *err)
{
    struct exec_fdinfo info;
    int fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0 && exec_fd_info(fd, parent, &info) == 0 && info.mount_root && info.mnt_id != under_id &&
        !in_list(before, nbefore, info.mnt_id))
        return fd;
    if (fd >= 0)
        close(fd);
    for (int attempt = 0; attempt < FIND_RETRIES; attempt++) {
        uint64_t *now = NULL, id = 0;
        size_t n = 0;
        struct mi_entry e;
        int found = 0;

        if (mi_children(under_id, &now, &n) < 0)
            return nvc_error_sys(err, "mountinfo", target, "cannot read the mount table to find the mount at %s",
                                 target);
        for (size_t k = 0; k < n && !found; k++) {
            if (!in_list(before, nbefore, now[k])) {
                id = now[k];
                found = 1;
            }
        }
        free(now);
        if (!found)
            break;
        if (mi_lookup(id, &e) <= 0)
            continue;
        fd = open_mountpoint(ctx, e.mountpoint);
        if (fd < 0)
            continue;
        if (exec_fd_info(fd, -1, &info) == 0 && info.mnt_id == id)
            return fd;
        close(fd);
    }
    return nvc_error_set(err, NVC_ERR_MOUNT, 0, "mount", target, "the new mount at %s cannot be found again (raced)",
                         target);
}

/* Everything common to BIND and TMPFS around the attach step. */
struct mount_point {
    int parent, at, at_dup, parent_dup;
    uint64_t under_id;
};

static void mp_close(struct mount_point *mp)
{
    if (mp->parent >= 0)
        close(mp->parent);
    if (mp->at >= 0)
        close(mp->at);
    if (mp->at_dup >= 0)
        close(mp->at_dup);
    if (mp->parent_dup >= 0)
        close(mp->parent_dup);
}

static int mp_prepare(struct exec_ctx *ctx, const char *target, int want_dir, mode_t src_type, struct mount_point *mp,
                      struct nvc_error *err)
{
    const char *name = NULL;
    struct exec_fdinfo info;

    mp->parent = mp->at = mp->at_dup = mp->parent_dup = -1;
    mp->parent = exec_open_parent(ctx, target, &name, err);
    if (mp->parent < 0)
        return -1;
    exec_test_delay(ctx);
    mp->at = placeholder(ctx, mp->parent, name, target, want_dir, src_type, err);
    if (mp->at < 0)
        return -1;
    exec_test_delay(ctx);
    if (guard_mount_point(ctx, mp->at, mp->parent, target, &info, err) < 0)
        return -1;
    mp->under_id = info.mnt_id;
    /* Handles the undo log keeps: rollback guards the same mount point again. */
    mp->at_dup = fcntl(mp->at, F_DUPFD_CLOEXEC, 0);
    mp->parent_dup = fcntl(mp->parent, F_DUPFD_CLOEXEC, 0);
    if (mp->at_dup < 0 || mp->parent_dup < 0)
        return nvc_error_sys(err, "dup", target, "cannot keep handles for undoing %s", target);
    return undo_reserve(ctx, 1, err);
}

/* mount(2) succeeded but the new mount could not be found again in the mount table, so
 * it cannot be put in the undo log: rollback will not detach it. Say so, with the code
 * that tells the caller the container is not as it was. */
static void unidentified_mount(const char *target, struct nvc_error *err)
{
    nvc_error_wrap(err, "a mount was made at %s but could not be identified to undo it", target);
    err->code = NVC_ERR_ROLLBACK;
}

/* Records the attached mount and checks where it landed. Takes mnt_fd. */
static int mp_attached(struct exec_ctx *ctx, struct mount_point *mp, int mnt_fd, const char *target,
                       struct nvc_error *err)
{
    exec_forget_dirs_under(ctx, target);
    undo_push_mount(ctx, mnt_fd, mp->at_dup, mp->parent_dup, target);
    mp->at_dup = mp->parent_dup = -1;
    return exec_check_in_root(ctx, mnt_fd, target, err);
}

/* mount(2) fallback after attaching: private first (a bind of a shared mount joins its
 * group), then the flags by a bind remount that keeps the ones already there. */
static int legacy_finish(int mnt_fd, unsigned flags, const char *target, struct nvc_error *err)
{
    char path[32];
    unsigned cur;
    unsigned long ms;

    exec_fd_path(path, sizeof(path), mnt_fd);
    if (mount(NULL, path, NULL, MS_PRIVATE, NULL) < 0)
        return nvc_error_set(err, NVC_ERR_MOUNT, errno, "mount", target, "cannot make the mount at %s private: %s",
                             target, strerror(errno));
    if (flags == 0)
        return 0;
    if (exec_mount_flags_of(mnt_fd, &cur, &ms) < 0 ||
        mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | ms | exec_flags_to_ms(flags), NULL) < 0)
        return nvc_error_set(err, NVC_ERR_MOUNT, errno, "mount", target, "cannot set the flags of the mount at %s: %s",
                             target, strerror(errno));
    return 0;
}

int exec_edit_bind(struct exec_ctx *ctx, size_t i, struct nvc_error *err)
{
    const struct nvc_edit *e = &ctx->plan->edits[i];
    struct exec_source *s = &ctx->sources[i];
    struct mount_point mp;
    char src[32], dst[32];
    uint64_t *before = NULL;
    size_t nbefore = 0;
    int mnt, rc = -1;

    if (mp_prepare(ctx, e->target, S_ISDIR(s->mode), s->mode & S_IFMT, &mp, err) < 0)
        goto out;
    if (!ctx->legacy) {
        if (sys_move_mount(s->tree_fd, "", mp.at, "", EXEC_MOVE_MOUNT_F_EMPTY_PATH | EXEC_MOVE_MOUNT_T_EMPTY_PATH) <
            0) {
            nvc_error_set(err, NVC_ERR_MOUNT, errno, "move_mount", e->target, "cannot bind %s onto %s: %s", e->source,
                          e->target, strerror(errno));
            goto out;
        }
        mnt = s->tree_fd; /* now the root of the attached mount */
        s->tree_fd = -1;
        rc = mp_attached(ctx, &mp, mnt, e->target, err);
        goto out;
    }
    if (mi_children(mp.under_id, &before, &nbefore) < 0) {
        nvc_error_sys(err, "mountinfo", e->target, "cannot read the mount table");
        goto out;
    }
    if (mount(exec_fd_path(src, sizeof(src), s->host_fd), exec_fd_path(dst, sizeof(dst), mp.at), NULL, MS_BIND, NULL) <
        0) {
        nvc_error_set(err, NVC_ERR_MOUNT, errno, "mount", e->target, "cannot bind %s onto %s: %s", e->source, e->target,
                      strerror(errno));
        goto out;
    }
    mnt = find_new_mount(ctx, mp.parent, strrchr(e->target, '/') + 1, mp.under_id, before, nbefore, e->target, err);
    if (mnt < 0) {
        unidentified_mount(e->target, err);
        goto out;
    }
    /* Recorded first: it is the one new mount below the mount point, so whatever the
     * checks below say, rollback must detach it. */
    if (mp_attached(ctx, &mp, mnt, e->target, err) < 0)
        goto out;
    {
        struct stat st;
        if (fstat(mnt, &st) < 0 || st.st_dev != s->dev || st.st_ino != s->ino) {
            nvc_error_set(err, NVC_ERR_MOUNT, 0, "mount", e->target, "the mount at %s is not the bind of %s (raced)",
                          e->target, e->source);
            goto out;
        }
    }
    if (legacy_finish(mnt, e->flags, e->target, err) < 0)
        goto out;
    rc = 0;
out:
    free(before);
    mp_close(&mp);
    if (rc == 0)
        ctx->outcomes[i] = NVC_OUTCOME_DONE;
    return rc;
}

static int new_tmpfs(const struct nvc_edit *e, struct nvc_error *err)
{
    char mode[16];
    int fs, mnt;

    snprintf(mode, sizeof(mode), "%o", e->mode);
    fs = sys_fsopen("tmpfs", EXEC_FSOPEN_CLOEXEC);
    if (fs < 0)
        return nvc_error_set(err, NVC_ERR_MOUNT, errno, "fsopen", e->target, "cannot create a tmpfs: %s",
                             strerror(errno));
    if (sys_fsconfig_string(fs, "mode", mode) < 0 || sys_fsconfig_create(fs) < 0) {
        int en = errno;
        close(fs);
        return nvc_error_set(err, NVC_ERR_MOUNT, en, "fsconfig", e->target, "cannot create a tmpfs: %s", strerror(en));
    }
    /* A mount made by fsmount is private: nothing below it propagates anywhere. */
    mnt = sys_fsmount(fs, EXEC_FSMOUNT_CLOEXEC, (unsigned)exec_flags_to_attr(e->flags));
    close(fs);
    if (mnt < 0)
        return nvc_error_set(err, NVC_ERR_MOUNT, errno, "fsmount", e->target, "cannot create a tmpfs: %s",
                             strerror(errno));
    return mnt;
}

int exec_edit_tmpfs(struct exec_ctx *ctx, size_t i, struct nvc_error *err)
{
    const struct nvc_edit *e = &ctx->plan->edits[i];
    struct mount_point mp;
    struct exec_fdinfo info;
    uint64_t *before = NULL;
    size_t nbefore = 0;
    int mnt, rc = -1;

    if (mp_prepare(ctx, e->target, 1, S_IFDIR, &mp, err) < 0)
        goto out;
    if (!ctx->legacy) {
        mnt = new_tmpfs(e, err);
        if (mnt < 0)
            goto out;
        if (sys_move_mount(mnt, "", mp.at, "", EXEC_MOVE_MOUNT_F_EMPTY_PATH | EXEC_MOVE_MOUNT_T_EMPTY_PATH) < 0) {
            nvc_error_set(err, NVC_ERR_MOUNT, errno, "move_mount", e->target, "cannot mount a tmpfs on %s: %s",
                          e->target, strerror(errno));
            close(mnt);
            goto out;
        }
        if (mp_attached(ctx, &mp, mnt, e->target, err) < 0)
            goto out;
    } else {
        char dst[32], data[32];
        struct statfs sfs;

        snprintf(data, sizeof(data), "mode=%o", e->mode);
        if (mi_children(mp.under_id, &before, &nbefore) < 0) {
            nvc_error_sys(err, "mountinfo", e->target, "cannot read the mount table");
            goto out;
        }
        if (mount("tmpfs", exec_fd_path(dst, sizeof(dst), mp.at), "tmpfs", exec_flags_to_ms(e->flags), data) < 0) {
            nvc_error_set(err, NVC_ERR_MOUNT, errno, "mount", e->target, "cannot mount a tmpfs on %s: %s", e->target,
                          strerror(errno));
            goto out;
        }
        mnt = find_new_mount(ctx, mp.parent, strrchr(e->target, '/') + 1, mp.under_id, before, nbefore, e->target, err);
        if (mnt < 0) {
            unidentified_mount(e->target, err);
            goto out;
        }
        if (mp_attached(ctx, &mp, mnt, e->target, err) < 0)
            goto out;
        if (fstatfs(mnt, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC_) {
            nvc_error_set(err, NVC_ERR_MOUNT, 0, "mount", e->target, "the mount at %s is not the new tmpfs (raced)",
                          e->target);
            goto out;
        }
        if (legacy_finish(mnt, 0, e->target, err) < 0)
            goto out;
    }
    /* Writes may go only into tmpfs mounts this plan made: remember which. */
    if (exec_fd_info(mnt, -1, &info) < 0) {
        nvc_error_sys(err, "statx", e->target, "cannot identify the tmpfs at %s", e->target);
        goto out;
    }
    ctx->tmpfs_ids[ctx->ntmpfs++] = info.mnt_id;
    ctx->outcomes[i] = NVC_OUTCOME_DONE;
    rc = 0;
out:
    free(before);
    mp_close(&mp);
    return rc;
}

int exec_edit_remount(struct exec_ctx *ctx, size_t i, struct nvc_error *err)
{
    const struct nvc_edit *e = &ctx->plan->edits[i];
    struct exec_fdinfo info;
    unsigned cur, add;
    unsigned long ms;
    int fd, r;

    /* O_NOFOLLOW: the mount must be at the target itself, not wherever a link points. */
    fd = nvc_path_open_in_root(ctx->rootfd, e->target, O_PATH | O_NOFOLLOW, err);
    if (fd < 0)
        return -1;
    if (exec_fd_info(fd, -1, &info) < 0) {
        nvc_error_sys(err, "statx", e->target, "cannot inspect %s", e->target);
        goto fail;
    }
    if (!info.mount_root) {
        nvc_error_set(err, NVC_ERR_MOUNT, EINVAL, "remount", e->target, "%s is not a mount point", e->target);
        goto fail;
    }
    if (exec_check_in_root(ctx, fd, e->target, err) < 0)
        goto fail;
    if (exec_mount_flags_of(fd, &cur, &ms) < 0) {
        nvc_error_sys(err, "fstatfs", e->target, "cannot read the flags of the mount at %s", e->target);
        goto fail;
    }
    add = e->flags & ~cur;
    if (add == 0) {
        close(fd);
        ctx->outcomes[i] = NVC_OUTCOME_DONE;
        return 0;
    }
    if (undo_reserve(ctx, 1, err) < 0)
        goto fail;
    if (ctx->legacy) {
        char path[32];
        r = mount(NULL, exec_fd_path(path, sizeof(path), fd), NULL, MS_BIND | MS_REMOUNT | ms | exec_flags_to_ms(add),
                  NULL);
    } else {
        r = sys_mount_setattr(fd, "", AT_EMPTY_PATH, exec_flags_to_attr(add), 0, 0);
    }
    if (r < 0) {
        nvc_error_set(err, NVC_ERR_MOUNT, errno, ctx->legacy ? "mount" : "mount_setattr", e->target,
                      "cannot change the flags of the mount at %s: %s", e->target, strerror(errno));
        goto fail;
    }
    undo_push_flags(ctx, fd, add, ms, e->target);
    ctx->outcomes[i] = NVC_OUTCOME_DONE;
    return 0;
fail:
    close(fd);
    return -1;
}
