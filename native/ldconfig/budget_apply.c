#define _GNU_SOURCE
#include "ldconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The write budget, the supervisor's half: after ldconfig succeeded, what it wrote (the
 * overlay's upper layer, a tmpfs that nothing runs in any more) is copied into the rootfs,
 * but only what ldconfig is expected to write:
 *   - the cache, a regular file named ld.so.cache in the directory /etc resolves to in the
 *     rootfs;
 *   - symbolic links, in directories the rootfs already has, where the rootfs has nothing
 *     or a link (ldconfig never replaces a file by a link);
 *   - removals of links (an overlay whiteout where the rootfs has a link).
 * Everything else (other files, new directories, the aux cache, devices, ...) is left in the
 * tmpfs and dropped with it. Paths of the upper layer are real paths of the rootfs: each
 * directory is opened in the rootfs without following any link and without leaving its
 * filesystem, and each entry is written under a temporary name and renamed into place. */

#define LC_RESOLVE_NO_XDEV     0x01u
#define LC_RESOLVE_NO_SYMLINKS 0x04u
#define LC_RESOLVE_BENEATH     0x08u
#define LC_RESOLVE_IN_ROOT     0x10u
#define LC_RESOLVE_NO_MAGIC    0x02u
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
/* Deeper than any library directory; the upper layer of a tmpfs cannot be deeper than its
 * inode count, this bounds the recursion (and the fds it holds) well before. */
#define MAX_DEPTH 32

struct lc_open_how_apply {
    uint64_t flags, mode, resolve;
};

struct walk {
    int real;
    dev_t etc_dev; /* what /etc resolves to in the rootfs; etc_ok = 0 when it does not */
    ino_t etc_ino;
    int etc_ok;
    unsigned serial; /* temporary names */
    struct lc_budget_tally *t;
    char *why;
    size_t whysz;
};

int lc_budget_exhausted(int upper)
{
    struct statfs sf;
    if (fstatfs(upper, &sf) < 0)
        return 1; /* cannot tell: keep nothing */
    return sf.f_bfree == 0 || sf.f_ffree == 0;
}

static int fail(struct walk *w, const char *fmt, const char *arg)
{
    int e = errno;
    snprintf(w->why, w->whysz, fmt, arg);
    errno = e;
    return -1;
}

static int open_real_dir(int parent, const char *name)
{
    struct lc_open_how_apply how = {
        .flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
        .resolve = LC_RESOLVE_NO_SYMLINKS | LC_RESOLVE_NO_XDEV | LC_RESOLVE_BENEATH,
    };
    return (int)syscall(SYS_openat2, parent, name, &how, sizeof(how));
}

static int charge(struct walk *w, uint64_t bytes)
{
    w->t->entries++;
    w->t->bytes += bytes;
    if (w->t->entries > NVC_LDCONFIG_BUDGET_INODES || w->t->bytes > NVC_LDCONFIG_BUDGET_BYTES) {
        errno = EDQUOT;
        return fail(w, "ldconfig's results exceed the write budget%s", "");
    }
    return 0;
}

static void temp_name(struct walk *w, char *out, size_t n)
{
    snprintf(out, n, ".nvc-ldconfig.%ld.%u", (long)getpid(), w->serial++);
}

/* The cache file: copied whole under a temporary name, then renamed over the old one. Not
 * fsync'd: that cost a millisecond or more per container on a disk, and a cache torn by a crash
 * is refused by the loader (it checks the header and the sizes) or lacks entries, until the
 * next configure writes it again. */
