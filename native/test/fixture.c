#define _GNU_SOURCE
#include "fixture.h"
#include "nvc.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NVC_TEST_CC
#define NVC_TEST_CC "cc"
#endif
#ifndef NVC_TEST_LDCONFIG
#define NVC_TEST_LDCONFIG "/sbin/ldconfig"
#endif

extern char **environ;

static int fail(const char *what, const char *path)
{
    fprintf(stderr, "# fixture: %s %s: %s\n", what, path ? path : "", strerror(errno));
    return -1;
}

int fx_path(char *out, size_t outsz, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(out, outsz, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outsz) {
        errno = ENAMETOOLONG;
        return fail("path too long", out);
    }
    return 0;
}

int fx_tmpdir(char *out, size_t outsz)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(out, outsz, "%s/nvc-test-XXXXXX", base && *base ? base : "/tmp");

    if (n < 0 || (size_t)n >= outsz)
        return -1;
    if (mkdtemp(out) == NULL)
        return fail("mkdtemp", out);
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void fx_rmrf(const char *path)
{
    /* FTW_PHYS: never follow the fixture's links out of the tree; FTW_MOUNT: never
     * descend into something mounted there (a test's /proc). */
    nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int join(char *out, size_t outsz, const char *base, const char *rel)
{
    int n = snprintf(out, outsz, "%s/%s", base, rel);
    if (n < 0 || (size_t)n >= outsz) {
        errno = ENAMETOOLONG;
        return fail("path too long", rel);
    }
    return 0;
}

static int mkdir_p(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            *p = '/';
            return fail("mkdir", path);
        }
        *p = '/';
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return fail("mkdir", path);
    return 0;
}

static int mkdir_parent(const char *path)
{
    char dir[PATH_MAX];
    char *slash;

    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    return mkdir_p(dir);
}

int fx_mkdirs(const char *base, const char *rel)
{
    char p[PATH_MAX];
    if (join(p, sizeof(p), base, rel) < 0)
        return -1;
    return mkdir_p(p);
}

int fx_write(const char *base, const char *rel, const void *data, size_t len)
{
    char p[PATH_MAX];
    int fd;

    if (join(p, sizeof(p), base, rel) < 0 || mkdir_parent(p) < 0)
        return -1;
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (fd < 0)
        return fail("create", p);
    if (len > 0 && write(fd, data, len) != (ssize_t)len) {
        close(fd);
        return fail("write", p);
    }
    close(fd);
    return 0;
}

int fx_write_str(const char *base, const char *rel, const char *text)
{
    return fx_write(base, rel, text, strlen(text));
}

int fx_symlink(const char *base, const char *rel, const char *target)
{
    char p[PATH_MAX];

    if (join(p, sizeof(p), base, rel) < 0 || mkdir_parent(p) < 0)
        return -1;
    unlink(p);
    if (symlink(target, p) < 0)
        return fail("symlink", p);
    return 0;
}

int fx_read_file(const char *path, char **data, size_t *len)
{
    struct stat st;
    char *buf;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return fail("open", path);
    if (fstat(fd, &st) < 0) {
        close(fd);
        return fail("fstat", path);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL || read(fd, buf, (size_t)st.st_size) != st.st_size) {
        free(buf);
        close(fd);
        return fail("read", path);
    }
    close(fd);
    buf[st.st_size] = '\0';
    *data = buf;
    *len = (size_t)st.st_size;
    return 0;
}

/* Spawn argv; when outfd >= 0 the child's stdout is the pipe (outfd, wfd) and is
 * collected into buf before waiting. Returns the exit status. */
