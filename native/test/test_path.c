#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"
#include "path.h"

/* Fixture: T/root is the root. T itself holds decoys (T/etc/passwd-inside says
 * OUTSIDE) that any escape from the root would reach. */
static char T[PATH_MAX], R[PATH_MAX];
static int rootfd = -1;

static int setup(void)
{
    char target[PATH_MAX], name[64];

    if (fx_tmpdir(T, sizeof(T)) < 0)
        return -1;
    fx_path(R, sizeof(R), "%s/root", T);
    fx_path(target, sizeof(target), "%s/secret", T);
    if (fx_write_str(T, "etc/passwd-inside", "OUTSIDE\n") < 0 || fx_write_str(T, "secret", "OUTSIDE\n") < 0 ||
        fx_write_str(R, "etc/passwd-inside", "inside\n") < 0 ||
        fx_write_str(R, "usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04", "lib") < 0 ||
        fx_symlink(R, "usr/lib/x86_64-linux-gnu/libcuda.so.1", "libcuda.so.580.159.04") < 0 ||
        fx_symlink(R, "abs_escape", "/etc") < 0 || fx_symlink(R, "rel_escape", "../../../../../../etc") < 0 ||
        fx_symlink(R, "abs_secret", target) < 0 || fx_symlink(R, "rel_secret", "../secret") < 0 ||
        fx_symlink(R, "lib", "usr/lib") < 0 || fx_symlink(R, "lnk_deep", "usr/lib/x86_64-linux-gnu") < 0 ||
        fx_symlink(R, "var/run", "../run") < 0 || fx_write_str(R, "run/nvidia-persistenced/socket", "") < 0 ||
        fx_symlink(R, "loop1", "loop2") < 0 || fx_symlink(R, "loop2", "loop1") < 0 ||
        fx_symlink(R, "self", "self") < 0 || fx_symlink(R, "rootlink", "/") < 0 ||
        fx_symlink(R, "dangling", "/nonexistent") < 0 || fx_symlink(R, "usr/lib/up", "../../..") < 0 ||
        fx_symlink(R, "proc_like", "/proc/self/root") < 0 || fx_mkdirs(R, "race_dir/etc") < 0 ||
        fx_write_str(R, "race_dir/etc/passwd-inside", "inside\n") < 0)
        return -1;
    /* Chains of exactly 40 (allowed) and 41 (ELOOP) links. */
    for (int i = 0; i < 41; i++) {
        char next[64];
        fx_path(name, sizeof(name), "c%d", i);
        fx_path(next, sizeof(next), "c%d", i + 1);
        if (i == 39)
            fx_path(next, sizeof(next), "etc/passwd-inside");
        if (i < 40 && fx_symlink(R, name, next) < 0)
            return -1;
        fx_path(name, sizeof(name), "d%d", i);
        fx_path(next, sizeof(next), "d%d", i + 1);
        if (i == 40)
            fx_path(next, sizeof(next), "etc/passwd-inside");
        if (fx_symlink(R, name, next) < 0)
            return -1;
    }
    rootfd = open(R, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return rootfd < 0 ? -1 : 0;
}

struct resolve_case {
    const char *path;
    int err;          /* expected errno, 0 for success */
    const char *real; /* expected real path inside the root */
};

static const struct resolve_case cases[] = {
    {"/usr/lib/x86_64-linux-gnu/libcuda.so.1", 0, "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04"},
    {"usr/lib/x86_64-linux-gnu/libcuda.so.1", 0, "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04"},
    {"/lib/x86_64-linux-gnu/libcuda.so.1", 0, "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04"},
    {"/lnk_deep/libcuda.so.1", 0, "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04"},
    {"/abs_escape/passwd-inside", 0, "/etc/passwd-inside"},
    {"/rel_escape/passwd-inside", 0, "/etc/passwd-inside"},
    {"/../../../etc/passwd-inside", 0, "/etc/passwd-inside"},
    {"../../../etc/passwd-inside", 0, "/etc/passwd-inside"},
    {"/usr/../../../../etc/passwd-inside", 0, "/etc/passwd-inside"},
    {"/usr/lib/up/etc/passwd-inside", 0, "/etc/passwd-inside"},
    {"/rootlink/etc/../etc/passwd-inside", 0, "/etc/passwd-inside"},
    {"/abs_secret", ENOENT, NULL},
    {"/rel_secret", ENOENT, NULL},
    {"/", 0, "/"},
    {".", 0, "/"},
    {"..", 0, "/"},
    {"/rootlink", 0, "/"},
    {"/lnk_deep/..", 0, "/usr/lib"},
    {"/lnk_deep/../../..", 0, "/"},
    {"/lib/", 0, "/usr/lib"},
    {"//usr///lib//./x86_64-linux-gnu/", 0, "/usr/lib/x86_64-linux-gnu"},
    {"/var/run/nvidia-persistenced/socket", 0, "/run/nvidia-persistenced/socket"},
    {"/c0", 0, "/etc/passwd-inside"},
    {"/d0", ELOOP, NULL},
    {"/loop1", ELOOP, NULL},
    {"/self", ELOOP, NULL},
    {"/self/x", ELOOP, NULL},
    {"/dangling", ENOENT, NULL},
    {"/etc/passwd-inside/x", ENOTDIR, NULL},
    {"/etc/passwd-inside/", ENOTDIR, NULL},
    {"/nonexistent/x", ENOENT, NULL},
    {"", ENOENT, NULL},
    {"/proc_like", ENOENT, NULL}, /* no /proc in this root (yet) */
};

static int check_case(const struct resolve_case *c, const char *mode)
{
    char out[PATH_MAX];
    struct nvc_error err;
    int r = nvc_path_resolve_in_root(rootfd, R, c->path, out, sizeof(out), &err);

    if (c->err == 0 && (r != 0 || strcmp(out, c->real) != 0)) {
        fprintf(stderr, "# [%s] %s: expected %s, got %s (%s, errno %d)\n", mode, c->path, c->real,
                r == 0 ? out : "error", r == 0 ? "" : err.msg, r == 0 ? 0 : err.sys_errno);
        return -1;
    }
    if (c->err != 0 && (r == 0 || err.code != NVC_ERR_SYSTEM || err.sys_errno != c->err)) {
        fprintf(stderr, "# [%s] %s: expected errno %d, got %s (%s, errno %d)\n", mode, c->path, c->err,
                r == 0 ? out : "error", r == 0 ? "" : err.msg, r == 0 ? 0 : err.sys_errno);
        return -1;
    }
    return 0;
}

static int run_cases(const struct resolve_case *cs, size_t n)
{
    int failed = 0;
    for (int fb = 0; fb <= 1; fb++) {
        nvc_path_force_fallback = fb;
        for (size_t i = 0; i < n; i++)
            failed |= check_case(&cs[i], fb ? "fallback" : "openat2") < 0;
    }
    nvc_path_force_fallback = 0;
    return failed ? -1 : 0;
}

static int test_resolve_table(void)
{
    return run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static int read_via(const char *path, char *buf, size_t bufsz)
{
    struct nvc_error err;
    int fd = nvc_path_open_in_root(rootfd, path, O_RDONLY, &err);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, bufsz - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* The escape links must read the root's file, never the decoy next to the root. */
static int test_contents_stay_inside(void)
{
    const char *paths[] = {"/abs_escape/passwd-inside", "/rel_escape/passwd-inside", "/../etc/passwd-inside",
                           "/usr/lib/up/etc/passwd-inside", "/c0"};
    char buf[64];

    for (int fb = 0; fb <= 1; fb++) {
        nvc_path_force_fallback = fb;
        for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
            CHECK(read_via(paths[i], buf, sizeof(buf)) == 0);
            CHECK_STR(buf, "inside\n");
        }
    }
    nvc_path_force_fallback = 0;
    return 0;
}

static int open_flags(const char *path, int flags, struct stat *st, int *err_out)
{
    struct nvc_error err;
    int fd = nvc_path_open_in_root(rootfd, path, flags, &err);

    if (fd < 0) {
        *err_out = err.sys_errno;
        return -1;
    }
    *err_out = 0;
    if (st != NULL)
        fstat(fd, st);
    close(fd);
    return 0;
}

static int test_flags(void)
{
    struct stat st;
    int e;

    for (int fb = 0; fb <= 1; fb++) {
        nvc_path_force_fallback = fb;
        /* O_PATH|O_NOFOLLOW gives the link itself, as openat2 does. */
        CHECK(open_flags("/usr/lib/x86_64-linux-gnu/libcuda.so.1", O_PATH | O_NOFOLLOW, &st, &e) == 0);
        CHECK(S_ISLNK(st.st_mode));
        CHECK(open_flags("/usr/lib/x86_64-linux-gnu/libcuda.so.1", O_RDONLY | O_NOFOLLOW, NULL, &e) < 0);
        CHECK(e == ELOOP);
        /* A trailing slash follows even with O_NOFOLLOW. */
        CHECK(open_flags("/lib/", O_PATH | O_NOFOLLOW, &st, &e) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK(open_flags("/etc/passwd-inside", O_RDONLY | O_DIRECTORY, NULL, &e) < 0);
        CHECK(e == ENOTDIR);
        CHECK(open_flags("/lnk_deep", O_RDONLY | O_DIRECTORY, &st, &e) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK(open_flags("/", O_RDONLY, &st, &e) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK(open_flags("/etc/new-file", O_WRONLY | O_CREAT, NULL, &e) < 0);
        CHECK(e == EINVAL);
    }
    nvc_path_force_fallback = 0;
    return 0;
}

static int test_fd_outside_root(void)
{
    char p[PATH_MAX], out[PATH_MAX];
    struct nvc_error err;
    int fd;

    fx_path(p, sizeof(p), "%s/etc", T);
    fd = open(p, O_PATH | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(nvc_path_fd_in_root(rootfd, R, fd, p, out, sizeof(out), &err) < 0);
    close(fd);
    CHECK(err.code == NVC_ERR_PATH_ESCAPE);
    CHECK(strstr(err.msg, "outside of the root") != NULL);

    /* A sibling whose name merely starts with the root's ("<root>X") is outside too:
     * the prefix must end at a '/'. */
    CHECK(fx_write_str(T, "rootX/file", "sibling\n") == 0);
    fx_path(p, sizeof(p), "%sX/file", R);
    fd = open(p, O_PATH | O_CLOEXEC);
    CHECK(fd >= 0);
    memset(&err, 0, sizeof(err));
    CHECK(nvc_path_fd_in_root(rootfd, R, fd, p, out, sizeof(out), &err) < 0);
    close(fd);
    CHECK(err.code == NVC_ERR_PATH_ESCAPE);
    return 0;
}

/* The walk reopens the last component through /proc/self/fd/N, and what it gets must be
 * the inode it checked. With procfs there it always is; a /proc/self/fd that is not
 * procfs (here a tmpfs mounted over it in a private mount namespace, each "N" a file of
 * its own) hands back another file, which must be refused (ESTALE), not returned. */
static int test_reopen_checks_inode(void)
{
    char fddir[64], name[16], buf[64];
    struct nvc_error err;
    int fd, mounted;
    ssize_t n;

    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fprintf(stderr, "# unshare/mount: %s\n", strerror(errno));
        return test_absent("mountns", "a /proc/self/fd that is not procfs");
    }
    snprintf(fddir, sizeof(fddir), "/proc/%d/fd", (int)getpid());
    mounted = mount("tmpfs", fddir, "tmpfs", 0, "mode=0700") == 0;
    if (!mounted)
        fprintf(stderr, "# mount tmpfs on %s: %s\n", fddir, strerror(errno));
    CHECK(mounted);
    for (int i = 0; i < 256; i++) {
        snprintf(name, sizeof(name), "%d", i);
        if (fx_write_str(fddir, name, "not the file\n") < 0)
            break;
    }
    nvc_path_force_fallback = 1;
    fd = nvc_path_open_in_root(rootfd, "/etc/passwd-inside", O_RDONLY, &err);
    nvc_path_force_fallback = 0;
    umount2(fddir, MNT_DETACH);
    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf) - 1);
        buf[n > 0 ? n : 0] = '\0';
        fprintf(stderr, "# reopened something else than the checked file: \"%s\"\n", buf);
        close(fd);
        return -1;
    }
    CHECK(err.sys_errno == ESTALE);
    return 0;
}

/* Root "/" strips nothing; a root reached through a symlink still strips its prefix. */
static int test_other_roots(void)
{
    char p[PATH_MAX], real[PATH_MAX], out[PATH_MAX], expect[PATH_MAX + 64];
    struct nvc_error err;
    int fd;

    CHECK(realpath(R, real) != NULL);
    fx_path(p, sizeof(p), "%s/usr/lib/x86_64-linux-gnu/libcuda.so.1", R);
    fx_path(expect, sizeof(expect), "%s/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04", real);
    fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(nvc_path_resolve_in_root(fd, "/", p, out, sizeof(out), &err) == 0);
    close(fd);
    CHECK_STR(out, expect);

    CHECK(fx_symlink(T, "rootlink", "root") == 0);
    fx_path(p, sizeof(p), "%s/rootlink", T);
    fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(nvc_path_resolve_in_root(fd, p, "/lib/x86_64-linux-gnu/libcuda.so.1", out, sizeof(out), &err) == 0);
    CHECK_STR(out, "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04");
    /* Too small an output buffer is an error, not a truncated path. */
    CHECK(nvc_path_resolve_in_root(fd, p, "/lib/x86_64-linux-gnu/libcuda.so.1", out, 10, &err) < 0);
    CHECK(err.sys_errno == ENAMETOOLONG);
    close(fd);
    return 0;
}

/* Reopening an O_PATH fd reads the very file resolved; a FIFO does not block. */
static int test_reopen(void)
{
    struct nvc_error err;
    char buf[64], p[PATH_MAX];
    ssize_t n;
    int pfd, fd;

    pfd = nvc_path_open_in_root(rootfd, "/abs_escape/passwd-inside", O_PATH, &err);
    CHECK(pfd >= 0);
    fd = nvc_path_reopen(pfd, O_RDONLY, "passwd-inside", &err);
    close(pfd);
    CHECK(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    CHECK(n == 7);
    buf[n] = '\0';
    CHECK_STR(buf, "inside\n");
    CHECK(fx_path(p, sizeof(p), "%s/fifo", R) == 0);
    CHECK(mkfifo(p, 0600) == 0);
    pfd = nvc_path_open_in_root(rootfd, "/fifo", O_PATH, &err);
    CHECK(pfd >= 0);
    fd = nvc_path_reopen(pfd, O_RDONLY, "fifo", &err);
    close(pfd);
    CHECK(fd >= 0);
    close(fd);
    return 0;
}

/* openat2 refused as a seccomp profile would (EPERM, old Docker), as a kernel that does
 * not know the resolve flags would (EINVAL), or missing (ENOSYS): the walk takes over,
 * gives the same answers, and the decision holds for the rest of the process. */
static int test_openat2_refused(void)
{
    const int errnos[] = {EPERM, EINVAL, ENOSYS};
    struct nvc_error err;
    char buf[64];
    int failed = 0, fd;

    for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++) {
        nvc_path_test_reset_openat2();
        nvc_path_test_openat2_errno = errnos[i];
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
            failed |= check_case(&cases[c], "openat2 refused") < 0;
        nvc_path_test_openat2_errno = 0;
        CHECK(!failed);
        CHECK(read_via("/abs_escape/passwd-inside", buf, sizeof(buf)) == 0);
        CHECK_STR(buf, "inside\n");
#ifndef NVC_PATH_NO_OPENAT2
        /* Decided once: openat2 working again changes nothing (no second probe). */
        CHECK(nvc_path_openat2_usable() == 0);
#endif
    }
    nvc_path_test_reset_openat2();
#ifndef NVC_PATH_NO_OPENAT2
    CHECK(read_via("/etc/passwd-inside", buf, sizeof(buf)) == 0);
    if (nvc_path_openat2_usable() != 1) {
        nvc_path_test_reset_openat2();
        return test_absent_part("openat2", "the genuine-error half (openat2 known to work)");
    }
    /* Once openat2 is known to work, EPERM is the file's answer, not a reason to walk. */
    nvc_path_test_openat2_errno = EPERM;
    fd = nvc_path_open_in_root(rootfd, "/etc/passwd-inside", O_RDONLY, &err);
    nvc_path_test_openat2_errno = 0;
    if (fd >= 0)
        close(fd);
    CHECK(fd < 0 && err.sys_errno == EPERM);
    CHECK(nvc_path_openat2_usable() == 1);
    /* A real EINVAL before anything was decided (flag bits openat2 does not know): the
     * probe finds openat2 working and the EINVAL is the answer. */
    nvc_path_test_reset_openat2();
    fd = nvc_path_open_in_root(rootfd, "/etc/passwd-inside", O_RDONLY | (1 << 30), &err);
    if (fd >= 0)
        close(fd);
    CHECK(fd < 0 && err.sys_errno == EINVAL);
    CHECK(nvc_path_openat2_usable() == 1);
#else
    (void)err;
    (void)fd;
#endif
    nvc_path_test_reset_openat2();
    return 0;
}

/* A blocking open interrupted by SIGALRM fails with EINTR instead of hanging the test. */
static void on_alarm(int sig)
{
    (void)sig;
}

static void arm_alarm(unsigned seconds)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(seconds);
}

/* What the walk's test hook renames over the last component, once. */
static const char *swap_in;
static int swapped;

static void swap_hook(int dirfd, const char *name)
{
    if (swap_in != NULL && renameat(dirfd, swap_in, dirfd, name) == 0)
        swapped = 1;
    swap_in = NULL;
}

static int make_swap_in(const char *kind, const char *p)
{
    if (strcmp(kind, "fifo") == 0)
        return mkfifo(p, 0600);
    if (strcmp(kind, "device") == 0)
        return mknod(p, S_IFCHR | 0600, makedev(1, 3)); /* /dev/null's numbers */
    if (strcmp(kind, "symlink") == 0)
        return symlink("../../secret", p);
    (void)p;
    return fx_write_str(R, "swap/in", "OTHER\n");
}

/* The walk checks the last component, then opens it: whatever is renamed over the name
 * in between (a FIFO that would block, a device node, another file, a link out) is not
 * what gets opened; the inode checked is. */
static int test_walk_swap_last(void)
{
    const char *kinds[] = {"fifo", "device", "file", "symlink"};
    char target[PATH_MAX], in[PATH_MAX], buf[64];
    struct nvc_error err;
    struct stat st;
    ssize_t n;
    int fd;

    CHECK(fx_mkdirs(R, "swap") == 0);
    CHECK(fx_path(target, sizeof(target), "%s/swap/target", R) == 0);
    CHECK(fx_path(in, sizeof(in), "%s/swap/in", R) == 0);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        unlink(target);
        unlink(in);
        CHECK(fx_write_str(R, "swap/target", "inside\n") == 0);
        if (make_swap_in(kinds[i], in) < 0) {
            /* Only mknod may be refused (no CAP_MKNOD), and only when declared. */
            CHECK(strcmp(kinds[i], "device") == 0);
            fprintf(stderr, "# mknod: %s\n", strerror(errno));
            if (test_absent_part("mknod", "swapping a device node in") < 0)
                return -1;
            continue;
        }
        nvc_path_force_fallback = 1;
        nvc_path_test_before_reopen = swap_hook;
        swap_in = "in";
        swapped = 0;
        arm_alarm(3);
        fd = nvc_path_open_in_root(rootfd, "/swap/target", O_RDONLY, &err);
        alarm(0);
        nvc_path_test_before_reopen = NULL;
        nvc_path_force_fallback = 0;
        if (fd < 0)
            fprintf(stderr, "# %s swapped in: %s (errno %d)\n", kinds[i], err.msg, err.sys_errno);
        CHECK(swapped);
        CHECK(fd >= 0);
        CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        CHECK(n == 7);
        buf[n] = '\0';
        CHECK_STR(buf, "inside\n");
        /* The swap did happen: the name is now the other thing. */
        CHECK(lstat(target, &st) == 0 && st.st_size != 7);
    }
    /* A directory is reopened through its own fd as well. */
    nvc_path_force_fallback = 1;
    fd = nvc_path_open_in_root(rootfd, "/swap", O_RDONLY | O_DIRECTORY, &err);
    nvc_path_force_fallback = 0;
    CHECK(fd >= 0);
    CHECK(fstat(fd, &st) == 0 && S_ISDIR(st.st_mode));
    close(fd);
    unlink(target);
    unlink(in);
    return 0;
}