static int put_cache(struct walk *w, int udir, int rdir, const char *name, const struct stat *st)
{
    char tmp[64];
    if (st->st_size > (off_t)NVC_LDCONFIG_FILE_MAX) {
        errno = EFBIG;
        return fail(w, "ldconfig's %s is larger than a file may be", name);
    }
    if (charge(w, (uint64_t)st->st_size) < 0)
        return -1;
    int src = openat(udir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0)
        return fail(w, "cannot read ldconfig's %s", name);
    int dst = -1;
    for (int tries = 0; dst < 0 && tries < 100; tries++) {
        temp_name(w, tmp, sizeof(tmp));
        dst = openat(rdir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (dst < 0 && errno != EEXIST)
            break;
    }
    if (dst < 0) {
        fail(w, "cannot create a temporary file for %s in the rootfs", name);
        close(src);
        return -1;
    }
    int rc = 0;
    if (lc_copy_file(dst, src, st->st_size) < 0 || fchown(dst, st->st_uid, st->st_gid) < 0 ||
        fchmod(dst, st->st_mode & 0777) < 0 || renameat(rdir, tmp, rdir, name) < 0) {
        rc = fail(w, "cannot write %s into the rootfs", name);
        int e = errno;
        unlinkat(rdir, tmp, 0);
        errno = e;
    }
    int e = errno;
    close(dst);
    close(src);
    errno = e;
    if (rc == 0)
        w->t->files++;
    return rc;
}

/* A link, where the rootfs has nothing or a link at that name. */
static int put_link(struct walk *w, int udir, int rdir, const char *name, const struct stat *st)
{
    char target[PATH_MAX], have[PATH_MAX], tmp[64];
    struct stat rst;
    ssize_t n = readlinkat(udir, name, target, sizeof(target) - 1);
    if (n < 0)
        return fail(w, "cannot read ldconfig's link %s", name);
    target[n] = '\0';
    if (fstatat(rdir, name, &rst, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISLNK(rst.st_mode)) {
            w->t->ignored++;
            return 0;
        }
        ssize_t h = readlinkat(rdir, name, have, sizeof(have) - 1);
        if (h == n && memcmp(have, target, (size_t)n) == 0)
            return 0; /* already so */
    } else if (errno != ENOENT) {
        return fail(w, "cannot inspect %s in the rootfs", name);
    }
    if (charge(w, (uint64_t)n) < 0)
        return -1;
    int made = -1;
    for (int tries = 0; made < 0 && tries < 100; tries++) {
        temp_name(w, tmp, sizeof(tmp));
        made = symlinkat(target, rdir, tmp);
        if (made < 0 && errno != EEXIST)
            break;
    }
    if (made < 0)
        return fail(w, "cannot create the link %s in the rootfs", name);
    if (fchownat(rdir, tmp, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0 || renameat(rdir, tmp, rdir, name) < 0) {
        int e = errno;
        unlinkat(rdir, tmp, 0);
        errno = e;
        return fail(w, "cannot put the link %s into the rootfs", name);
    }
    w->t->links++;
    return 0;
}

/* An overlay whiteout: ldconfig removed the entry. Only links are removed. */
static int put_removal(struct walk *w, int rdir, const char *name)
{
    struct stat rst;
    if (fstatat(rdir, name, &rst, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(rst.st_mode))
        return 0;
    if (charge(w, 0) < 0)
        return -1;
    if (unlinkat(rdir, name, 0) < 0 && errno != ENOENT)
        return fail(w, "cannot remove the link %s from the rootfs", name);
    w->t->removed++;
    return 0;
}

static int is_etc(struct walk *w, int rdir)
{
    struct stat st;
    return w->etc_ok && fstat(rdir, &st) == 0 && st.st_dev == w->etc_dev && st.st_ino == w->etc_ino;
}

/* udir: a directory of the upper layer; rdir: the same directory in the rootfs, or -1 when
 * the rootfs has none (then nothing below is kept). */
static int walk_dir(struct walk *w, int udir, int rdir, int depth)
{
    int dfd = dup(udir);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (d == NULL) {
        if (dfd >= 0)
            close(dfd);
        return fail(w, "cannot list ldconfig's output%s", "");
    }
    int rc = 0;
    int etc = rdir >= 0 && is_etc(w, rdir);
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        struct stat st;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        if (fstatat(udir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = fail(w, "cannot inspect ldconfig's %s", name);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DEPTH) {
                w->t->ignored++;
                continue;
            }
            int sub = openat(udir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = fail(w, "cannot open ldconfig's directory %s", name);
                break;
            }
            int rsub = rdir >= 0 ? open_real_dir(rdir, name) : -1;
            rc = walk_dir(w, sub, rsub, depth + 1);
            if (rsub >= 0)
                close(rsub);
            close(sub);
        } else if (S_ISREG(st.st_mode) && strcmp(name, "aux-cache") == 0) {
            /* glibc's speed-up for later runs: dropped without a word */
        } else if (rdir < 0) {
            w->t->ignored++;
        } else if (S_ISREG(st.st_mode) && etc && strcmp(name, "ld.so.cache") == 0) {
            rc = put_cache(w, udir, rdir, name, &st);
        } else if (S_ISLNK(st.st_mode)) {
            rc = put_link(w, udir, rdir, name, &st);
        } else if (S_ISCHR(st.st_mode) && st.st_rdev == 0) {
            rc = put_removal(w, rdir, name);
        } else {
            w->t->ignored++;
        }
    }
    if (rc == 0 && errno != 0 && e == NULL)
        rc = fail(w, "cannot list ldconfig's output%s", "");
    int keep = errno;
    closedir(d);
    errno = keep;
    return rc;
}

int lc_budget_apply(int upper, int real, struct lc_budget_tally *t, char *why, size_t whysz)
{
    struct walk w = {.real = real, .t = t, .why = why, .whysz = whysz};
    memset(t, 0, sizeof(*t));
    /* /etc as the loader finds it: links resolved inside the rootfs, on its filesystem. */
    struct lc_open_how_apply how = {
        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
        .resolve = LC_RESOLVE_IN_ROOT | LC_RESOLVE_NO_MAGIC | LC_RESOLVE_NO_XDEV,
    };
    int etc = (int)syscall(SYS_openat2, real, "etc", &how, sizeof(how));
    struct stat st;
    if (etc >= 0 && fstat(etc, &st) == 0) {
        w.etc_dev = st.st_dev;
        w.etc_ino = st.st_ino;
        w.etc_ok = 1;
    }
    if (etc >= 0)
        close(etc);
    return walk_dir(&w, upper, real, 0);
}
