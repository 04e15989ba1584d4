#define _GNU_SOURCE
/* Tests of nvc_ldconfig_run and nvc-ts-ldconfig against the real glibc ldconfig, as root.
 * Each test builds a small Debian-like rootfs, starts a "container" (a sleep in its own
 * mount namespace, with proc/sysfs/tmpfs mounted inside its rootfs the way a runtime
 * would), runs ldconfig for it and checks the cache, the owner, the confinement, and
 * that neither the host's nor the container's mount table changed. Build and run with
 * native/test/ldconfig/build.sh. */

#include "../fixture.h"
#include "../harness.h"
#include "nvc_ldconfig.h"
#include "child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NVC_LC_HELPER
#define NVC_LC_HELPER "/tmp/nvc-ldconfig-test/nvc-ts-ldconfig"
#endif
#ifndef NVC_LC_PROBE
#define NVC_LC_PROBE "/tmp/nvc-ldconfig-test/probe"
#endif
#ifndef NVC_LC_HOG
#define NVC_LC_HOG "/tmp/nvc-ldconfig-test/hog"
#endif

extern char **environ;

#define MULTIARCH_REL "usr/lib/x86_64-linux-gnu"
#define MULTIARCH     "/" MULTIARCH_REL
#define EXTRA_DIR_REL "usr/local/nvtest/lib"
#define EXTRA_DIR     "/" EXTRA_DIR_REL

struct box {
    char dir[PATH_MAX];    /* temp dir holding everything */
    char rootfs[PATH_MAX]; /* dir/rootfs */
    pid_t cpid;            /* the container process (its mount namespace) */
    int mounted;           /* proc/sys/tmp mounted in the container's namespace */
    const char *sysfs_at;  /* where the runtime mounts sysfs (default "sys") */
};

/* ---- fixtures ---- */

static int copy_file(const char *src, const char *base, const char *rel, mode_t mode)
{
    char *data;
    size_t len;
    char dst[PATH_MAX];
    if (fx_read_file(src, &data, &len) < 0)
        return -1;
    int r = fx_write(base, rel, data, len);
    free(data);
    if (r < 0 || fx_path(dst, sizeof(dst), "%s/%s", base, rel) < 0)
        return -1;
    return chmod(dst, mode);
}

/* etc/ld.so.conf including ld.so.conf.d, one multiarch dir with two tiny libraries, an
 * extra dir only named on ldconfig's command line, and the runtime's mount points. */