/* The regular-file opener: regular files (through links, inside the root) only;
 * FIFOs, device nodes and directories are refused without being opened. */
static int test_open_regular(void)
{
    char p[PATH_MAX], buf[64];
    struct nvc_error err;
    int have_dev, fd, fl;
    ssize_t n;

    CHECK(fx_path(p, sizeof(p), "%s/reg_fifo", R) == 0);
    CHECK(mkfifo(p, 0600) == 0);
    CHECK(fx_path(p, sizeof(p), "%s/reg_dev", R) == 0);
    have_dev = mknod(p, S_IFCHR | 0600, makedev(1, 3)) == 0;
    if (!have_dev) {
        fprintf(stderr, "# mknod: %s\n", strerror(errno));
        if (test_absent_part("mknod", "the device node case") < 0)
            return -1;
    }
    CHECK(fx_symlink(R, "reg_fifo_link", "/reg_fifo") == 0);

    for (int fb = 0; fb <= 1; fb++) {
        nvc_path_force_fallback = fb;
        fd = nvc_path_open_regular_in_root(rootfd, "/lib/x86_64-linux-gnu/libcuda.so.1", NULL, &err);
        CHECK(fd >= 0);
        fl = fcntl(fd, F_GETFL);
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        CHECK((fl & O_ACCMODE) == O_RDONLY);
        CHECK(n == 3);
        buf[n] = '\0';
        CHECK_STR(buf, "lib");
        fd = nvc_path_open_regular_in_root(rootfd, "/abs_escape/passwd-inside", "passwd", &err);
        CHECK(fd >= 0);
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        CHECK(n == 7);

        arm_alarm(3);
        fd = nvc_path_open_regular_in_root(rootfd, "/reg_fifo", NULL, &err);
        alarm(0);
        CHECK(fd == NVC_PATH_NOT_REGULAR);
        CHECK(err.code == NVC_ERR_SYSTEM && err.sys_errno == EINVAL && strstr(err.msg, "not a regular file"));
        arm_alarm(3);
        fd = nvc_path_open_regular_in_root(rootfd, "/reg_fifo_link", NULL, &err);
        alarm(0);
        CHECK(fd == NVC_PATH_NOT_REGULAR);
        if (have_dev) {
            fd = nvc_path_open_regular_in_root(rootfd, "/reg_dev", NULL, &err);
            CHECK(fd == NVC_PATH_NOT_REGULAR && err.sys_errno == EINVAL);
        }
        fd = nvc_path_open_regular_in_root(rootfd, "/lnk_deep", NULL, &err);
        CHECK(fd == NVC_PATH_NOT_REGULAR && err.sys_errno == EISDIR);
        fd = nvc_path_open_regular_in_root(rootfd, "/", NULL, &err);
        CHECK(fd == NVC_PATH_NOT_REGULAR && err.sys_errno == EISDIR);
        fd = nvc_path_open_regular_in_root(rootfd, "/abs_secret", NULL, &err);
        CHECK(fd == -1 && err.code == NVC_ERR_SYSTEM && err.sys_errno == ENOENT);
        fd = nvc_path_open_regular_in_root(rootfd, "/loop1", NULL, &err);
        CHECK(fd == -1 && err.sys_errno == ELOOP);
    }
    nvc_path_force_fallback = 0;
    return 0;
}