static int spawn_wait(char *const argv[], int outfd, int wfd, char *buf, size_t bufsz)
{
    posix_spawn_file_actions_t fa;
    size_t got = 0;
    pid_t pid;
    int status, r;

    posix_spawn_file_actions_init(&fa);
    if (outfd >= 0)
        posix_spawn_file_actions_adddup2(&fa, wfd, STDOUT_FILENO);
    r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (outfd >= 0)
        close(wfd);
    if (r != 0) {
        errno = r;
        return fail("spawn", argv[0]);
    }
    if (outfd >= 0) {
        for (;;) {
            char sink[4096];
            int room = got + 1 < bufsz;
            ssize_t n = read(outfd, room ? buf + got : sink, room ? bufsz - 1 - got : sizeof(sink));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            if (room)
                got += (size_t)n;
        }
        buf[got] = '\0';
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return fail("waitpid", argv[0]);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int fx_run(char *const argv[])
{
    return spawn_wait(argv, -1, -1, NULL, 0);
}

int fx_run_output(char *const argv[], char *buf, size_t bufsz)
{
    int p[2], r;

    if (bufsz == 0 || pipe2(p, O_CLOEXEC) < 0)
        return -1;
    r = spawn_wait(argv, p[0], p[1], buf, bufsz);
    close(p[0]);
    return r;
}

const char *fx_cc(void)
{
    static const char *cc = NVC_TEST_CC;
    return cc[0] ? cc : NULL;
}

const char *fx_ldconfig(void)
{
    static const char *ld = NVC_TEST_LDCONFIG;
    return ld[0] && access(ld, X_OK) == 0 ? ld : NULL;
}

/* Objects are compiled once per variant into a scratch dir and only linked per
 * soname: linking is what varies, and it is several times faster than compiling. */
static char scratch[PATH_MAX];

static void scratch_cleanup(void)
{
    if (scratch[0])
        fx_rmrf(scratch);
}

static const char *scratch_dir(void)
{
    if (!scratch[0]) {
        if (fx_tmpdir(scratch, sizeof(scratch)) < 0) {
            scratch[0] = '\0';
            return NULL;
        }
        atexit(scratch_cleanup);
    }
    return scratch;
}

static int object_for(const char *abi, int m32, char *obj, size_t objsz)
{
    unsigned maj = 0, min = 0, pat = 0;
    char src[PATH_MAX], text[1024];
    const char *dir = scratch_dir();
    const char *cc = fx_cc();

    if (dir == NULL || cc == NULL)
        return -1;
    if (abi && sscanf(abi, "%u.%u.%u", &maj, &min, &pat) != 3)
        return -1;
    snprintf(obj, objsz, "%s/obj-%s-%d.o", dir, abi ? abi : "none", m32);
    if (access(obj, R_OK) == 0)
        return 0;
    snprintf(src, sizeof(src), "%s/src-%s-%d.c", dir, abi ? abi : "none", m32);
    if (abi)
        snprintf(text, sizeof(text),
                 "__asm__(\".section .note.ABI-tag,\\\"a\\\",@note\\n.p2align 2\\n"
                 ".long 4\\n.long 16\\n.long 1\\n.asciz \\\"GNU\\\"\\n"
                 ".long 0\\n.long %u\\n.long %u\\n.long %u\\n.previous\\n\");\n"
                 "int nvc_fixture_fn(void) { return 1; }\n",
                 maj, min, pat);
    else
        snprintf(text, sizeof(text), "int nvc_fixture_fn(void) { return 1; }\n");
    if (fx_write_str("/", src, text) < 0)
        return -1;
    {
        char *argv64[] = {(char *)cc, "-fPIC", "-O0", "-c", src, "-o", obj, NULL};
        char *argv32[] = {(char *)cc, "-m32", "-fPIC", "-O0", "-c", src, "-o", obj, NULL};
        if (fx_run(m32 ? argv32 : argv64) != 0) {
            fprintf(stderr, "# fixture: compiling %s failed\n", src);
            return -1;
        }
    }
    return 0;
}

int fx_build_so(const char *base, const char *rel, const char *soname, const char *abi, int m32)
{
    char obj[PATH_MAX], out[PATH_MAX], sonameopt[512];

    if (object_for(abi, m32, obj, sizeof(obj)) < 0 || join(out, sizeof(out), base, rel) < 0 || mkdir_parent(out) < 0)
        return -1;
    snprintf(sonameopt, sizeof(sonameopt), "-Wl,-soname,%s", soname);
    {
        /* i386 without -lgcc/libc: the test machine need not have 32-bit libraries. */
        char *argv64[] = {(char *)fx_cc(), "-shared", sonameopt, obj, "-o", out, NULL};
        char *argv32[] = {(char *)fx_cc(), "-m32", "-shared", "-nostdlib", sonameopt, obj, "-o", out, NULL};
        if (fx_run(m32 ? argv32 : argv64) != 0) {
            fprintf(stderr, "# fixture: linking %s failed\n", out);
            return -1;
        }
    }
    return 0;
}

int fx_can_m32(void)
{
    static int known = -1;
    char dir[PATH_MAX];

    if (known >= 0)
        return known;
    known = 0;
    if (fx_tmpdir(dir, sizeof(dir)) == 0) {
        known = fx_build_so(dir, "probe.so", "probe.so", NULL, 1) == 0;
        fx_rmrf(dir);
    }
    return known;
}

int fx_make_ldcache(const char *root, const char *const dirs[])
{
    char conf[8192] = "";
    size_t n = 0;
    const char *ld = fx_ldconfig();

    if (ld == NULL)
        return -1;
    for (size_t i = 0; dirs[i]; i++) {
        int w = snprintf(conf + n, sizeof(conf) - n, "%s\n", dirs[i]);
        if (w < 0 || (size_t)w >= sizeof(conf) - n)
            return -1;
        n += (size_t)w;
    }
    if (fx_write_str(root, "etc/ld.so.conf", conf) < 0)
        return -1;
    {
        char *argv[] = {(char *)ld, "-r", (char *)root, NULL};
        if (fx_run(argv) != 0) {
            fprintf(stderr, "# fixture: ldconfig -r %s failed\n", root);
            return -1;
        }
    }
    return 0;
}

int fx_host(struct nvc_host *host, const char *root, const char *tmp, const char *bin_path)
{
    memset(host, 0, sizeof(*host));
    if (fx_path(host->root, sizeof(host->root), "%s", root) < 0 ||
        fx_path(host->ldcache, sizeof(host->ldcache), "/etc/ld.so.cache") < 0 ||
        fx_path(host->proc_root, sizeof(host->proc_root), "%s/proc", tmp) < 0 ||
        fx_path(host->dev_root, sizeof(host->dev_root), "%s/dev", tmp) < 0 ||
        fx_path(host->sys_root, sizeof(host->sys_root), "%s/sys", tmp) < 0 ||
        fx_path(host->bin_path, sizeof(host->bin_path), "%s", bin_path) < 0)
        return -1;
    return 0;
}
