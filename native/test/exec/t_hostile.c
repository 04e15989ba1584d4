/* Hostile rootfs layouts: every component the standard plan touches replaced by links
 * out of the rootfs (absolute, relative, through /proc magic links), loops, files
 * where directories belong and the reverse, dangling links, placeholders that are
 * links to host files. Each layout is a separate case, run under every executor
 * variant; each must either succeed inside the rootfs or fail with a clear error, and
 * in both cases leave the host (canary tree, probe paths, mount table) untouched -
 * t_run_plan checks all of that. Then two races: a process swapping a directory
 * component, or the placeholder itself, for links pointing outside while the executor
 * runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "plan_codec.h"
#include "tests.h"
#include "tutil.h"

#define LIBDIR          "usr/lib/x86_64-linux-gnu"
#define LIB             LIBDIR "/libnvc-probe.so.1"
#define C               T_CANARY
#define SYMLINK_REFUSED "exists and is a symlink; refusing to mount over a symlink"

enum op_kind { OP_END = 0, OP_RM, OP_LINK, OP_DIR, OP_FILE, OP_FIFO, OP_HARDLINK, OP_CHAIN };
struct op {
    enum op_kind kind;
    const char *path; /* relative to the rootfs */
    const char *arg;  /* link text, or host path for OP_HARDLINK */
};
enum expect { OK, FAIL };
struct hcase {
    const char *name;
    int proc; /* procfs mounted at <rootfs>/proc in the container (as runc does) */
    enum expect expect;
    struct op ops[5];
};