static int test_join(void)
{
    char out[64];

    CHECK(nvc_path_join(out, sizeof(out), "/", "/etc") == 0);
    CHECK_STR(out, "/etc");
    CHECK(nvc_path_join(out, sizeof(out), "/tmp/h/", "/etc") == 0);
    CHECK_STR(out, "/tmp/h/etc");
    CHECK(nvc_path_join(out, sizeof(out), "/tmp/h", "etc") == 0);
    CHECK_STR(out, "/tmp/h/etc");
    CHECK(nvc_path_join(out, sizeof(out), "", "/") == 0);
    CHECK_STR(out, "/");
    CHECK(nvc_path_join(out, 8, "/tmp/h", "/etc") < 0);
    CHECK(errno == ENAMETOOLONG);
    return 0;
}

/* /proc mounted inside the root: magic links are refused by both resolvers, plain
 * procfs links (/proc/self) and files are fine. Needs a private mount namespace. */
static int test_proc_magic_links(void)
{
    char proc[PATH_MAX], pid[32];
    const struct resolve_case magic[] = {
        {"/proc/self/exe", ELOOP, NULL},
        {"/proc/self/root/etc/passwd-inside", ELOOP, NULL},
        {"/proc/self/cwd", ELOOP, NULL},
        {"/proc/self/fd/0", ELOOP, NULL},
        {"/proc/thread-self/root", ELOOP, NULL},
        {"/proc_like", ELOOP, NULL},
        {"/proc/self", 0, pid},
        {"/proc/self/status", 0, NULL},
    };
    struct stat st;
    int e, r = 0, old_rootfd;

    fx_path(proc, sizeof(proc), "%s/proc", R);
    fx_path(pid, sizeof(pid), "/proc/%d", (int)getpid());
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fprintf(stderr, "# unshare/mount: %s\n", strerror(errno));
        return test_absent("mountns", "procfs inside the root");
    }
    CHECK(mkdir(proc, 0755) == 0); /* our own fixture tree: no excuse */
    if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
        mount("/proc", proc, NULL, MS_BIND | MS_REC, NULL) < 0) {
        fprintf(stderr, "# mount proc: %s\n", strerror(errno));
        rmdir(proc);
        return test_absent("mountns", "procfs inside the root");
    }
    /* An fd opened before unshare still sees the old namespace's mounts. */
    old_rootfd = rootfd;
    rootfd = open(R, O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (int fb = 0; fb <= 1 && rootfd >= 0; fb++) {
        nvc_path_force_fallback = fb;
        for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++) {
            if (magic[i].real == NULL && magic[i].err == 0) {
                /* A procfs file, opened for reading. */
                if (open_flags(magic[i].path, O_RDONLY, NULL, &e) < 0) {
                    fprintf(stderr, "# [%d] %s: errno %d\n", fb, magic[i].path, e);
                    r = -1;
                }
                continue;
            }
            if (check_case(&magic[i], fb ? "fallback" : "openat2") < 0)
                r = -1;
        }
        /* The magic link itself may be had as O_PATH|O_NOFOLLOW, as with openat2. */
        if (open_flags("/proc/self/exe", O_PATH | O_NOFOLLOW, &st, &e) < 0 || !S_ISLNK(st.st_mode)) {
            fprintf(stderr, "# [%d] O_PATH|O_NOFOLLOW /proc/self/exe: errno %d\n", fb, e);
            r = -1;
        }
    }
    nvc_path_force_fallback = 0;
    if (rootfd < 0)
        r = -1;
    else
        close(rootfd);
    rootfd = old_rootfd;
    umount2(proc, MNT_DETACH);
    rmdir(proc);
    return r;
}