static int make_rootfs(struct box *b)
{
    const char *r = b->rootfs;
    if (fx_write_str(r, "etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n") < 0 ||
        fx_write_str(r, "etc/ld.so.conf.d/x86_64-linux-gnu.conf",
                     "/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n" MULTIARCH "\n") < 0 ||
        fx_write_str(r, "etc/debian_version", "12.11\n") < 0 ||
        fx_build_so(r, MULTIARCH_REL "/libfoo.so.1.0.0", "libfoo.so.1", NULL, 0) < 0 ||
        fx_build_so(r, MULTIARCH_REL "/libbar.so.2", "libbar.so.2", NULL, 0) < 0 ||
        fx_build_so(r, EXTRA_DIR_REL "/libnvtest.so.1", "libnvtest.so.1", NULL, 0) < 0)
        return -1;
    static const char *const dirs[] = {"proc", "sys", "dev", "tmp", "sbin", "var/cache"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (fx_mkdirs(r, dirs[i]) < 0)
            return -1;
    /* A device node in the image: the nodev bind must keep it closed. */
    char node[PATH_MAX];
    if (fx_path(node, sizeof(node), "%s/devnode", r) < 0 || mknod(node, S_IFCHR | 0666, makedev(1, 3)) < 0)
        return -1;
    return 0;
}

static int put_real_ldconfig(struct box *b)
{
    return copy_file("/sbin/ldconfig", b->rootfs, "sbin/ldconfig", 0755);
}

/* /bin/sh (dash) with its libraries, for script "ldconfig"s. */
static int put_shell(struct box *b)
{
    if (copy_file("/bin/dash", b->rootfs, "bin/sh", 0755) < 0 ||
        copy_file("/lib/x86_64-linux-gnu/libc.so.6", b->rootfs, "lib/x86_64-linux-gnu/libc.so.6", 0755) < 0 ||
        copy_file("/lib64/ld-linux-x86-64.so.2", b->rootfs, "lib64/ld-linux-x86-64.so.2", 0755) < 0)
        return -1;
    return 0;
}

static int put_script(struct box *b, const char *text)
{
    return put_shell(b) < 0 || fx_write_str(b->rootfs, "sbin/ldconfig", text) < 0 ? -1 : 0;
}

static int spawn_argv(char *const argv[], pid_t *pid)
{
    int r = posix_spawnp(pid, argv[0], NULL, NULL, argv, environ);
    if (r != 0) {
        fprintf(stderr, "# spawn %s: %s\n", argv[0], strerror(r));
        return -1;
    }
    return 0;
}

static int ns_link(pid_t pid, const char *ns, char *out, size_t n)
{
    char path[64];
    if (pid > 0)
        snprintf(path, sizeof(path), "/proc/%ld/ns/%s", (long)pid, ns);
    else
        snprintf(path, sizeof(path), "/proc/self/ns/%s", ns);
    ssize_t len = readlink(path, out, n - 1);
    if (len < 0)
        return -1;
    out[len] = '\0';
    return 0;
}

static int nsenter_mount(struct box *b, const char *type, const char *rel)
{
    char pid[24], target[PATH_MAX];
    snprintf(pid, sizeof(pid), "%ld", (long)b->cpid);
    if (fx_path(target, sizeof(target), "%s/%s", b->rootfs, rel) < 0)
        return -1;
    char *argv[] = {"nsenter", "-t", pid, "-m", "mount", "-t", (char *)type, (char *)type, target, NULL};
    return fx_run(argv) == 0 ? 0 : -1;
}

/* A process in its own (private) mount namespace stands in for the container's init,
 * with what a runtime mounts into the rootfs before ldconfig runs. */
static int start_container(struct box *b)
{
    char *argv[] = {"unshare", "-m", "--propagation", "private", "sleep", "1000", NULL};
    char mine[128], theirs[128];
    if (spawn_argv(argv, &b->cpid) < 0 || ns_link(0, "mnt", mine, sizeof(mine)) < 0)
        return -1;
    for (int i = 0; i < 500; i++) { /* until unshare has switched namespaces */
        if (ns_link(b->cpid, "mnt", theirs, sizeof(theirs)) == 0 && strcmp(mine, theirs) != 0)
            break;
        usleep(2000);
    }
    if (strcmp(mine, theirs) == 0) {
        fprintf(stderr, "# the container never got its own mount namespace\n");
        return -1;
    }
    if (nsenter_mount(b, "proc", "proc") < 0 || nsenter_mount(b, "sysfs", b->sysfs_at ? b->sysfs_at : "sys") < 0 ||
        nsenter_mount(b, "tmpfs", "tmp") < 0)
        return -1;
    b->mounted = 1;
    return 0;
}

static int box_open(struct box *b, int with_ldconfig)
{
    memset(b, 0, sizeof(*b));
    if (fx_tmpdir(b->dir, sizeof(b->dir)) < 0 || fx_path(b->rootfs, sizeof(b->rootfs), "%s/rootfs", b->dir) < 0 ||
        make_rootfs(b) < 0 || (with_ldconfig && put_real_ldconfig(b) < 0))
        return -1;
    return 0;
}

static void box_close(struct box *b)
{
    if (b->cpid > 0) {
        kill(b->cpid, SIGKILL);
        waitpid(b->cpid, NULL, 0);
    }
    if (b->dir[0])
        fx_rmrf(b->dir);
}

static char *read_text(const char *path)
{
    char *data;
    size_t len;
    return fx_read_file(path, &data, &len) == 0 ? data : NULL;
}

/* The runs of the *_no_pivot tests enter the rootfs by MS_MOVE + chroot (--no-pivot). */
static int g_no_pivot;

/* Run the request for box b and check that no mount leaked into the host's or the
 * container's namespace. Returns nvc_ldconfig_run's result; *leak set on a leak. */
static int run(struct box *b, const char *ldconfig, uid_t uid, gid_t gid, unsigned timeout_ms,
               struct nvc_ldconfig_result *res, struct nvc_error *err, int *leak)
{
    static const char *const dirs[] = {EXTRA_DIR};
    char cpath[64];
    snprintf(cpath, sizeof(cpath), "/proc/%ld/mountinfo", (long)b->cpid);
    char *host_before = read_text("/proc/self/mountinfo");
    char *cnt_before = b->cpid > 0 ? read_text(cpath) : NULL;

    struct nvc_ldconfig_request req = {
        .pid = b->cpid,
        .rootfs = b->rootfs,
        .ldconfig = ldconfig,
        .dirs = dirs,
        .ndirs = 1,
        .uid = uid,
        .gid = gid,
        .timeout_ms = timeout_ms,
        .no_pivot = g_no_pivot,
    };
    memset(err, 0, sizeof(*err));
    int rc = nvc_ldconfig_run(NVC_LC_HELPER, &req, res, err);
    if (rc < 0)
        fprintf(stderr, "#   -> %s [%s] errno %d: %s\n", nvc_errcode_string(err->code), err->step, err->sys_errno,
                err->msg);
    else
        fprintf(stderr, "#   -> ran=%d warning=\"%s\"\n", res->ran, res->warning);

    char *host_after = read_text("/proc/self/mountinfo");
    char *cnt_after = b->cpid > 0 ? read_text(cpath) : NULL;
    *leak = !host_before || !host_after || strcmp(host_before, host_after) != 0 ||
            (b->cpid > 0 && (!cnt_before || !cnt_after || strcmp(cnt_before, cnt_after) != 0));
    if (*leak)
        fprintf(stderr, "# mount table changed!\n--- before\n%s--- after\n%s", host_before ? host_before : "",
                host_after ? host_after : "");
    free(host_before);
    free(host_after);
    free(cnt_before);
    free(cnt_after);
    return rc;
}

/* `ldconfig -p -C cache` on the host must resolve each soname to its container path. */
static int cache_resolves(const char *rootfs)
{
    char cache[PATH_MAX], out[16384];
    if (fx_path(cache, sizeof(cache), "%s/etc/ld.so.cache", rootfs) < 0)
        return 0;
    char *argv[] = {"/sbin/ldconfig", "-p", "-C", cache, NULL};
    if (fx_run_output(argv, out, sizeof(out)) != 0)
        return 0;
    static const char *const want[] = {
        "libfoo.so.1 (libc6,x86-64) => " MULTIARCH "/libfoo.so.1",
        "libbar.so.2 (libc6,x86-64) => " MULTIARCH "/libbar.so.2",
        "libnvtest.so.1 (libc6,x86-64) => " EXTRA_DIR "/libnvtest.so.1",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(out, want[i]) == NULL) {
            fprintf(stderr, "# cache lacks \"%s\":\n%s", want[i], out);
            return 0;
        }
    }
    return 1;
}

static int owned_by(const char *rootfs, const char *rel, uid_t uid, gid_t gid)
{
    char p[PATH_MAX];
    struct stat st;
    if (fx_path(p, sizeof(p), "%s/%s", rootfs, rel) < 0 || stat(p, &st) < 0)
        return 0;
    if (st.st_uid != uid || st.st_gid != gid) {
        fprintf(stderr, "# %s owned by %ld:%ld, wanted %ld:%ld\n", p, (long)st.st_uid, (long)st.st_gid, (long)uid,
                (long)gid);
        return 0;
    }
    return 1;
}