static const struct hcase cases[] = {
    {"usr -> / (absolute)", 0, OK, {{OP_RM, "usr", NULL}, {OP_LINK, "usr", "/"}}},
    {"usr -> canary (absolute host path)", 0, FAIL, {{OP_RM, "usr", NULL}, {OP_LINK, "usr", C}}},
    {"usr -> ../../.. chain to canary",
     0,
     FAIL,
     {{OP_RM, "usr", NULL}, {OP_LINK, "usr", "../../../../../../../../tmp/nvc-exec-test/canary"}}},
    {"usr/lib -> / (absolute)", 0, OK, {{OP_RM, "usr/lib", NULL}, {OP_LINK, "usr/lib", "/"}}},
    {"usr/lib -> ../../.. (clamped at the root)",
     0,
     OK,
     {{OP_RM, "usr/lib", NULL}, {OP_LINK, "usr/lib", "../../../../../../../.."}}},
    {"libdir -> canary libdir (absolute)",
     0,
     FAIL,
     {{OP_RM, LIBDIR, NULL}, {OP_LINK, LIBDIR, C "/usr/lib/x86_64-linux-gnu"}}},
    {"libdir -> /proc/self/root/<canary>",
     1,
     FAIL,
     {{OP_RM, LIBDIR, NULL}, {OP_LINK, LIBDIR, "/proc/self/root" C "/usr/lib/x86_64-linux-gnu"}}},
    {"libdir -> /proc/1/root/<canary>",
     1,
     FAIL,
     {{OP_RM, LIBDIR, NULL}, {OP_LINK, LIBDIR, "/proc/1/root" C "/usr/lib/x86_64-linux-gnu"}}},
    {"libdir -> /proc/self/fd/3", 1, FAIL, {{OP_RM, LIBDIR, NULL}, {OP_LINK, LIBDIR, "/proc/self/fd/3"}}},
    {"libdir -> ../../../../etc (dotdot chain, stays inside)",
     0,
     OK,
     {{OP_RM, LIBDIR, NULL}, {OP_LINK, LIBDIR, "../../../../../../../../../../../../etc"}}},
    {"libdir -> /usr/lib/../../../../tmp/../etc",
     0,
     OK,
     {{OP_RM, LIBDIR, NULL}, {OP_LINK, LIBDIR, "/usr/lib/../../../../../../tmp/../etc"}}},
    {"libdir is a symlink loop pair",
     0,
     FAIL,
     {{OP_RM, LIBDIR, NULL},
      {OP_LINK, LIBDIR, "loop1"},
      {OP_LINK, "usr/lib/loop1", "loop2"},
      {OP_LINK, "usr/lib/loop2", "loop1"}}},
    {"libdir is a chain of 45 links", 0, FAIL, {{OP_RM, LIBDIR, NULL}, {OP_CHAIN, LIBDIR, "45"}}},
    {"libdir is a dangling link", 0, FAIL, {{OP_RM, LIBDIR, NULL}, {OP_LINK, LIBDIR, "nonexistent"}}},
    {"libdir is a FIFO", 0, FAIL, {{OP_RM, LIBDIR, NULL}, {OP_FIFO, LIBDIR, NULL}}},
    {"usr/lib is a file", 0, FAIL, {{OP_RM, "usr/lib", NULL}, {OP_FILE, "usr/lib", NULL}}},
    {"library placeholder -> host library (absolute)",
     0,
     FAIL,
     {{OP_LINK, LIB, C "/usr/lib/x86_64-linux-gnu/libnvc-probe.so.1"}}},
    {"library placeholder -> ../../.. to a host file",
     0,
     FAIL,
     {{OP_LINK, LIB, "../../../../../../../tmp/nvc-exec-test/canary/file"}}},
    {"library placeholder -> /proc/self/root/etc/passwd", 1, FAIL, {{OP_LINK, LIB, "/proc/self/root/etc/passwd"}}},
    {"library placeholder is a dangling link", 0, FAIL, {{OP_LINK, LIB, "/nonexistent"}}},
    {"library placeholder is a directory", 0, FAIL, {{OP_DIR, LIB, NULL}}},
    {"library placeholder is a hard link to a host file", 0, OK, {{OP_HARDLINK, LIB, C "/file"}}},
    {"library symlink name is a regular file", 0, FAIL, {{OP_FILE, LIBDIR "/libnvc-probe.so", NULL}}},
    {"library symlink name -> a host file", 0, FAIL, {{OP_LINK, LIBDIR "/libnvc-probe.so", C "/file"}}},
    {"usr/bin -> /proc/self/exe", 1, FAIL, {{OP_RM, "usr/bin", NULL}, {OP_LINK, "usr/bin", "/proc/self/exe"}}},
    {"usr/share placeholder -> /", 0, FAIL, {{OP_LINK, "usr/share/nvc-probe", "/"}}},
    {"proc -> canary (absolute)", 0, FAIL, {{OP_RM, "proc", NULL}, {OP_LINK, "proc", C "/proc"}}},
    {"proc -> /proc/self/root/proc (loops inside)",
     0,
     FAIL,
     {{OP_RM, "proc", NULL}, {OP_LINK, "proc", "/proc/self/root/proc"}}},
    {"proc/driver -> canary (absolute)", 0, FAIL, {{OP_DIR, "proc", NULL}, {OP_LINK, "proc/driver", C "/proc/driver"}}},
    {"proc -> ../../.. to tmp (stays inside)",
     0,
     OK,
     {{OP_RM, "proc", NULL}, {OP_LINK, "proc", "../../../../../../../../../tmp"}}},
    {"proc/driver (tmpfs mount point) -> ../../.. to tmp",
     0,
     FAIL,
     {{OP_LINK, "proc/driver", "../../../../../../../../../tmp"}}},
    {"dev -> /dev (self loop)", 0, FAIL, {{OP_RM, "dev", NULL}, {OP_LINK, "dev", "/dev"}}},
    {"dev -> ../../../dev (relative self loop)", 0, FAIL, {{OP_RM, "dev", NULL}, {OP_LINK, "dev", "../../../../dev"}}},
    {"device placeholder is a directory", 0, FAIL, {{OP_DIR, "dev/nvc-probe0", NULL}}},
    {"device placeholder is a FIFO", 0, FAIL, {{OP_FIFO, "dev/nvc-probe0", NULL}}},
    {"etc -> canary etc (absolute)", 0, FAIL, {{OP_RM, "etc", NULL}, {OP_LINK, "etc", C "/etc"}}},
    {"etc/nvc-probe.d -> canary", 0, FAIL, {{OP_LINK, "etc/nvc-probe.d", C}}},
    {"run -> /proc/1/root/run", 1, FAIL, {{OP_RM, "run", NULL}, {OP_LINK, "run", "/proc/1/root/run"}}},
    {"run/nvc-probe -> /proc/self/cwd", 1, FAIL, {{OP_LINK, "run/nvc-probe", "/proc/self/cwd"}}},
    {"run/nvc-probe is a file", 0, FAIL, {{OP_FILE, "run/nvc-probe", NULL}}},
};

/* FAIL cases whose refusal has one right reason: a text the message must contain, so that
 * a check that is gone but happens to be backed up by a later failure (of the kernel, say)
 * does not pass unnoticed. Cases not listed: any clean refusal will do. */
static const struct {
    const char *name, *why;
} reasons[] = {
    {"library placeholder -> host library (absolute)", SYMLINK_REFUSED},
    {"library placeholder -> ../../.. to a host file", SYMLINK_REFUSED},
    {"library placeholder -> /proc/self/root/etc/passwd", SYMLINK_REFUSED},
    {"library placeholder is a dangling link", SYMLINK_REFUSED},
    {"library placeholder is a directory", "exists and is a directory"},
    {"device placeholder is a directory", "exists and is a directory"},
    {"device placeholder is a FIFO", "exists and is a FIFO"},
};