/* A thread keeps swapping R/race between a real directory and symlinks that try to
 * leave the root; no resolution may ever reach the decoy outside. */
static atomic_int race_stop;

static void *race_swapper(void *arg)
{
    char dir[PATH_MAX], lnk[PATH_MAX], tmp[PATH_MAX], abs_target[PATH_MAX];
    unsigned i = 0;

    (void)arg;
    fx_path(dir, sizeof(dir), "%s/race_dir", R);
    fx_path(lnk, sizeof(lnk), "%s/race", R);
    fx_path(tmp, sizeof(tmp), "%s/race_tmp", R);
    fx_path(abs_target, sizeof(abs_target), "%s", T);
    while (!atomic_load(&race_stop)) {
        const char *targets[] = {"race_dir", "../../../..", abs_target, "/../.."};
        unlink(tmp);
        if (symlink(targets[i++ % 4], tmp) == 0)
            rename(tmp, lnk);
    }
    return NULL;
}

static int test_race_swap(void)
{
    pthread_t th;
    struct timespec start, now;
    int failed = 0, rounds = 0, ok = 0;
    char buf[64];

    if (fx_symlink(R, "race", "race_dir") < 0)
        return -1;
    atomic_store(&race_stop, 0);
    CHECK(pthread_create(&th, NULL, race_swapper, NULL) == 0); /* not a feature: an error */
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int fb = 0; fb <= 1; fb++) {
            nvc_path_force_fallback = fb;
            if (read_via("/race/etc/passwd-inside", buf, sizeof(buf)) == 0) {
                ok++;
                if (strcmp(buf, "inside\n") != 0)
                    failed = 1;
            }
        }
        rounds++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < 1);
    atomic_store(&race_stop, 1);
    pthread_join(th, NULL);
    nvc_path_force_fallback = 0;
    fprintf(stderr, "# race: %d rounds, %d successful opens\n", rounds, ok);
    CHECK(!failed);
    return 0;
}

static void teardown(void)
{
    if (rootfd >= 0)
        close(rootfd);
    if (T[0])
        fx_rmrf(T);
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_resolve_table),
        TEST(test_contents_stay_inside),
        TEST(test_flags),
        TEST(test_fd_outside_root),
        TEST(test_other_roots),
        TEST(test_reopen),
        TEST(test_openat2_refused),
        TEST(test_walk_swap_last),
        TEST(test_open_regular),
        TEST(test_join),
        TEST(test_race_swap),
        TEST(test_reopen_checks_inode),
        TEST(test_proc_magic_links),
    };
    return RUN_FIXTURE_TESTS(setup, teardown, tests);
}
