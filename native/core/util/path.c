#define _GNU_SOURCE
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif
#endif

/* Old kernel headers: the ABI is fixed, so spell it out. */
#ifndef RESOLVE_IN_ROOT
struct open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_IN_ROOT       0x10
#endif
#ifndef SYS_openat2
#define SYS_openat2 437 /* same number on every architecture */
#endif

#define PROC_FS_MAGIC   0x9fa0 /* statfs f_type of procfs */
#define PROC_ROOT_INODE 1      /* inode number of every procfs mount's top directory */

/* Bound on the text still to resolve: each followed link can add up to PATH_MAX. */
#define WALK_TEXT_MAX (16 * PATH_MAX)

/* openat2 retries: it answers EAGAIN when a rename raced a `..` lookup, EINTR when a signal
 * came while it waited (on a FIFO or a network filesystem). */
#define OPENAT2_RETRIES 32

int nvc_path_force_fallback;
int nvc_path_test_openat2_errno;
void (*nvc_path_test_before_reopen)(int dirfd, const char *name);

/* Whether openat2 can be used, decided once for the process: unknown until the first
 * call, then usable, or refused (no syscall, a seccomp filter, resolve flags the kernel
 * does not know) and the walk is used for good. */
enum { OPENAT2_UNKNOWN = 0, OPENAT2_USABLE, OPENAT2_REFUSED };
static atomic_int openat2_state;

/* ---- the userspace walk ------------------------------------------------------------ */

struct walk {
    int rootfd;
    int cur;             /* O_PATH fd of the directory reached so far */
    char done[PATH_MAX]; /* the components below the root that cur stands for ("" = root) */
    const char *orig;    /* the caller's path, for messages */
    struct nvc_error *err;
};

static int walk_fail(struct walk *w, int e, const char *comp)
{
    errno = e;
    if (comp != NULL)
        return nvc_error_sys(w->err, "open", w->orig, "cannot open %s inside the root (at \"%s\")", w->orig, comp);
    return nvc_error_sys(w->err, "open", w->orig, "cannot open %s inside the root", w->orig);
}