static const char *reason_of(const char *name)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (strcmp(reasons[i].name, name) == 0)
            return reasons[i].why;
    }
    return NULL;
}

static int apply_ops(const char *rootfs, const struct op *ops)
{
    for (const struct op *o = ops; o->kind != OP_END; o++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", rootfs, o->path);
        switch (o->kind) {
        case OP_RM: t_rmrf(p); break;
        case OP_LINK:
            if (t_symlink(o->arg, p) < 0)
                return -1;
            break;
        case OP_DIR:
            t_rmrf(p);
            if (t_mkdirs(p) < 0)
                return -1;
            break;
        case OP_FILE:
            t_rmrf(p);
            if (t_write(p, "image file\n") < 0)
                return -1;
            break;
        case OP_FIFO:
            t_rmrf(p);
            if (mkfifo(p, 0644) < 0)
                return -1;
            break;
        case OP_HARDLINK:
            t_rmrf(p);
            if (link(o->arg, p) < 0)
                return -1;
            break;
        case OP_CHAIN: {
            /* path -> c0 -> c1 -> ... -> c<n-1> -> a real directory */
            int n = atoi(o->arg);
            char dir[PATH_MAX], l[PATH_MAX], t[64];
            snprintf(dir, sizeof(dir), "%s/usr/lib/real", rootfs);
            t_mkdirs(dir);
            for (int k = 0; k < n; k++) {
                snprintf(l, sizeof(l), "%s/usr/lib/c%d", rootfs, k);
                if (k + 1 < n)
                    snprintf(t, sizeof(t), "c%d", k + 1);
                else
                    snprintf(t, sizeof(t), "real");
                if (t_symlink(t, l) < 0)
                    return -1;
            }
            if (t_symlink("c0", p) < 0)
                return -1;
            break;
        }
        case OP_END: break;
        }
    }
    return 0;
}

int test_hostile_corpus(void)
{
    int failures = 0, runs = 0;
    size_t ncases = sizeof(cases) / sizeof(cases[0]);

    fprintf(stderr, "# %zu hostile layouts x %d executor variants\n", ncases, T_NVARIANTS);
    for (size_t i = 0; i < ncases; i++) {
        for (int v = 0; v < T_NVARIANTS; v++) {
            char rootfs[256];
            struct nvc_edit e[T_STD_EDITS];
            struct nvc_plan plan;
            struct t_run r = {
                .rootfs = rootfs, .private_ = 1, .proc = cases[i].proc, .exec = t_exec_path(v), .plan = &plan};
            int ok;

            if (t_rootfs("hostile", rootfs, sizeof(rootfs)) < 0 || apply_ops(rootfs, cases[i].ops) < 0) {
                fprintf(stderr, "# case %zu (%s): setup failed: %s\n", i, cases[i].name, strerror(errno));
                failures++;
                continue;
            }
            t_std_plan(&plan, e, 0, rootfs);
            ok = t_run_plan(&r);
            runs++;
            if (r.rc < 0 && r.err.path[0] == '\0') {
                fprintf(stderr, "# error without a container path: %s\n", r.err.msg);
                ok = -1;
            }
            if ((cases[i].expect == OK) != (r.rc == 0)) {
                fprintf(stderr, "# expected %s\n", cases[i].expect == OK ? "success" : "failure");
                ok = -1;
            }
            if (r.rc < 0 && reason_of(cases[i].name) != NULL && strstr(r.err.msg, reason_of(cases[i].name)) == NULL) {
                fprintf(stderr, "# refused, but not because \"%s\": %s\n", reason_of(cases[i].name), r.err.msg);
                ok = -1;
            }
            if (v == 0 || ok < 0)
                fprintf(stderr, "# %s case %2zu %-52s [%s] %s%s\n", ok == 0 ? "ok    " : "FAILED", i, cases[i].name,
                        t_variant_name(v), r.rc == 0 ? "applied inside the rootfs" : nvc_errcode_string(r.err.code),
                        r.rc == 0 ? "" : "");
            if (r.rc < 0 && v == 0)
                fprintf(stderr, "#        %s\n", r.err.msg);
            if (ok < 0)
                failures++;
            t_run_end(&r);
        }
    }
    fprintf(stderr, "# %d runs, %d failed\n", runs, failures);
    return failures == 0 ? 0 : -1;
}

/* ---- races ---- */

struct swapper {
    pid_t pid;
    volatile unsigned long *count;
};

/* Swap two names atomically (RENAME_EXCHANGE) in a loop, re-aiming the link at a
 * different outside target now and then. */