static int is_link_to(const char *rootfs, const char *rel, const char *want)
{
    char p[PATH_MAX], got[PATH_MAX];
    if (fx_path(p, sizeof(p), "%s/%s", rootfs, rel) < 0)
        return 0;
    ssize_t n = readlink(p, got, sizeof(got) - 1);
    if (n < 0)
        return 0;
    got[n] = '\0';
    return strcmp(got, want) == 0;
}

static int chown_tree(const char *path, uid_t uid, gid_t gid)
{
    char u[48];
    snprintf(u, sizeof(u), "%ld:%ld", (long)uid, (long)gid);
    char *argv[] = {"chown", "-hR", u, (char *)path, NULL};
    return fx_run(argv) == 0 ? 0 : -1;
}

/* ---- tests ---- */

/* Each test body gets a fresh box (and container); the box is torn down whatever the
 * body returns, so a failed CHECK leaves no process or directory behind. */
static int with_box(int real_ldconfig, int container, int (*body)(struct box *))
{
    struct box b;
    int rc = -1;
    if (box_open(&b, real_ldconfig) == 0 && (!container || start_container(&b) == 0))
        rc = body(&b);
    box_close(&b);
    return rc;
}

static int body_host_ldconfig(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    CHECK(run(b, "@/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == 0);
    CHECK(!leak);
    CHECK(res.ran == 1);
    CHECK(cache_resolves(b->rootfs));
    CHECK(owned_by(b->rootfs, "etc/ld.so.cache", 0, 0));
    return 0;
}

static int test_host_ldconfig(void)
{
    return with_box(0, 1, body_host_ldconfig);
}

static int body_container_ldconfig(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == 0);
    CHECK(!leak);
    CHECK(res.ran == 1);
    CHECK(cache_resolves(b->rootfs));
    CHECK(owned_by(b->rootfs, "etc/ld.so.cache", 0, 0));
    /* the SONAME link ldconfig made (in the budget view) reached the rootfs */
    CHECK(is_link_to(b->rootfs, MULTIARCH_REL "/libfoo.so.1", "libfoo.so.1.0.0"));
    CHECK(res.warning[0] == '\0'); /* nothing dropped: glibc's aux cache goes without a word */
    return 0;
}

static int test_container_ldconfig(void)
{
    return with_box(1, 1, body_container_ldconfig);
}

/* A rootfs owned by an unprivileged (e.g. user-namespace mapped) owner: the cache is
 * written as that owner, with both kinds of binary. */
static int body_unprivileged_owner(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    char cache[PATH_MAX];
    CHECK(chown_tree(b->rootfs, 100123, 100456) == 0);
    CHECK(run(b, "/sbin/ldconfig", 100123, 100456, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(cache_resolves(b->rootfs));
    CHECK(owned_by(b->rootfs, "etc/ld.so.cache", 100123, 100456));
    CHECK(fx_path(cache, sizeof(cache), "%s/etc/ld.so.cache", b->rootfs) == 0 && unlink(cache) == 0);
    CHECK(run(b, "@/sbin/ldconfig", 100123, 100456, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(cache_resolves(b->rootfs));
    CHECK(owned_by(b->rootfs, "etc/ld.so.cache", 100123, 100456));
    return 0;
}

static int test_unprivileged_owner(void)
{
    return with_box(1, 1, body_unprivileged_owner);
}

/* pid 0: our own mount namespace (the caller already runs where the rootfs is). */
static int test_own_namespace(void)
{
    return with_box(0, 0, body_host_ldconfig);
}

static int body_missing_ldconfig(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    char cache[PATH_MAX];
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == 0);
    CHECK(!leak);
    CHECK(res.ran == 0);
    CHECK(strstr(res.warning, "/sbin/ldconfig") != NULL);
    CHECK(fx_path(cache, sizeof(cache), "%s/etc/ld.so.cache", b->rootfs) == 0 && access(cache, F_OK) < 0);
    return 0;
}

static int test_missing_ldconfig_is_a_warning(void)
{
    return with_box(0, 1, body_missing_ldconfig);
}

static int body_failing_ldconfig(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    CHECK(put_script(b, "#!/bin/sh\necho \"ldconfig: it went wrong: $*\" >&2\nexit 3\n") == 0);
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == -1);
    CHECK(!leak);
    CHECK(err.code == NVC_ERR_LDCONFIG);
    CHECK(strstr(err.msg, "/sbin/ldconfig") != NULL);
    CHECK(strstr(err.msg, "exit status 3") != NULL);
    CHECK(strstr(err.msg, "it went wrong: -f /etc/ld.so.conf -C /etc/ld.so.cache " EXTRA_DIR) != NULL);
    return 0;
}

static int test_failing_ldconfig(void)
{
    return with_box(0, 1, body_failing_ldconfig);
}

/* A dynamically linked binary whose loader the image lacks: exec fails, an error. */
static int body_unexecutable_ldconfig(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    CHECK(copy_file("/bin/true", b->rootfs, "sbin/ldconfig", 0755) == 0);
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == -1);
    CHECK(!leak);
    CHECK(err.code == NVC_ERR_LDCONFIG && err.sys_errno == ENOENT);
    CHECK(strstr(err.msg, "loader is missing") != NULL);
    return 0;
}

static int test_unexecutable_ldconfig(void)
{
    return with_box(0, 1, body_unexecutable_ldconfig);
}

/* Ubuntu's /sbin/ldconfig is a shell wrapper that execs ldconfig.real: the shell and
 * the second exec must work under the confinement (the system call allow-list). */
static int body_wrapper_script(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    CHECK(copy_file("/sbin/ldconfig", b->rootfs, "sbin/ldconfig.real", 0755) == 0);
    CHECK(put_script(b, "#!/bin/sh\nif test $# = 0; then exit 9; fi\nexec /sbin/ldconfig.real \"$@\"\n") == 0);
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(cache_resolves(b->rootfs));
    return 0;
}

static int test_wrapper_script(void)
{
    return with_box(0, 1, body_wrapper_script);
}

static int no_process_runs(const char *needle)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)) != NULL) {
        char path[300], buf[4096];
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n > 0 ? n : 0] = '\0';
        if (strstr(buf, needle))
            found = 1;
    }
    if (d)
        closedir(d);
    return !found;
}