static int open_root_dir(int rootfd)
{
    return openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static int walk_reset(struct walk *w)
{
    int fd = open_root_dir(w->rootfd);
    if (fd < 0)
        return walk_fail(w, errno, NULL);
    close(w->cur);
    w->cur = fd;
    w->done[0] = '\0';
    return 0;
}

/* `..`: drop the last component and walk the rest again from the root rather than ask
 * the kernel for "..". The kernel's parent of a directory moved out of the root lies
 * outside it; the lexical parent cannot. At the root `..` stays put, as RESOLVE_IN_ROOT. */
static int walk_up(struct walk *w)
{
    char *slash = strrchr(w->done, '/');
    char copy[PATH_MAX];
    char *save = NULL;
    int fd;

    if (slash == NULL)
        return 0;
    *slash = '\0';
    memcpy(copy, w->done, strlen(w->done) + 1);
    fd = open_root_dir(w->rootfd);
    if (fd < 0)
        return walk_fail(w, errno, "..");
    for (char *c = strtok_r(copy, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
        /* These were directories a moment ago; O_NOFOLLOW|O_DIRECTORY refuses one that
         * has been swapped for a symlink meanwhile. */
        int next = openat(fd, c, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (next < 0)
            return walk_fail(w, e, "..");
        fd = next;
    }
    close(w->cur);
    w->cur = fd;
    return 0;
}

static int walk_down(struct walk *w, const char *comp, int fd)
{
    size_t have = strlen(w->done), add = strlen(comp);
    if (have + 1 + add >= sizeof(w->done)) {
        close(fd);
        return walk_fail(w, ENAMETOOLONG, comp);
    }
    w->done[have] = '/';
    memcpy(w->done + have + 1, comp, add + 1);
    close(w->cur);
    w->cur = fd;
    return 0;
}

/* A magic link (/proc/<pid>/fd/N, exe, cwd, root, ns/...) names an object, not a path:
 * the kernel would jump to it wherever it is, so RESOLVE_NO_MAGICLINKS refuses them.
 * From userspace they cannot be told apart by their text; but procfs keeps its only
 * plain symlinks (self, thread-self, mounts, net, ...) in its top directory, so any
 * procfs symlink deeper down is treated as magic. That refuses at least as much as
 * the kernel does. */
static int is_magic_link(const struct walk *w, int linkfd)
{
    struct statfs sfs;
    struct stat dir;

    if (fstatfs(linkfd, &sfs) < 0)
        return 1;
    if (sfs.f_type != PROC_FS_MAGIC)
        return 0;
    if (fstat(w->cur, &dir) < 0)
        return 1;
    return dir.st_ino != PROC_ROOT_INODE;
}

/* Replace the text still to resolve by target + rest (rest is "" or starts with '/'). */
static int walk_splice(struct walk *w, char **text, const char *target, const char *rest)
{
    size_t tl = strlen(target), rl = strlen(rest);
    char *n;

    if (tl + rl >= WALK_TEXT_MAX)
        return walk_fail(w, ENAMETOOLONG, target);
    n = malloc(tl + rl + 1);
    if (n == NULL)
        return walk_fail(w, ENOMEM, NULL);
    memcpy(n, target, tl);
    memcpy(n + tl, rest, rl + 1);
    free(*text);
    *text = n;
    return 0;
}

/* Open for real the inode that the O_PATH fd stands for, never a name: whatever has
 * been renamed over the last component since it was checked (another file, a FIFO that
 * would block, a device node that would be woken) is not what gets opened. A directory
 * is reopened as "." of its own fd; anything else through the magic link
 * /proc/self/fd/N, which leads to exactly the inode (and mount) of fd. */
static int reopen_checked(int fd, const struct stat *st, int flags)
{
    struct stat now;
    char link[64];
    int r;

    /* The new fd names the object itself: there is no link left to not follow. */
    flags = (flags & ~(O_NOFOLLOW | O_PATH)) | O_CLOEXEC;
    if (S_ISDIR(st->st_mode)) {
        r = openat(fd, ".", flags);
    } else {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        r = open(link, flags);
    }
    if (r < 0)
        return -1;
    if (fstat(r, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
        close(r);
        errno = ESTALE;
        return -1;
    }
    return r;
}

/* The last component, already opened O_PATH|O_NOFOLLOW as fd and checked (st): hand
 * it over as asked. */
static int walk_final(struct walk *w, const char *comp, int fd, const struct stat *st, int flags)
{
    int r, e;

    if ((flags & O_DIRECTORY) && !S_ISDIR(st->st_mode)) {
        close(fd);
        return walk_fail(w, ENOTDIR, comp);
    }
    if (flags & O_PATH)
        return fd;
    /* Only met with O_NOFOLLOW: a link itself cannot be opened for I/O. */
    if (S_ISLNK(st->st_mode)) {
        close(fd);
        return walk_fail(w, ELOOP, comp);
    }
    if (nvc_path_test_before_reopen != NULL)
        nvc_path_test_before_reopen(w->cur, comp);
    r = reopen_checked(fd, st, flags);
    e = errno;
    close(fd);
    if (r < 0) {
        errno = e;
        if (!S_ISDIR(st->st_mode) && e == ENOENT)
            return nvc_error_sys(w->err, "open", w->orig,
                                 "cannot open %s inside the root: /proc/self/fd is needed to reopen \"%s\" "
                                 "safely and is not there",
                                 w->orig, comp);
        return walk_fail(w, e, comp);
    }
    return r;
}

/* The path ended on a directory already reached ("/", "a/..", "a/."). */
static int walk_final_cur(struct walk *w, int flags)
{
    int r;

    if (flags & O_PATH) {
        r = w->cur;
        w->cur = -1;
        return r;
    }
    r = openat(w->cur, ".", flags | O_CLOEXEC);
    if (r < 0)
        return walk_fail(w, errno, ".");
    return r;
}

/* One symlink met on the way: check it, then splice its text in front of the rest. */
static int walk_follow(struct walk *w, int fd, const char *rest, char **text, int *links)
{
    char target[PATH_MAX];
    ssize_t n;

    if (++*links > NVC_PATH_MAX_LINKS) {
        close(fd);
        return walk_fail(w, ELOOP, NULL);
    }
    if (is_magic_link(w, fd)) {
        close(fd);
        errno = ELOOP;
        return nvc_error_sys(w->err, "open", w->orig,
                             "refusing to follow a /proc magic link while resolving %s inside the root", w->orig);
    }
    n = readlinkat(fd, "", target, sizeof(target));
    close(fd);
    if (n < 0)
        return walk_fail(w, errno, NULL);
    if ((size_t)n >= sizeof(target))
        return walk_fail(w, ENAMETOOLONG, NULL);
    if (n == 0)
        return walk_fail(w, ENOENT, NULL); /* the kernel's answer for an empty link */
    target[n] = '\0';
    if (target[0] == '/' && walk_reset(w) < 0)
        return -1;
    return walk_splice(w, text, target, rest);
}

static int fd_host_path(int fd, char *buf, size_t sz);

/* Belt and braces after the walk: a directory moved out of the root while we held it
 * would let the remaining components resolve outside. The kernel's own name for the
 * result must still lie below the root's. Skipped when /proc is not there to ask. */
static int check_under_root(struct walk *w, int fd)
{
    char rootp[PATH_MAX], p[PATH_MAX];
    size_t rl;

    if (fd_host_path(w->rootfd, rootp, sizeof(rootp)) < 0 || fd_host_path(fd, p, sizeof(p)) < 0)
        return 0;
    rl = strlen(rootp);
    if (rl == 1)
        return 0;
    if (strncmp(p, rootp, rl) == 0 && (p[rl] == '/' || p[rl] == '\0'))
        return 0;
    return nvc_error_set(w->err, NVC_ERR_PATH_ESCAPE, EXDEV, "open", w->orig,
                         "%s resolved to %s, outside of the root %s", w->orig, p, rootp);
}

static int open_fallback(int rootfd, const char *path, int flags, struct nvc_error *err)
{
    struct walk w = {.rootfd = rootfd, .cur = -1, .orig = path, .err = err};
    char *text = strdup(path);
    const char *p = text;
    int links = 0;
    int ret = -1;

    if (text == NULL)
        return walk_fail(&w, ENOMEM, NULL);
    w.cur = open_root_dir(rootfd);
    if (w.cur < 0) {
        walk_fail(&w, errno, NULL);
        goto out;
    }
    for (;;) {
        char comp[NAME_MAX + 1];
        const char *end, *q;
        struct stat st;
        size_t len;
        int fd, last, trailing;

        while (*p == '/')
            p++;
        if (*p == '\0') {
            ret = walk_final_cur(&w, flags);
            break;
        }
        end = strchrnul(p, '/');
        len = (size_t)(end - p);
        if (len > NAME_MAX) {
            walk_fail(&w, ENAMETOOLONG, NULL);
            break;
        }
        memcpy(comp, p, len);
        comp[len] = '\0';
        for (q = end; *q == '/'; q++)
            ;
        last = (*q == '\0');
        trailing = last && *end == '/'; /* "dir/": must be a directory, links followed */

        if (strcmp(comp, ".") == 0) {
            p = end;
            continue;
        }
        if (strcmp(comp, "..") == 0) {
            if (walk_up(&w) < 0)
                break;
            p = end;
            continue;
        }
        fd = openat(w.cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            walk_fail(&w, errno, comp);
            break;
        }
        if (fstat(fd, &st) < 0) {
            int e = errno;
            close(fd);
            walk_fail(&w, e, comp);
            break;
        }
        if (S_ISLNK(st.st_mode) && !(last && !trailing && (flags & O_NOFOLLOW))) {
            if (walk_follow(&w, fd, end, &text, &links) < 0)
                break;
            p = text;
            continue;
        }
        if (last) {
            ret = walk_final(&w, comp, fd, &st, flags | (trailing ? O_DIRECTORY : 0));
            break;
        }
        if (!S_ISDIR(st.st_mode)) {
            close(fd);
            walk_fail(&w, ENOTDIR, comp);
            break;
        }
        if (walk_down(&w, comp, fd) < 0)
            break;
        p = end;
    }
    if (ret >= 0 && check_under_root(&w, ret) < 0) {
        close(ret);
        ret = -1;
    }
out:
    if (w.cur >= 0)
        close(w.cur);
    free(text);
    return ret;
}

/* ---- openat2 ------------------------------------------------------------------------ */

static int use_fallback(void)
{
#ifdef NVC_PATH_NO_OPENAT2
    return 1;
#else
    return nvc_path_force_fallback || atomic_load_explicit(&openat2_state, memory_order_relaxed) == OPENAT2_REFUSED;
#endif
}

static long sys_openat2(int dirfd, const char *path, struct open_how *how)
{
    if (nvc_path_test_openat2_errno != 0) {
        errno = nvc_path_test_openat2_errno;
        return -1;
    }
    return syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
}

static int open_openat2(int rootfd, const char *path, int flags)
{
    struct open_how how;

    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (int i = 0; i < OPENAT2_RETRIES; i++) {
        long fd = sys_openat2(rootfd, path, &how);
        if (fd >= 0)
            return (int)fd;
        if (errno != EAGAIN && errno != EINTR)
            break;
    }
    return -1;
}

/* The answers openat2 gets where it cannot be used: ENOSYS (before Linux 5.6, or a
 * seccomp profile that says so), EPERM (the default action of older Docker seccomp
 * profiles for syscalls they do not list), EINVAL (resolve flags not understood). */
static int refused_errno(int e)
{
    return e == ENOSYS || e == EPERM || e == EINVAL;
}

/* Harmless on any usable openat2: the current directory as O_PATH. */
static int openat2_probe_refused(void)
{
    struct open_how how;
    long fd;

    memset(&how, 0, sizeof(how));
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    fd = sys_openat2(AT_FDCWD, ".", &how);
    if (fd >= 0) {
        close((int)fd);
        return 0;
    }
    return refused_errno(errno);
}

/* openat2 failed with e: is openat2 itself refused (use the walk), or is e the real
 * answer? EPERM and EINVAL can be either (an immutable file opened for writing, O_DIRECT
 * where unsupported), so the first time one is seen a probe decides, and the decision
 * holds for the rest of the process. */
static int openat2_refused(int e)
{
    int state;

    if (e == ENOSYS) {
        atomic_store_explicit(&openat2_state, OPENAT2_REFUSED, memory_order_relaxed);
        return 1;
    }
    state = atomic_load_explicit(&openat2_state, memory_order_relaxed);
    if (!refused_errno(e) || state == OPENAT2_USABLE) {
        if (state == OPENAT2_UNKNOWN)
            atomic_store_explicit(&openat2_state, OPENAT2_USABLE, memory_order_relaxed);
        return 0;
    }
    if (state == OPENAT2_UNKNOWN) {
        state = openat2_probe_refused() ? OPENAT2_REFUSED : OPENAT2_USABLE;
        atomic_store_explicit(&openat2_state, state, memory_order_relaxed);
    }
    return state == OPENAT2_REFUSED;
}

int nvc_path_openat2_usable(void)
{
    switch (atomic_load_explicit(&openat2_state, memory_order_relaxed)) {
    case OPENAT2_USABLE: return 1;
    case OPENAT2_REFUSED: return 0;
    default: return -1;
    }
}

void nvc_path_test_reset_openat2(void)
{
    atomic_store_explicit(&openat2_state, OPENAT2_UNKNOWN, memory_order_relaxed);
}

int nvc_path_open_in_root(int rootfd, const char *path, int flags, struct nvc_error *err)
{
    int fd;

    if (rootfd < 0 || path == NULL) {
        errno = EINVAL;
        return nvc_error_sys(err, "open", path, "invalid root fd or path");
    }
    if (*path == '\0') {
        errno = ENOENT;
        return nvc_error_sys(err, "open", path, "empty path");
    }
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
        errno = EINVAL;
        return nvc_error_sys(err, "open", path, "cannot create %s: the in-root resolver only opens existing files",
                             path);
    }
    /* openat2 rejects any other flag next to O_PATH; make the walk agree. */
    if (flags & O_PATH)
        flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

    if (!use_fallback()) {
        fd = open_openat2(rootfd, path, flags);
        if (fd >= 0) {
            if (atomic_load_explicit(&openat2_state, memory_order_relaxed) == OPENAT2_UNKNOWN)
                atomic_store_explicit(&openat2_state, OPENAT2_USABLE, memory_order_relaxed);
            return fd;
        }
        int e = errno;
        if (!openat2_refused(e)) {
            errno = e;
            if (e == ELOOP)
                return nvc_error_sys(
                    err, "openat2", path,
                    "cannot open %s inside the root (symlink loop, too many links or a /proc magic link)", path);
            return nvc_error_sys(err, "openat2", path, "cannot open %s inside the root", path);
        }
    }
    return open_fallback(rootfd, path, flags, err);
}

/* ---- fd to path ---------------------------------------------------------------------- */

static int fd_host_path(int fd, char *buf, size_t sz)
{
    char link[64];
    ssize_t n;

    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, buf, sz);
    if (n < 0)
        return -1;
    if ((size_t)n >= sz) {
        errno = ENAMETOOLONG;
        return -1;
    }
    buf[n] = '\0';
    if (buf[0] != '/') { /* pipe:[..], anon_inode:..: not a file system object */
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int nvc_path_fd_in_root(int rootfd, const char *root_host_path, int fd, const char *path_for_errors, char *out,
                        size_t outsz, struct nvc_error *err)
{
    char rootp[PATH_MAX], p[PATH_MAX];
    const char *shown = path_for_errors ? path_for_errors : "";
    const char *rel;
    struct stat st;
    size_t rl;

    /* The root's own canonical path, not root_host_path: the latter may itself go
     * through symlinks (/tmp -> /private/tmp) and would then never prefix-match. */
    if (fd_host_path(rootfd, rootp, sizeof(rootp)) < 0)
        return nvc_error_sys(err, "readlink", root_host_path, "cannot read the path of the root directory");
    if (fd_host_path(fd, p, sizeof(p)) < 0)
        return nvc_error_sys(err, "readlink", shown, "cannot read the real path of %s", shown);
    /* Unlinked since it was opened: readlink would append " (deleted)". A failed fstat
     * (EIO, ENOMEM) leaves that unknown: an error, not a pass. */
    if (fstat(fd, &st) < 0)
        return nvc_error_sys(err, "fstat", shown, "cannot stat %s", shown);
    if (st.st_nlink == 0) {
        errno = ENOENT;
        return nvc_error_sys(err, "fstat", shown, "%s was removed while being resolved", shown);
    }
    rl = strlen(rootp);
    if (rl == 1) /* root "/" strips nothing */
        rl = 0;
    if (strncmp(p, rootp, rl) != 0 || (p[rl] != '/' && p[rl] != '\0'))
        return nvc_error_set(err, NVC_ERR_PATH_ESCAPE, 0, "resolve", shown, "%s resolves to %s, outside of the root %s",
                             shown, p, root_host_path ? root_host_path : rootp);
    rel = p[rl] != '\0' ? p + rl : "/";
    if (strlen(rel) >= outsz) {
        errno = ENAMETOOLONG;
        return nvc_error_sys(err, "resolve", shown, "the real path of %s does not fit", shown);
    }
    memcpy(out, rel, strlen(rel) + 1);
    return 0;
}

int nvc_path_reopen(int opath_fd, int flags, const char *path_for_errors, struct nvc_error *err)
{
    const char *shown = path_for_errors ? path_for_errors : "";
    struct stat before, after;
    char link[64];
    int fd;

    if (fstat(opath_fd, &before) < 0)
        return nvc_error_sys(err, "fstat", shown, "cannot stat %s", shown);
    snprintf(link, sizeof(link), "/proc/self/fd/%d", opath_fd);
    do
        fd = open(link, (flags & ~(O_CREAT | O_PATH | O_NOFOLLOW)) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return nvc_error_sys(err, "open", shown, "cannot reopen %s through %s", shown, link);
    if (fstat(fd, &after) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return nvc_error_sys(err, "fstat", shown, "cannot stat %s", shown);
    }
    if (after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
        close(fd);
        errno = ESTALE;
        return nvc_error_sys(err, "open", shown, "%s changed while being reopened", shown);
    }
    return fd;
}

int nvc_path_open_regular_in_root(int rootfd, const char *path, const char *path_for_errors, struct nvc_error *err)
{
    const char *shown = path_for_errors ? path_for_errors : path;
    struct stat st;
    int pfd, fd;

    pfd = nvc_path_open_in_root(rootfd, path, O_PATH, err);
    if (pfd < 0)
        return -1;
    if (fstat(pfd, &st) < 0) {
        nvc_error_sys(err, "fstat", shown, "cannot stat %s", shown);
        close(pfd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(pfd);
        nvc_error_set(err, NVC_ERR_SYSTEM, S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "open", shown,
                      "%s is not a regular file", shown);
        return NVC_PATH_NOT_REGULAR;
    }
    fd = nvc_path_reopen(pfd, O_RDONLY, shown, err);
    close(pfd);
    return fd;
}

int nvc_path_resolve_in_root(int rootfd, const char *root_host_path, const char *path, char *out, size_t outsz,
                             struct nvc_error *err)
{
    int fd = nvc_path_open_in_root(rootfd, path, O_PATH, err);
    int r;

    if (fd < 0)
        return -1;
    /* The name comes from the kernel's view of the fd now, checked to lie below the
     * root now: a directory renamed out of the root after the lookup fails here with
     * NVC_ERR_PATH_ESCAPE instead of yielding a path outside. */
    r = nvc_path_fd_in_root(rootfd, root_host_path, fd, path, out, outsz, err);
    close(fd);
    return r;
}

int nvc_path_join(char *out, size_t outsz, const char *root, const char *path)
{
    size_t rl = root ? strlen(root) : 0;
    int n;

    while (rl > 0 && root[rl - 1] == '/')
        rl--;
    n = snprintf(out, outsz, "%.*s%s%s", (int)rl, rl ? root : "", path[0] == '/' ? "" : "/", path);
    if (n < 0 || (size_t)n >= outsz) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

int nvc_path_lookup_missing(const struct nvc_error *e)
{
    if (e->code == NVC_ERR_PATH_ESCAPE)
        return 1;
    if (e->code != NVC_ERR_SYSTEM)
        return 0;
    switch (e->sys_errno) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case ENAMETOOLONG:
    case EACCES: return 1;
    default: return 0;
    }
}