static int swapper_start(struct swapper *s, const char *a, const char *b, const char *const *targets)
{
    s->count = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->count == MAP_FAILED)
        return -1;
    *s->count = 0;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (unsigned long k = 0;; k++) {
            if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) == 0)
                (*s->count)++;
            if (k % 64 == 0) {
                /* b or a is the link now: re-aim whichever is a link */
                struct stat st;
                const char *t = targets[(k / 64) % 4];
                const char *l = (lstat(a, &st) == 0 && S_ISLNK(st.st_mode)) ? a : b;
                char tmp[700];
                snprintf(tmp, sizeof(tmp), "%s.new", l);
                unlink(tmp);
                if (symlink(t, tmp) == 0)
                    rename(tmp, l);
            }
        }
    }
    return 0;
}

static unsigned long swapper_stop(struct swapper *s)
{
    unsigned long n;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    n = *s->count;
    munmap((void *)s->count, 4096);
    return n;
}

static int race(const char *name, const char *real_rel, int real_is_dir, int iterations)
{
    static const char *const targets[] = {
        C "/usr/lib/x86_64-linux-gnu",
        "../../../../../../../../../tmp/nvc-exec-test/canary/usr/lib/x86_64-linux-gnu",
        "/proc/self/root" C "/usr/lib/x86_64-linux-gnu",
        "/",
    };
    int failures = 0;

    for (int v = 0; v < T_NVARIANTS; v++) {
        char rootfs[256], real[512], evil[600];
        struct swapper s;
        int done = 0, failed = 0;
        unsigned long swaps;

        if (t_rootfs(name, rootfs, sizeof(rootfs)) < 0)
            return -1;
        snprintf(real, sizeof(real), "%s/%s", rootfs, real_rel);
        snprintf(evil, sizeof(evil), "%s.evil", real);
        if (real_is_dir)
            t_mkdirs(real);
        else
            t_write(real, "");
        if (t_symlink(targets[0], evil) < 0 || swapper_start(&s, real, evil, targets) < 0)
            return -1;
        for (int it = 0; it < iterations; it++) {
            struct nvc_edit e[T_STD_EDITS];
            struct nvc_plan plan;
            /* every third run with the slow executor: wide windows between steps */
            const char *exec = (it % 3 == 2) ? t_exec_slow_path(v) : t_exec_path(v);
            struct t_run r = {.rootfs = rootfs, .private_ = 1, .proc = 1, .exec = exec, .plan = &plan, .skip_tree = 1};
            unsigned saved = nvc_plan_apply_timeout_ms;
            t_std_plan(&plan, e, 0, rootfs);
            if (it % 3 == 2) {
                /* the slow one may be stopped at its deadline: a rollback under fire */
                nvc_plan_apply_timeout_ms = 1500;
            }
            if (t_run_plan(&r) < 0) {
                fprintf(stderr, "# iteration %d (%s): invariant broken (%s)\n", it, t_variant_name(v), r.err.msg);
                failures++;
            }
            nvc_plan_apply_timeout_ms = saved;
            if (r.rc == 0)
                done++;
            else
                failed++;
            if (r.rc < 0 && r.err.code == NVC_ERR_ROLLBACK) {
                fprintf(stderr, "# iteration %d: rollback incomplete: %s\n", it, r.err.msg);
                failures++;
            }
            t_run_end(&r);
        }
        swaps = swapper_stop(&s);
        fprintf(stderr, "# %s [%s]: %d runs applied inside the rootfs, %d refused cleanly, %lu swaps\n", name,
                t_variant_name(v), done, failed, swaps);
        if (swaps < 1000) {
            fprintf(stderr, "# the swapper barely ran\n");
            failures++;
        }
    }
    return failures == 0 ? 0 : -1;
}

/* Runs per variant of each race test: 90, or NVC_TEST_RACE_ITERATIONS. The mutation run
 * (scripts/mutate-c.js) lowers it to keep each mutant's run short; it says so in its
 * output. A race lost on one run in a thousand needs the full count to show up, so a
 * plain `npm test` never sets it. Values below 3 are raised to 3, so that the slow
 * executor (every third run) still takes part. */
static int race_iterations(void)
{
    const char *s = getenv("NVC_TEST_RACE_ITERATIONS");
    long n = s && *s ? strtol(s, NULL, 10) : 90;
    if (n < 3)
        n = 3;
    if (n != 90)
        fprintf(stderr, "# race iterations lowered to %ld (NVC_TEST_RACE_ITERATIONS)\n", n);
    return (int)n;
}

int test_race_component_swap(void)
{
    return race("race-dir", LIBDIR, 1, race_iterations());
}

int test_race_placeholder_swap(void)
{
    return race("race-file", LIB, 0, race_iterations());
}