static int body_timeout(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    struct timespec t0, t1;
    CHECK(put_script(b, "#!/bin/sh\necho spinning\nwhile :; do :; done\n") == 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 300, &res, &err, &leak) == -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(!leak);
    CHECK(err.code == NVC_ERR_LDCONFIG && err.sys_errno == ETIMEDOUT);
    CHECK(strstr(err.msg, "within 300 ms") != NULL && strstr(err.msg, "spinning") != NULL);
    CHECK(t1.tv_sec - t0.tv_sec < 3);
    CHECK(no_process_runs("/bin/sh /sbin/ldconfig -f /etc/ld.so.conf"));
    return 0;
}

static int test_timeout_kills_everything(void)
{
    return with_box(0, 1, body_timeout);
}

/* Parse "key=value" lines of the probe's report. */
static const char *probe_value(const char *text, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && (p[klen] == '=' || p[klen] == ':')) {
            const char *v = p + klen + 1;
            while (*v == '\t' || *v == ' ')
                v++;
            size_t len = strcspn(v, "\n");
            snprintf(out, n, "%.*s", (int)len, v);
            return out;
        }
    }
    snprintf(out, n, "(missing)");
    return NULL;
}

#define PROBE_IS(text, key, want)                                                                                      \
    do {                                                                                                               \
        char v_[512];                                                                                                  \
        probe_value(text, key, v_, sizeof(v_));                                                                        \
        if (strcmp(v_, want) != 0) {                                                                                   \
            fprintf(stderr, "# %s:%d: probe %s = \"%s\", wanted \"%s\"\n", __FILE__, __LINE__, key, v_, want);         \
            return -1;                                                                                                 \
        }                                                                                                              \
    } while (0)

static int check_probe(struct box *b, uid_t uid, gid_t gid, const char *argv0, const char *exe)
{
    char path[PATH_MAX], v[512], want[PATH_MAX + 128];
    CHECK(fx_path(path, sizeof(path), "%s/etc/ld.so.cache", b->rootfs) == 0);
    char *text = read_text(path);
    CHECK(text != NULL);
    fprintf(stderr, "# probe (%s, uid %ld):\n", argv0, (long)uid);
    for (const char *p = text; *p && strncmp(p, "--- status", 10) != 0;) {
        size_t len = strcspn(p, "\n");
        fprintf(stderr, "#   %.*s\n", (int)len, p);
        p += len + (p[len] == '\n');
    }
    int ok = -1;
    unlink(path);
    PROBE_IS(text, "pid", "1");
    snprintf(want, sizeof(want), "%ld", (long)uid);
    PROBE_IS(text, "uid", want);
    snprintf(want, sizeof(want), "%ld", (long)gid);
    PROBE_IS(text, "gid", want);
    PROBE_IS(text, "env", "0");
    snprintf(want, sizeof(want), "%s -f /etc/ld.so.conf -C /etc/ld.so.cache " EXTRA_DIR, argv0);
    PROBE_IS(text, "argv", want);
    static const char *const caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    for (size_t i = 0; i < 5; i++)
        PROBE_IS(text, caps[i], "0000000000000000");
    PROBE_IS(text, "Groups", "");
    PROBE_IS(text, "NoNewPrivs", "1");
    PROBE_IS(text, "Seccomp", "2");
    snprintf(want, sizeof(want), "%ld\t%ld\t%ld\t%ld", (long)uid, (long)uid, (long)uid, (long)uid);
    PROBE_IS(text, "Uid", want);
    /* Its own pid, net, ipc, uts, mount and cgroup namespaces: none is the host's or the container's. */
    static const char *const ns[] = {"pid", "net", "ipc", "uts", "mnt", "cgroup"};
    for (size_t i = 0; i < 6; i++) {
        char key[32], host[128], cnt[128];
        snprintf(key, sizeof(key), "ns.%s", ns[i]);
        probe_value(text, key, v, sizeof(v));
        if (ns_link(0, ns[i], host, sizeof(host)) < 0 || ns_link(b->cpid, ns[i], cnt, sizeof(cnt)) < 0 ||
            strncmp(v, ns[i], strlen(ns[i])) != 0 || strcmp(v, host) == 0 || strcmp(v, cnt) == 0) {
            fprintf(stderr, "# %s namespace %s is shared (host %s, container %s)\n", ns[i], v, host, cnt);
            goto out;
        }
    }
    PROBE_IS(text, "socket", "38");            /* ENOSYS: the allow-list */
    PROBE_IS(text, "write_core_pattern", "2"); /* ENOENT: proc subset=pid has no /proc/sys */
    PROBE_IS(text, "open_devnode", "13");      /* EACCES: the rootfs bind is nodev */
    PROBE_IS(text, "fds", "0,1,2,");           /* nothing inherited but stdio */
    PROBE_IS(text, "dev", "fd,");              /* the image's /dev is covered */
    PROBE_IS(text, "sys", "");                 /* the runtime's sysfs is covered */
    probe_value(text, "write_exe", v, sizeof(v));
    if (strcmp(v, "0") == 0) {
        fprintf(stderr, "# the running binary could be opened for writing\n");
        goto out;
    }
    probe_value(text, "exe", v, sizeof(v));
    if (strncmp(v, exe, strlen(exe)) != 0) {
        fprintf(stderr, "# exe %s, wanted %s...\n", v, exe);
        goto out;
    }
    ok = 0;
out:
    free(text);
    return ok;
}

