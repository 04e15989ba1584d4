/* Tests of nvc-ts-exec and nvc_plan_apply: every edit kind and its flags, all-or-
 * nothing rollback, propagation into a shared namespace, source checks, the client's
 * handling of executors that hang, crash or lie. The hostile-rootfs corpus and the
 * race are in t_hostile.c, the wire format in t_codec.c.
 *
 * Needs root (mount namespaces). Run through native/test/exec/build.sh. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "nvc_plan.h"
#include "plan_codec.h"
#include "tests.h"
#include "tutil.h"

/* <container root>/<rootfs><path>: the container's view of a path. */
static const char *in_ctr(pid_t pid, const char *rootfs, const char *path)
{
    static char buf[4][PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "/proc/%d/root%s%s", (int)pid, rootfs, path);
    return buf[k];
}

static int check_opts(pid_t pid, const char *rootfs, const char *target, const char *want, const char *not_want)
{
    char mp[PATH_MAX], opts[256];
    snprintf(mp, sizeof(mp), "%s%s", rootfs, target);
    if (t_mount_options(pid, mp, opts, sizeof(opts)) < 0) {
        fprintf(stderr, "# no mount at %s in the container\n", mp);
        return -1;
    }
    for (const char *p = want; *p;) {
        char o[32];
        const char *e = strchrnul(p, ',');
        snprintf(o, sizeof(o), "%.*s", (int)(e - p), p);
        if (!t_has_opt(opts, o)) {
            fprintf(stderr, "# %s: options %s lack %s\n", target, opts, o);
            return -1;
        }
        p = *e ? e + 1 : e;
    }
    if (not_want && t_has_opt(opts, not_want)) {
        fprintf(stderr, "# %s: options %s have %s\n", target, opts, not_want);
        return -1;
    }
    return 0;
}

static int file_is(const char *path, const char *text)
{
    char *got = t_read_file(path);
    int ok = got != NULL && strcmp(got, text) == 0;
    if (!ok)
        fprintf(stderr, "# %s holds \"%s\", expected \"%s\"\n", path, got ? got : "(unreadable)", text);
    free(got);
    return ok ? 0 : -1;
}