/* The confinement as the process itself sees it, for the container's binary and for a
 * host binary (run from its sealed memfd), as root and as an unprivileged owner. */
static int body_confinement_probe(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    char host_probe[PATH_MAX];
    CHECK(copy_file(NVC_LC_PROBE, b->rootfs, "sbin/ldconfig", 0755) == 0);
    CHECK(copy_file(NVC_LC_PROBE, b->dir, "probe", 0755) == 0);
    CHECK(fx_path(host_probe, sizeof(host_probe), "@%s/probe", b->dir) == 0);

    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(check_probe(b, 0, 0, "/sbin/ldconfig", "/sbin/ldconfig") == 0);

    CHECK(run(b, host_probe, 0, 0, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(check_probe(b, 0, 0, host_probe + 1, "/memfd:nvc-ldconfig") == 0);

    CHECK(chown_tree(b->rootfs, 4321, 4322) == 0);
    CHECK(run(b, "/sbin/ldconfig", 4321, 4322, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(check_probe(b, 4321, 4322, "/sbin/ldconfig", "/sbin/ldconfig") == 0);
    CHECK(run(b, host_probe, 4321, 4322, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(check_probe(b, 4321, 4322, host_probe + 1, "/memfd:nvc-ldconfig") == 0);
    return 0;
}

static int test_confinement_probe(void)
{
    return with_box(0, 1, body_confinement_probe);
}

/* --no-pivot: the same results and the same confinement, entered by MS_MOVE + chroot. */
static int test_host_ldconfig_no_pivot(void)
{
    g_no_pivot = 1;
    int rc = with_box(0, 1, body_host_ldconfig);
    g_no_pivot = 0;
    return rc;
}

static int test_confinement_probe_no_pivot(void)
{
    g_no_pivot = 1;
    int rc = with_box(0, 1, body_confinement_probe);
    g_no_pivot = 0;
    return rc;
}

/* The image's /etc is a link to a host directory: after the pivot it resolves inside the
 * rootfs, so neither kind of ldconfig reads or writes the host's files. */
static int body_hostile_etc(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    char hostetc[PATH_MAX], etc[PATH_MAX], hostcache[PATH_MAX], tmp[PATH_MAX + 8];
    CHECK(fx_path(hostetc, sizeof(hostetc), "%s/hostetc", b->dir) == 0);
    CHECK(fx_write_str(hostetc, "ld.so.conf", "/\n") == 0);
    CHECK(fx_path(etc, sizeof(etc), "%s/etc", b->rootfs) == 0);
    CHECK(fx_path(hostcache, sizeof(hostcache), "%s/ld.so.cache", hostetc) == 0);
    snprintf(tmp, sizeof(tmp), "%s~", hostcache);
    char *rm[] = {"rm", "-rf", etc, NULL};
    CHECK(fx_run(rm) == 0 && symlink(hostetc, etc) == 0);
    static const char *const bins[] = {"@/sbin/ldconfig", "/sbin/ldconfig"};
    for (size_t i = 0; i < 2; i++) {
        int rc = run(b, bins[i], 0, 0, 0, &res, &err, &leak);
        CHECK(!leak);
        CHECK(rc == 0 || err.code == NVC_ERR_LDCONFIG);
        CHECK(access(hostcache, F_OK) < 0 && errno == ENOENT);
        CHECK(access(tmp, F_OK) < 0);
    }
    return 0;
}

static int test_hostile_etc_symlink(void)
{
    return with_box(1, 1, body_hostile_etc);
}

static int body_host_binary_errors(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    char script[PATH_MAX];
    CHECK(fx_write_str(b->dir, "host-ldconfig.sh", "#!/bin/sh\nexec /sbin/ldconfig.real \"$@\"\n") == 0);
    CHECK(fx_path(script, sizeof(script), "@%s/host-ldconfig.sh", b->dir) == 0);
    CHECK(run(b, "@/nonexistent/ldconfig.real", 0, 0, 0, &res, &err, &leak) == -1);
    CHECK(!leak && err.code == NVC_ERR_LDCONFIG && err.sys_errno == ENOENT);
    CHECK(strcmp(err.path, "/nonexistent/ldconfig.real") == 0);
    CHECK(run(b, script, 0, 0, 0, &res, &err, &leak) == -1);
    CHECK(!leak && err.code == NVC_ERR_LDCONFIG && strstr(err.msg, "not an ELF") != NULL);
    return 0;
}

/* The image's /sys is a link to a directory where the runtime mounted sysfs, and the
 * runtime bound a host directory read-write into the rootfs (as the MPS pipe directory
 * is): ldconfig, the image's or the host's, sees no sysfs (found by type, not by path)
 * and cannot write into the bind. */
static int body_hostile_mounts(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    char hostdir[PATH_MAX], mps[PATH_MAX], owned[PATH_MAX + 8], host_probe[PATH_MAX], pid[24];
    CHECK(fx_mkdirs(b->rootfs, "mps") == 0 && fx_mkdirs(b->dir, "host-mps") == 0);
    CHECK(fx_path(hostdir, sizeof(hostdir), "%s/host-mps", b->dir) == 0);
    CHECK(fx_path(mps, sizeof(mps), "%s/mps", b->rootfs) == 0);
    CHECK(fx_path(owned, sizeof(owned), "%s/owned", hostdir) == 0);
    snprintf(pid, sizeof(pid), "%ld", (long)b->cpid);
    char *bind[] = {"nsenter", "-t", pid, "-m", "mount", "--bind", hostdir, mps, NULL};
    CHECK(fx_run(bind) == 0);
    CHECK(copy_file(NVC_LC_PROBE, b->rootfs, "sbin/ldconfig", 0755) == 0);
    CHECK(copy_file(NVC_LC_PROBE, b->dir, "probe", 0755) == 0);
    CHECK(fx_path(host_probe, sizeof(host_probe), "@%s/probe", b->dir) == 0);
    const char *const bins[] = {"/sbin/ldconfig", host_probe};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX], types[512], sys[512], wrote[64];
        CHECK(run(b, bins[i], 0, 0, 0, &res, &err, &leak) == 0);
        CHECK(!leak && res.ran == 1);
        CHECK(fx_path(path, sizeof(path), "%s/etc/ld.so.cache", b->rootfs) == 0);
        char *text = read_text(path);
        CHECK(text != NULL);
        unlink(path);
        probe_value(text, "fstypes", types, sizeof(types));
        probe_value(text, "sys", sys, sizeof(sys));
        probe_value(text, "write_bind", wrote, sizeof(wrote));
        free(text);
        fprintf(stderr, "# %s: fstypes %s; /sys lists \"%s\"; write into the bind: %s\n", bins[i], types, sys, wrote);
        CHECK(strstr(types, "sysfs") == NULL); /* found by type, though /sys is a link */
        CHECK(sys[0] == '\0');
        CHECK(strcmp(wrote, "30") == 0); /* EROFS */
        CHECK(access(owned, F_OK) < 0 && errno == ENOENT);
    }
    return 0;
}

static int test_hostile_mounts(void)
{
    struct box b;
    char sys[PATH_MAX];
    int rc = -1;
    if (box_open(&b, 0) == 0 && fx_path(sys, sizeof(sys), "%s/sys", b.rootfs) == 0 && rmdir(sys) == 0 &&
        symlink("/ksys", sys) == 0 && fx_mkdirs(b.rootfs, "ksys") == 0) {
        b.sysfs_at = "ksys";
        if (start_container(&b) == 0)
            rc = body_hostile_mounts(&b);
    }
    box_close(&b);
    return rc;
}

/* ---- the write budget ---- */

/* What a tree holds on its disk: allocated bytes of its files and its entries (inodes). */
struct usage {
    long long bytes;
    long entries;
};
static struct usage g_usage;

static int usage_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    g_usage.entries++;
    g_usage.bytes += (long long)st->st_blocks * 512;
    return 0;
}

static int tree_usage(const char *root, struct usage *u)
{
    memset(&g_usage, 0, sizeof(g_usage));
    if (nftw(root, usage_entry, 32, FTW_PHYS) < 0)
        return -1;
    *u = g_usage;
    return 0;
}

/* The hog (hog.c) as the image's ldconfig, in the given mode; it must fail (fails = 1) or
 * succeed. Either way the rootfs must hold exactly what it held before: nothing the hog
 * wrote reaches the disk. */
static int hog_run(struct box *b, const char *mode, int fails, struct nvc_ldconfig_result *res, struct nvc_error *err)
{
    struct usage before, after;
    int leak;
    CHECK(copy_file(NVC_LC_HOG, b->rootfs, "sbin/ldconfig", 0755) == 0);
    CHECK(fx_write_str(b->rootfs, "hog.mode", mode) == 0);
    CHECK(tree_usage(b->rootfs, &before) == 0);
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, res, err, &leak) == (fails ? -1 : 0));
    CHECK(!leak);
    CHECK(!fails || err->code == NVC_ERR_LDCONFIG);
    CHECK(tree_usage(b->rootfs, &after) == 0);
    fprintf(stderr, "# rootfs before: %lld bytes, %ld entries; after: %lld bytes, %ld entries\n", before.bytes,
            before.entries, after.bytes, after.entries);
    CHECK(after.bytes == before.bytes && after.entries == before.entries);
    return 0;
}

/* After a hog, the real ldconfig still does its work in the same container. */
static int normal_run_after(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    CHECK(put_real_ldconfig(b) == 0);
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(cache_resolves(b->rootfs));
    CHECK(is_link_to(b->rootfs, MULTIARCH_REL "/libfoo.so.1", "libfoo.so.1.0.0"));
    return 0;
}

/* One huge file: cut at the per-file limit (EFBIG: ldconfig is the init of its pid
 * namespace, which SIGXFSZ does not kill), and not kept, being no cache. */
static int body_budget_huge_file(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    CHECK(hog_run(b, "huge", 0, &res, &err) == 0);
    CHECK(strstr(res.warning, "hog: huge stopped at 2097152 bytes: File too large") != NULL);
    CHECK(strstr(res.warning, "dropped 1 entries") != NULL);
    return normal_run_after(b);
}

static int test_budget_huge_file(void)
{
    return with_box(0, 1, body_budget_huge_file);
}

/* File after file of 1 MiB: ENOSPC at the byte budget, a typed error. */
static int body_budget_bytes(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    CHECK(hog_run(b, "bytes", 1, &res, &err) == 0);
    CHECK(err.sys_errno == EDQUOT && strcmp(err.step, "budget") == 0);
    CHECK(strstr(err.msg, "budget of 16 MiB") != NULL && strstr(err.msg, "nothing it wrote was kept") != NULL);
    CHECK(strstr(err.msg, "hog: bytes stopped after 1") != NULL); /* 1x MiB: at the budget, not before */
    CHECK(strstr(err.msg, "No space left on device") != NULL);
    return normal_run_after(b);
}

static int test_budget_bytes(void)
{
    return with_box(0, 1, body_budget_bytes);
}

/* Links by the ten thousand: ENOSPC at the inode budget, a typed error. */
static int body_budget_links(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    CHECK(hog_run(b, "links", 1, &res, &err) == 0);
    CHECK(err.sys_errno == EDQUOT && strcmp(err.step, "budget") == 0);
    CHECK(strstr(err.msg, "16384 files, links and directories") != NULL);
    CHECK(strstr(err.msg, "hog: links stopped after 163") != NULL); /* the budget less what the overlay holds */
    CHECK(strstr(err.msg, "No space left on device") != NULL);
    return normal_run_after(b);
}

static int test_budget_links(void)
{
    return with_box(0, 1, body_budget_links);
}

static int is_absent(const char *rootfs, const char *rel)
{
    char p[PATH_MAX];
    struct stat st;
    return fx_path(p, sizeof(p), "%s/%s", rootfs, rel) == 0 && lstat(p, &st) < 0 && errno == ENOENT;
}

/* Within the budget only ldconfig's expected results are kept: the cache and links in the
 * image's directories, as the container owner; a stray file, a new directory and a library
 * file are dropped, and the result says so. */
static int body_budget_keeps_expected(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    char cache[PATH_MAX];
    CHECK(chown_tree(b->rootfs, 4321, 4322) == 0);
    CHECK(copy_file(NVC_LC_HOG, b->rootfs, "sbin/ldconfig", 0755) == 0);
    CHECK(fx_write_str(b->rootfs, "hog.mode", "extra") == 0);
    CHECK(run(b, "/sbin/ldconfig", 4321, 4322, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(strstr(res.warning, "hog: extra done (2 links)") != NULL);
    CHECK(strstr(res.warning, "dropped 3 entries ldconfig wrote besides its cache and links") != NULL);
    CHECK(fx_path(cache, sizeof(cache), "%s/etc/ld.so.cache", b->rootfs) == 0);
    char *text = read_text(cache);
    CHECK(text != NULL);
    int same = strcmp(text, "hog cache\n") == 0;
    free(text);
    CHECK(same);
    CHECK(owned_by(b->rootfs, "etc/ld.so.cache", 4321, 4322));
    CHECK(is_link_to(b->rootfs, MULTIARCH_REL "/libhog-link.so", "libbar.so.2"));
    CHECK(is_absent(b->rootfs, "etc/ld.so.cache~"));
    CHECK(is_absent(b->rootfs, "stray"));
    CHECK(is_absent(b->rootfs, "newdir"));
    CHECK(is_absent(b->rootfs, MULTIARCH_REL "/libstray.so"));
    return 0;
}

static int test_budget_keeps_expected(void)
{
    return with_box(0, 1, body_budget_keeps_expected);
}

/* The image's /etc is a link inside the rootfs (etc -> usr/etc): the cache ldconfig wrote
 * through it is found where /etc resolves in the rootfs and kept there. */
static int body_etc_link_in_rootfs(struct box *b)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    int leak;
    char etc[PATH_MAX], moved[PATH_MAX];
    struct stat st;
    CHECK(fx_path(etc, sizeof(etc), "%s/etc", b->rootfs) == 0);
    CHECK(fx_path(moved, sizeof(moved), "%s/usr/etc", b->rootfs) == 0);
    CHECK(rename(etc, moved) == 0 && symlink("usr/etc", etc) == 0);
    CHECK(run(b, "/sbin/ldconfig", 0, 0, 0, &res, &err, &leak) == 0);
    CHECK(!leak && res.ran == 1);
    CHECK(lstat(etc, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(cache_resolves(b->rootfs));
    CHECK(owned_by(b->rootfs, "usr/etc/ld.so.cache", 0, 0));
    return 0;
}

static int test_etc_link_in_rootfs(void)
{
    return with_box(1, 1, body_etc_link_in_rootfs);
}

static int test_host_binary_errors(void)
{
    return with_box(0, 1, body_host_binary_errors);
}

static int test_bad_requests(void)
{
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    static const char *const rel[] = {"lib"};
    struct nvc_ldconfig_request good = {.pid = 0, .rootfs = "/nonexistent", .ldconfig = "@/sbin/ldconfig"};
    struct nvc_ldconfig_request r;

    r = good, r.rootfs = "relative/rootfs";
    CHECK(nvc_ldconfig_run(NVC_LC_HELPER, &r, &res, &err) == -1 && err.code == NVC_ERR_INVALID_ARGUMENT);
    r = good, r.ldconfig = "sbin/ldconfig";
    CHECK(nvc_ldconfig_run(NVC_LC_HELPER, &r, &res, &err) == -1 && err.code == NVC_ERR_INVALID_ARGUMENT);
    r = good, r.ldconfig = "@";
    CHECK(nvc_ldconfig_run(NVC_LC_HELPER, &r, &res, &err) == -1 && err.code == NVC_ERR_INVALID_ARGUMENT);
    r = good, r.dirs = rel, r.ndirs = 1;
    CHECK(nvc_ldconfig_run(NVC_LC_HELPER, &r, &res, &err) == -1 && err.code == NVC_ERR_INVALID_ARGUMENT);
    r = good, r.uid = (uid_t)-1;
    CHECK(nvc_ldconfig_run(NVC_LC_HELPER, &r, &res, &err) == -1 && err.code == NVC_ERR_INVALID_ARGUMENT);
    /* A rootfs that is not there: the helper's own error, not a crash. */
    CHECK(nvc_ldconfig_run(NVC_LC_HELPER, &good, &res, &err) == -1 && err.code == NVC_ERR_LDCONFIG);
    fprintf(stderr, "#   -> %s\n", err.msg);
    CHECK(strstr(err.msg, "/nonexistent") != NULL);
    /* A container pid that does not exist. */
    r = good, r.pid = 0x3ffffff0;
    CHECK(nvc_ldconfig_run(NVC_LC_HELPER, &r, &res, &err) == -1 && err.code == NVC_ERR_LDCONFIG);
    fprintf(stderr, "#   -> %s\n", err.msg);
    /* A helper that is not there: an ldconfig step failure like any other (the mounts before
     * it stay, and the code says so), its errno kept. */
    CHECK(nvc_ldconfig_run("/nonexistent/nvc-ts-ldconfig", &good, &res, &err) == -1 && err.code == NVC_ERR_LDCONFIG &&
          err.sys_errno == ENOENT);
    return 0;
}

/* How many nvc-ts-ldconfig processes are alive (their comm, which holds the whole name). */
static int helpers_alive(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char p[300], comm[32] = "";
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(p, sizeof(p), "/proc/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof(comm), f) != NULL && strncmp(comm, "nvc-ts-ldconfig", 15) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

static int no_helper_within(int ms)
{
    for (int waited = 0; waited <= ms; waited += 10) {
        if (helpers_alive() == 0)
            return 1;
        usleep(10000);
    }
    return 0;
}

static int cache_exists(const char *rootfs)
{
    char p[PATH_MAX];
    return fx_path(p, sizeof(p), "%s/etc/ld.so.cache", rootfs) == 0 && access(p, F_OK) == 0;
}

/* A gated helper (started with the executor, let go after the edits): freed before its go, it
 * is gone without having touched the container; let go, it runs as an ungated one does. The
 * synchronous runner refuses a gated request (nothing would ever let it go). */
static int body_gated(struct box *b)
{
    static const char *const dirs[] = {EXTRA_DIR};
    struct nvc_ldconfig_request req = {
        .pid = b->cpid,
        .rootfs = b->rootfs,
        .ldconfig = "@/sbin/ldconfig",
        .dirs = dirs,
        .ndirs = 1,
        .uid = 0,
        .gid = 0,
        .no_pivot = g_no_pivot,
        .gated = 1,
    };
    struct nvc_ldconfig_result res;
    struct nvc_error err;
    struct nvc_wait w;
    char cpath[64];
    snprintf(cpath, sizeof(cpath), "/proc/%ld/mountinfo", (long)b->cpid);
    char *before = read_text(cpath);
    CHECK(before != NULL);
    CHECK(no_helper_within(2000));

    struct nvc_ldconfig_job *j = nvc_ldconfig_job_start(NVC_LC_HELPER, &req, &err);
    CHECK(j != NULL);
    usleep(200000); /* long enough to have run ldconfig, were it not waiting */
    CHECK(helpers_alive() == 1);
    CHECK(!cache_exists(b->rootfs));
    nvc_ldconfig_job_free(j);
    CHECK(no_helper_within(2000));
    CHECK(!cache_exists(b->rootfs));
    char *after = read_text(cpath);
    int same = after != NULL && strcmp(before, after) == 0;
    free(after);
    CHECK(same);

    j = nvc_ldconfig_job_start(NVC_LC_HELPER, &req, &err);
    CHECK(j != NULL);
    CHECK(nvc_ldconfig_job_release(j, 10000, &err) == 0);
    while (!nvc_ldconfig_job_step(j, &w))
        nvc_wait_block(&w);
    int rc = nvc_ldconfig_job_finish(j, &res, &err);
    nvc_ldconfig_job_free(j);
    CHECK(rc == 0 && res.ran == 1);
    CHECK(cache_resolves(b->rootfs));
    CHECK(no_helper_within(2000));
    after = read_text(cpath);
    same = after != NULL && strcmp(before, after) == 0;
    free(after);
    free(before);
    CHECK(same);

    CHECK(nvc_ldconfig_run(NVC_LC_HELPER, &req, &res, &err) == -1 && err.code == NVC_ERR_INVALID_ARGUMENT);
    return 0;
}

static int test_gated(void)
{
    return with_box(0, 1, body_gated);
}

/* nvc_child_kill must kill: a child that ignores its socket closing (sleep does) is gone,
 * by SIGKILL, within the wait, and reaped. The helpers all exit when their socket closes,
 * so no other test would notice a kill that sends nothing. */
static int test_child_kill(void)
{
    char *argv[] = {"sleep", "30", NULL};
    const char *sleep_bin = access("/usr/bin/sleep", X_OK) == 0 ? "/usr/bin/sleep" : "/bin/sleep";
    struct nvc_child c;
    struct nvc_error err;
    struct timespec t0, t1;
    int st = 0, reaped;

    memset(&c, 0, sizeof(c));
    CHECK(nvc_child_spawn(&c, sleep_bin, argv, SOCK_STREAM, 1, "sleep", &err) == 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    reaped = nvc_child_kill(&c, 2000, &st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    nvc_child_close(&c);
    CHECK(reaped == 1);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK(t1.tv_sec - t0.tv_sec < 2);
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_bad_requests),
        TEST(test_host_ldconfig),
        TEST(test_container_ldconfig),
        TEST(test_unprivileged_owner),
        TEST(test_own_namespace),
        TEST(test_missing_ldconfig_is_a_warning),
        TEST(test_wrapper_script),
        TEST(test_failing_ldconfig),
        TEST(test_unexecutable_ldconfig),
        TEST(test_timeout_kills_everything),
        TEST(test_confinement_probe),
        TEST(test_hostile_etc_symlink),
        TEST(test_host_binary_errors),
        TEST(test_child_kill),
        TEST(test_gated),
        TEST(test_hostile_mounts),
        TEST(test_host_ldconfig_no_pivot),
        TEST(test_confinement_probe_no_pivot),
        TEST(test_budget_huge_file),
        TEST(test_budget_bytes),
        TEST(test_budget_links),
        TEST(test_budget_keeps_expected),
        TEST(test_etc_link_in_rootfs),
    };
    if (geteuid() != 0)
        return suite_absent("root", "namespaces, mounts and chown");
    if (access("/sbin/ldconfig", X_OK) != 0)
        return suite_absent("ldconfig", "/sbin/ldconfig is what the helper runs");
    /* build.sh builds the helper next to this program: its absence is a broken build,
     * not a missing feature of the machine */
    if (access(NVC_LC_HELPER, X_OK) != 0) {
        printf("Bail out! %s is missing (run native/test/ldconfig/build.sh)\n", NVC_LC_HELPER);
        return 1;
    }
    return RUN_TESTS(tests);
}