static int check_std_result(struct t_run *r)
{
    pid_t pid = r->c.pid;
    const char *rf = r->rootfs;
    struct stat st;
    char link[64];
    ssize_t n;

    CHECK(r->res.nedits == T_STD_EDITS);
    for (size_t i = 0; i < T_STD_EDITS; i++)
        CHECK(r->res.outcomes[i] == NVC_OUTCOME_DONE);
    CHECK(check_opts(pid, rf, "/proc/driver", "ro,nosuid,nodev,noexec", NULL) == 0);
    CHECK(check_opts(pid, rf, "/usr/lib/x86_64-linux-gnu/libnvc-probe.so.1", "ro,nosuid,nodev", "noexec") == 0);
    CHECK(check_opts(pid, rf, "/usr/bin/nvc-probe-smi", "ro,nosuid,nodev", NULL) == 0);
    CHECK(check_opts(pid, rf, "/dev/nvc-probe0", "ro,nosuid,noexec", "nodev") == 0);
    CHECK(check_opts(pid, rf, "/usr/share/nvc-probe", "ro,nosuid,nodev", NULL) == 0);
    CHECK(check_opts(pid, rf, "/run/nvc-probe/socket", "rw,nosuid,nodev,noexec", "ro") == 0);
    CHECK(file_is(in_ctr(pid, rf, "/usr/lib/x86_64-linux-gnu/libnvc-probe.so.1"), "probe-lib\n") == 0);
    CHECK(file_is(in_ctr(pid, rf, "/usr/bin/nvc-probe-smi"), "probe-bin\n") == 0);
    CHECK(file_is(in_ctr(pid, rf, "/usr/share/nvc-probe/x"), "x\n") == 0);
    CHECK(file_is(in_ctr(pid, rf, "/proc/driver/params"), "ModifyDeviceFiles: 0\n") == 0);
    CHECK(stat(in_ctr(pid, rf, "/proc/driver/params"), &st) == 0);
    CHECK((st.st_mode & 07777) == 0444 && st.st_uid == 1000 && st.st_gid == 1000);
    CHECK(stat(in_ctr(pid, rf, "/proc/driver"), &st) == 0 && (st.st_mode & 07777) == 0555);
    CHECK(stat(in_ctr(pid, rf, "/dev/nvc-probe0"), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
    CHECK(stat(in_ctr(pid, rf, "/run/nvc-probe/socket"), &st) == 0 && S_ISSOCK(st.st_mode));
    CHECK(lstat(in_ctr(pid, rf, "/usr/lib/x86_64-linux-gnu/libnvc-probe.so"), &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(st.st_uid == 1000 && st.st_gid == 1000);
    n = readlink(in_ctr(pid, rf, "/usr/lib/x86_64-linux-gnu/libnvc-probe.so"), link, sizeof(link) - 1);
    CHECK(n == 17 && memcmp(link, "libnvc-probe.so.1", 17) == 0);
    {
        struct stat src;
        CHECK(stat(T_SRC "/nvc-probe-share", &src) == 0);
        CHECK(stat(in_ctr(pid, rf, "/etc/nvc-probe.d"), &st) == 0 && S_ISDIR(st.st_mode));
        CHECK(st.st_ino == src.st_ino && st.st_dev == src.st_dev);
    }
    CHECK(stat(in_ctr(pid, rf, "/run/nvc-probe"), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == 1000);
    /* The read-only tmpfs refuses writes; the ro bind too. */
    CHECK(open(in_ctr(pid, rf, "/proc/driver/x"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644) < 0 && errno == EROFS);
    CHECK(open(in_ctr(pid, rf, "/usr/bin/nvc-probe-smi"), O_WRONLY | O_CLOEXEC) < 0 && errno == EROFS);
    return 0;
}

/* Each edit kind with its flags, under every executor variant. */
int test_std_plan(void)
{
    for (int v = 0; v < T_NVARIANTS; v++) {
        char rootfs[256];
        struct nvc_edit e[T_STD_EDITS];
        struct nvc_plan plan;
        struct t_run r = {.rootfs = rootfs, .private_ = 1, .proc = 1, .exec = t_exec_path(v), .plan = &plan};
        int ok;

        fprintf(stderr, "# variant %s\n", t_variant_name(v));
        CHECK(t_rootfs("std", rootfs, sizeof(rootfs)) == 0);
        t_std_plan(&plan, e, 0, rootfs);
        ok = t_run_plan(&r);
        if (r.rc < 0)
            fprintf(stderr, "# failed: %s: %s\n", nvc_errcode_string(r.err.code), r.err.msg);
        ok = ok == 0 && r.rc == 0 ? check_std_result(&r) : -1;
        t_run_end(&r);
        CHECK(ok == 0);
    }
    return 0;
}

/* The rootfs as its own mount, as runtimes make it: first private, then shared with a
 * peer outside the rootfs inside the container's namespace. */
int test_std_plan_rootfs_mount(void)
{
    for (int mode = 1; mode <= 2; mode++) {
        for (int v = 0; v < T_NVARIANTS; v++) {
            char rootfs[256];
            struct nvc_edit e[T_STD_EDITS];
            struct nvc_plan plan;
            struct t_run r = {.rootfs = rootfs, .private_ = 1, .proc = 1, .exec = t_exec_path(v), .plan = &plan};
            int ok;

            fprintf(stderr, "# variant %s, rootfs %s\n", t_variant_name(v),
                    mode == 1 ? "bound onto itself" : "bound onto itself, shared, with a peer");
            CHECK(t_rootfs("selfbind", rootfs, sizeof(rootfs)) == 0);
            t_std_plan(&plan, e, 0, rootfs);
            t_container_bind_self = mode;
            ok = t_run_plan(&r);
            t_container_bind_self = 0;
            if (mode == 2 && v == T_LEGACY) {
                if (r.rc == 0 || r.err.code != NVC_ERR_MOUNT || strstr(r.err.msg, "shared") == NULL)
                    ok = -1;
            } else {
                if (r.rc < 0)
                    fprintf(stderr, "# failed: %s: %s\n", nvc_errcode_string(r.err.code), r.err.msg);
                ok = ok == 0 && r.rc == 0 ? check_std_result(&r) : -1;
            }
            t_run_end(&r);
            CHECK(ok == 0);
        }
    }
    return 0;
}

/* The same plan applied to a container created from a namespace whose mounts are
 * shared with ours: nothing may show up here, and the shared mount keeps its peer
 * group. Without the mount API the executor must refuse instead. */
int test_shared_propagation(void)
{
    int rc = 0;
    CHECK(t_base_shared(1) == 0);
    for (int v = 0; v < T_NVARIANTS && rc == 0; v++) {
        char rootfs[256], base_before[512] = "", base_after[512] = "";
        struct nvc_edit e[T_STD_EDITS];
        struct nvc_plan plan;
        struct t_run r = {.rootfs = rootfs, .private_ = 0, .proc = 0, .exec = t_exec_path(v), .plan = &plan};

        fprintf(stderr, "# variant %s\n", t_variant_name(v));
        if (t_rootfs("shared", rootfs, sizeof(rootfs)) < 0) {
            rc = -1;
            break;
        }
        t_std_plan(&plan, e, 0, rootfs);
        if (t_run_plan(&r) < 0)
            rc = -1;
        /* the line of T_BASE in the container: identical, peer group included */
        for (int pass = 0; pass < 2; pass++) {
            const char *mi = pass ? r.cmi_after : r.cmi_before;
            const char *p = strstr(mi, " " T_BASE " ");
            char *out = pass ? base_after : base_before;
            if (p) {
                while (p > mi && p[-1] != '\n')
                    p--;
                snprintf(out, 512, "%.*s", (int)(strchrnul(p, '\n') - p), p);
            }
        }
        if (strstr(base_before, "shared:") == NULL || strcmp(base_before, base_after) != 0) {
            fprintf(stderr, "# T_BASE in the container: before \"%s\", after \"%s\"\n", base_before, base_after);
            rc = -1;
        }
        if (v == T_LEGACY) {
            if (r.rc == 0 || r.err.code != NVC_ERR_MOUNT || strstr(r.err.msg, "shared") == NULL) {
                fprintf(stderr, "# legacy: expected a refusal, got %d %s\n", r.rc, r.err.msg);
                rc = -1;
            }
        } else if (r.rc < 0) {
            fprintf(stderr, "# failed: %s\n", r.err.msg);
            rc = -1;
        } else if (check_std_result(&r) < 0) {
            rc = -1;
        }
        t_run_end(&r);
    }
    t_base_shared(0);
    return rc;
}

/* Several edits succeed, then a library target is a directory: everything undone. */
static int mid_failure(int shared)
{
    int rc = 0;
    if (shared)
        CHECK(t_base_shared(1) == 0);
    for (int v = 0; v < (shared ? T_LEGACY : T_NVARIANTS) && rc == 0; v++) {
        char rootfs[256], dir[PATH_MAX];
        struct nvc_edit e[T_STD_EDITS + 3];
        struct nvc_plan plan;
        struct t_run r = {
            .rootfs = rootfs, .private_ = !shared, .proc = !shared, .exec = t_exec_path(v), .plan = &plan};

        fprintf(stderr, "# variant %s%s\n", t_variant_name(v), shared ? ", shared" : "");
        if (t_rootfs("midfail", rootfs, sizeof(rootfs)) < 0)
            return -1;
        snprintf(dir, sizeof(dir), "%s/usr/lib/x86_64-linux-gnu/libnvc-late.so.1", rootfs);
        t_mkdirs(dir);
        t_std_plan(&plan, e, 0, rootfs);
        e[T_STD_EDITS] = (struct nvc_edit){.kind = NVC_EDIT_TMPFS, .target = "/opt/nvc/a/b", .mode = 0700};
        e[T_STD_EDITS + 1] =
            (struct nvc_edit){.kind = NVC_EDIT_SYMLINK, .target = "/opt/nvc/a/link", .link = "/usr/lib"};
        e[T_STD_EDITS + 2] = (struct nvc_edit){.kind = NVC_EDIT_BIND,
                                               .target = "/usr/lib/x86_64-linux-gnu/libnvc-late.so.1",
                                               .source = T_SRC "/libnvc-probe.so.1",
                                               .source_kind = NVC_SRC_FILE,
                                               .flags = NVC_MNT_RDONLY};
        plan.nedits = T_STD_EDITS + 3;
        if (t_run_plan(&r) < 0)
            rc = -1;
        if (r.rc == 0 || r.err.code != NVC_ERR_FILE_EXISTS ||
            strstr(r.err.msg, "libnvc-late.so.1 exists and is a directory") == NULL ||
            strcmp(r.err.path, "/usr/lib/x86_64-linux-gnu/libnvc-late.so.1") != 0) {
            fprintf(stderr, "# expected FILE_EXISTS, got %d %s %s (%s)\n", r.rc, nvc_errcode_string(r.err.code),
                    r.err.msg, r.err.path);
            rc = -1;
        } else {
            fprintf(stderr, "# reported: %s\n", r.err.msg);
        }
        t_run_end(&r);
    }
    if (shared)
        t_base_shared(0);
    return rc;
}

int test_mid_failure_rolls_back(void)
{
    return mid_failure(0);
}

int test_mid_failure_rolls_back_shared(void)
{
    return mid_failure(1);
}

/* Flags added to a mount the plan did not make are taken away again on failure. */
int test_remount_rolled_back(void)
{
    for (int v = 0; v < T_NVARIANTS; v++) {
        char rootfs[256], dir[PATH_MAX];
        struct nvc_edit e[2] = {
            {.kind = NVC_EDIT_REMOUNT, .target = "/proc", .flags = NVC_MNT_RDONLY | NVC_MNT_NOEXEC},
            {.kind = NVC_EDIT_BIND,
             .target = "/etc/dir",
             .source = T_SRC "/libnvc-probe.so.1",
             .source_kind = NVC_SRC_FILE},
        };
        struct nvc_plan plan = {.uid = 0, .gid = 0, .edits = e, .nedits = 2};
        struct t_run r = {.rootfs = rootfs, .private_ = 1, .proc = 1, .exec = t_exec_path(v), .plan = &plan};
        int ok;

        CHECK(t_rootfs("remount", rootfs, sizeof(rootfs)) == 0);
        snprintf(dir, sizeof(dir), "%s/etc/dir", rootfs);
        t_mkdirs(dir);
        ok = t_run_plan(&r);
        if (r.rc == 0 || r.err.code != NVC_ERR_FILE_EXISTS)
            ok = -1;
        t_run_end(&r);
        CHECK(ok == 0);
    }
    return 0;
}

static int run_expect(const char *name, struct nvc_edit *e, size_t n, enum t_variant v, enum nvc_errcode want,
                      const char *want_msg, struct t_run *out_keep)
{
    char rootfs[256];
    struct nvc_plan plan = {.uid = 0, .gid = 0, .edits = e, .nedits = n};
    struct t_run r = {.rootfs = rootfs, .private_ = 1, .proc = 0, .exec = t_exec_path(v), .plan = &plan};
    int ok;

    if (t_rootfs(name, rootfs, sizeof(rootfs)) < 0)
        return -1;
    ok = t_run_plan(&r);
    if (want == NVC_OK ? r.rc != 0
                       : (r.rc == 0 || r.err.code != want || (want_msg && strstr(r.err.msg, want_msg) == NULL))) {
        fprintf(stderr, "# %s: expected %s \"%s\", got rc %d %s \"%s\"\n", name, nvc_errcode_string(want),
                want_msg ? want_msg : "", r.rc, nvc_errcode_string(r.err.code), r.err.msg);
        ok = -1;
    }
    if (out_keep && ok == 0 && r.rc == 0) {
        out_keep->res = r.res;
        memset(&r.res, 0, sizeof(r.res)); /* handed over: outcomes and changes */
    }
    t_run_end(&r);
    return ok;
}

int test_source_checks(void)
{
    struct {
        const char *source;
        enum nvc_source_kind kind;
        unsigned major, minor;
        const char *msg;
    } cases[] = {
        {T_SRC "/libnvc-link.so", NVC_SRC_FILE, 0, 0, "is a symlink"},
        {T_SRC "/nvc-probe-share", NVC_SRC_FILE, 0, 0, "expected a regular file"},
        {T_SRC "/libnvc-probe.so.1", NVC_SRC_DIR, 0, 0, "expected a directory"},
        {"/dev/null", NVC_SRC_CHAR, 1, 5, "invalid device node"},
        {T_SRC "/libnvc-probe.so.1", NVC_SRC_CHAR, 1, 3, "expected a character device"},
        {T_SRC "/libnvc-probe.so.1", NVC_SRC_SOCKET, 0, 0, "expected a unix socket"},
        {T_SRC "/absent", NVC_SRC_FILE, 0, 0, "cannot open source"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int v = 0; v < T_NVARIANTS; v++) {
            struct nvc_edit e[2] = {
                {.kind = NVC_EDIT_TMPFS, .target = "/opt/first", .mode = 0755},
                {.kind = NVC_EDIT_BIND,
                 .target = "/usr/lib/x86_64-linux-gnu/x",
                 .source = cases[i].source,
                 .source_kind = cases[i].kind,
                 .major = cases[i].major,
                 .minor = cases[i].minor},
            };
            CHECK(run_expect("src", e, 2, v, NVC_ERR_INVALID_SOURCE, cases[i].msg, NULL) == 0);
        }
    }
    return 0;
}

int test_symlink_and_placeholder_semantics(void)
{
    for (int v = 0; v < T_NVARIANTS; v++) {
        struct t_run keep = {0};
        struct nvc_edit same[2] = {
            {.kind = NVC_EDIT_SYMLINK, .target = "/etc/l", .link = "target"},
            {.kind = NVC_EDIT_SYMLINK, .target = "/etc/l", .link = "target"},
        };
        CHECK(run_expect("sym", same, 2, v, NVC_OK, NULL, &keep) == 0);
        CHECK(keep.res.outcomes[0] == NVC_OUTCOME_DONE && keep.res.outcomes[1] == NVC_OUTCOME_SKIPPED);
        nvc_plan_result_free(&keep.res);

        struct nvc_edit differ[2] = {
            {.kind = NVC_EDIT_SYMLINK, .target = "/etc/l", .link = "target"},
            {.kind = NVC_EDIT_SYMLINK, .target = "/etc/l", .link = "other"},
        };
        CHECK(run_expect("sym", differ, 2, v, NVC_ERR_FILE_EXISTS, "points to \"target\", not \"other\"", NULL) == 0);
        struct nvc_edit onfile[1] = {{.kind = NVC_EDIT_SYMLINK, .target = "/etc/os-release", .link = "x"}};
        CHECK(run_expect("sym", onfile, 1, v, NVC_ERR_FILE_EXISTS, "is not a symlink", NULL) == 0);
        struct nvc_edit under_file[1] = {{.kind = NVC_EDIT_TMPFS, .target = "/etc/os-release/d", .mode = 0755}};
        CHECK(run_expect("uf", under_file, 1, v, NVC_ERR_FILE_EXISTS, "not a directory", NULL) == 0);
        struct nvc_edit write_out[1] = {{.kind = NVC_EDIT_WRITE, .target = "/etc/x", .data = "x", .data_len = 1}};
        CHECK(run_expect("wr", write_out, 1, v, NVC_ERR_INVALID_ARGUMENT, "not inside a tmpfs", NULL) == 0);
        struct nvc_edit twice[3] = {
            {.kind = NVC_EDIT_TMPFS, .target = "/run/t", .mode = 0755},
            {.kind = NVC_EDIT_WRITE, .target = "/run/t/sub/x", .data = "x", .data_len = 1, .mode = 0644},
            {.kind = NVC_EDIT_WRITE, .target = "/run/t/sub/x", .data = "y", .data_len = 1, .mode = 0644},
        };
        CHECK(run_expect("wr2", twice, 3, v, NVC_ERR_FILE_EXISTS, "already exists", NULL) == 0);
        struct nvc_edit notmnt[1] = {{.kind = NVC_EDIT_REMOUNT, .target = "/etc", .flags = NVC_MNT_RDONLY}};
        CHECK(run_expect("rm", notmnt, 1, v, NVC_ERR_MOUNT, "not a mount point", NULL) == 0);
        struct nvc_edit tmpfile[1] = {{.kind = NVC_EDIT_TMPFS, .target = "/etc/os-release", .mode = 0755}};
        CHECK(run_expect("tf", tmpfile, 1, v, NVC_ERR_FILE_EXISTS, "not a directory", NULL) == 0);
    }
    return 0;
}

/* pid 0: the executor's own namespace (here a child's private one). */
int test_pid0_own_namespace(void)
{
    char rootfs[256];
    pid_t child;
    int status;

    CHECK(t_rootfs("pid0", rootfs, sizeof(rootfs)) == 0);
    char *host_before = t_mountinfo(0);
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        struct nvc_edit e[T_STD_EDITS];
        struct nvc_plan plan;
        struct nvc_plan_result res;
        struct nvc_error err;
        char opts[256], mp[PATH_MAX];
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(2);
        t_std_plan(&plan, e, 0, rootfs);
        if (nvc_plan_apply(t_exec_path(T_DEFAULT), &plan, &res, &err) < 0) {
            fprintf(stderr, "# %s\n", err.msg);
            _exit(3);
        }
        snprintf(mp, sizeof(mp), "%s/usr/bin/nvc-probe-smi", rootfs);
        _exit(t_mount_options(0, mp, opts, sizeof(opts)) == 0 && t_has_opt(opts, "ro") ? 0 : 4);
    }
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *host_after = t_mountinfo(0);
    CHECK(strcmp(host_before, host_after) == 0);
    free(host_before);
    free(host_after);
    return 0;
}

/* A pid in our own namespace is not a container. */
int test_same_namespace_refused(void)
{
    char rootfs[256];
    struct nvc_edit e[T_STD_EDITS];
    struct nvc_plan plan;
    struct nvc_plan_result res;
    struct nvc_error err;
    char *before = t_mountinfo(0), *after;

    CHECK(t_rootfs("samens", rootfs, sizeof(rootfs)) == 0);
    t_std_plan(&plan, e, getpid(), rootfs);
    CHECK(nvc_plan_apply(t_exec_path(T_DEFAULT), &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_NAMESPACE && strstr(err.msg, "shares the caller's mount namespace") != NULL);
    plan.pid = 999999999;
    CHECK(nvc_plan_apply(t_exec_path(T_DEFAULT), &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_NAMESPACE);
    after = t_mountinfo(0);
    CHECK(strcmp(before, after) == 0);
    free(before);
    free(after);
    return 0;
}

/* A rootfs that is not there, or is the namespace root. */
int test_bad_rootfs(void)
{
    struct nvc_edit e[T_STD_EDITS];
    struct nvc_plan plan;
    struct nvc_plan_result res;
    struct nvc_error err;
    struct t_container c;

    CHECK(t_container_start(&c, "/nonexistent", 1, 0) == 0);
    t_std_plan(&plan, e, c.pid, T_BASE "/does-not-exist");
    CHECK(nvc_plan_apply(t_exec_path(T_DEFAULT), &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_INVALID_ARGUMENT && strstr(err.msg, "cannot open the container rootfs"));
    plan.rootfs = "/";
    CHECK(nvc_plan_apply(t_exec_path(T_DEFAULT), &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_INVALID_ARGUMENT && strstr(err.msg, "root of the mount namespace"));
    t_container_stop(&c);
    return 0;
}

static int write_script(const char *name, const char *body, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", T_BASE, name);
    char text[1024];
    snprintf(text, sizeof(text), "#!/bin/sh\n%s\n", body);
    if (t_write(path, text) < 0 || chmod(path, 0755) < 0)
        return -1;
    return 0;
}

/* Executors that hang, crash, lie or do not exist. */
int test_client_failures(void)
{
    char path[PATH_MAX], rootfs[PATH_MAX];
    struct nvc_edit e[T_STD_EDITS];
    struct nvc_plan plan;
    struct nvc_plan_result res;
    struct nvc_error err;
    unsigned saved = nvc_plan_apply_timeout_ms;

    CHECK(t_rootfs("client", rootfs, sizeof(rootfs)) == 0);
    t_std_plan(&plan, e, 0, rootfs);

    CHECK(nvc_plan_apply(T_BASE "/no-such-exec", &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_SERVICE_START && err.sys_errno == ENOENT);

    CHECK(write_script("crash", "kill -SEGV $$", path, sizeof(path)) == 0);
    CHECK(nvc_plan_apply(path, &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_SERVICE_CRASHED && strstr(err.msg, "SIGSEGV") != NULL);

    CHECK(write_script("exit3", "exit 3", path, sizeof(path)) == 0);
    CHECK(nvc_plan_apply(path, &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_SERVICE_CRASHED && strstr(err.msg, "status 3") != NULL);

    CHECK(write_script("garbage", "cat <&3 >/dev/null; printf 'NVCPgarbage-garbage' >&3", path, sizeof(path)) == 0);
    CHECK(nvc_plan_apply(path, &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_SERVICE_PROTOCOL);

    CHECK(write_script("flood", "cat <&3 >/dev/null; head -c 200000 /dev/zero >&3 2>/dev/null", path, sizeof(path)) ==
          0);
    CHECK(nvc_plan_apply(path, &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_SERVICE_PROTOCOL);

    nvc_plan_apply_timeout_ms = 300;
    CHECK(write_script("hang", "exec /bin/sleep 30", path, sizeof(path)) == 0);
    CHECK(nvc_plan_apply(path, &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_SERVICE_TIMEOUT && strstr(err.msg, "killed") != NULL);

    CHECK(write_script("deaf", "trap '' TERM; exec /bin/sleep 30", path, sizeof(path)) == 0);
    CHECK(nvc_plan_apply(path, &plan, &res, &err) < 0);
    CHECK(err.code == NVC_ERR_SERVICE_TIMEOUT && strstr(err.msg, "killed") != NULL);
    nvc_plan_apply_timeout_ms = saved;

    /* No child left behind, no zombie. */
    CHECK(waitpid(-1, NULL, WNOHANG) <= 0);
    return 0;
}

/* Past the deadline the executor is told to stop: it rolls back and says so. */
int test_cancel_rolls_back(void)
{
    unsigned saved = nvc_plan_apply_timeout_ms;
    for (int v = 0; v < T_NVARIANTS; v++) {
        char rootfs[256];
        struct nvc_edit e[T_STD_EDITS];
        struct nvc_plan plan;
        struct t_run r = {.rootfs = rootfs, .private_ = 1, .proc = 1, .exec = t_exec_slow_path(v), .plan = &plan};
        int ok;

        CHECK(t_rootfs("cancel", rootfs, sizeof(rootfs)) == 0);
        t_std_plan(&plan, e, 0, rootfs);
        nvc_plan_apply_timeout_ms = 700; /* the slow variant sleeps 100 ms twice per mount */
        ok = t_run_plan(&r);
        nvc_plan_apply_timeout_ms = saved;
        if (r.rc == 0 || r.err.code != NVC_ERR_SERVICE_TIMEOUT || strstr(r.err.msg, "was stopped") == NULL) {
            fprintf(stderr, "# expected a stop, got %d %s %s\n", r.rc, nvc_errcode_string(r.err.code), r.err.msg);
            ok = -1;
        }
        t_run_end(&r);
        CHECK(ok == 0);
    }
    return 0;
}

/* The executor fed malformed frames directly: it answers with an error and exits 1. */
static int feed(const void *data, size_t len, int close_early)
{
    int sv[2], status;
    pid_t pid;
    char buf[8192];
    ssize_t n, got = 0;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        char *argv[] = {"nvc-ts-exec", NULL}, *envp[] = {NULL};
        dup2(sv[1], 3);
        execve(t_exec_path(T_DEFAULT), argv, envp);
        _exit(127);
    }
    close(sv[1]);
    if (len > 0 && send(sv[0], data, len, MSG_NOSIGNAL) != (ssize_t)len) {
        /* it may have answered and gone already */
    }
    if (close_early)
        shutdown(sv[0], SHUT_WR);
    while ((n = read(sv[0], buf + got, sizeof(buf) - (size_t)got)) > 0)
        got += n;
    close(sv[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 1) {
        fprintf(stderr, "# executor status %d\n", status);
        return -1;
    }
    uint16_t type;
    uint32_t body;
    const char *why;
    struct nvc_error rep;
    struct nvc_plan_result res;
    CHECK(got >= NVC_PLAN_FRAME_HEADER && nvc_plan_frame_header((uint8_t *)buf, &type, &body, &why) == 0);
    CHECK(type == NVC_FRAME_ERROR && nvc_plan_decode_result(type, (uint8_t *)buf + 12, body, 0, &res, &rep, &why) == 1);
    CHECK(rep.code == NVC_ERR_SERVICE_PROTOCOL || rep.code == NVC_ERR_INVALID_ARGUMENT);
    return 0;
}

int test_exec_rejects_garbage(void)
{
    uint8_t frame[64];
    struct nvc_edit e[T_STD_EDITS];
    struct nvc_plan plan;
    uint8_t *buf;
    size_t len;
    struct nvc_error err;

    CHECK(feed(NULL, 0, 1) == 0);
    CHECK(feed("garbage-garbage-garbage", 23, 1) == 0);
    /* valid header claiming 5 MiB */
    memcpy(frame, "NVCP\x01\x00\x01\x00\x00\x00\x50\x00", 12);
    CHECK(feed(frame, 12, 1) == 0);
    /* result-type frame instead of a plan */
    memcpy(frame, "NVCP\x01\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00", 16);
    CHECK(feed(frame, 16, 1) == 0);
    /* truncated real plan */
    t_std_plan(&plan, e, 0, T_BASE "/x");
    CHECK(nvc_plan_encode(&plan, &buf, &len, &err) == 0);
    CHECK(feed(buf, len - 7, 1) == 0);
    /* a plan whose checks fail on the executor's side (relative target) */
    for (size_t i = 12; i + 4 < len; i++) {
        if (memcmp(buf + i, "/proc/driver", 12) == 0) {
            buf[i] = 'x';
            break;
        }
    }
    CHECK(feed(buf, len, 1) == 0);
    free(buf);
    return 0;
}

static const struct test_case tests[] = {
    TEST(test_codec_roundtrip),
    TEST(test_codec_checks),
    TEST(test_codec_truncation_and_mutation),
    TEST(test_std_plan),
    TEST(test_std_plan_rootfs_mount),
    TEST(test_shared_propagation),
    TEST(test_mid_failure_rolls_back),
    TEST(test_mid_failure_rolls_back_shared),
    TEST(test_remount_rolled_back),
    TEST(test_source_checks),
    TEST(test_symlink_and_placeholder_semantics),
    TEST(test_pid0_own_namespace),
    TEST(test_same_namespace_refused),
    TEST(test_bad_rootfs),
    TEST(test_client_failures),
    TEST(test_cancel_rolls_back),
    TEST(test_exec_rejects_garbage),
    TEST(test_hostile_corpus),
    TEST(test_race_component_swap),
    TEST(test_race_placeholder_swap),
    TEST(test_teardown_codec),
    TEST(test_teardown_restores),
    TEST(test_teardown_keeps_nonempty),
};

int main(int argc, char **argv)
{
    const char *dir = getenv("NVC_EXEC_BUILD");
    if (dir != NULL)
        t_exec_dir = dir;
    if (geteuid() != 0)
        return suite_absent("root", "mount namespaces and mounts");
    if (t_sandbox_init() < 0)
        return 1;
    if (argc > 1) {
        /* run only the tests whose names contain argv[1] */
        struct test_case sel[sizeof(tests) / sizeof(tests[0])];
        size_t n = 0;
        for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
            if (strstr(tests[i].name, argv[1]))
                sel[n++] = tests[i];
        }
        return run_tests(sel, n);
    }
    return RUN_TESTS(tests);
}
