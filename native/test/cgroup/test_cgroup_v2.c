/* cgroup v2 device programs, on this machine's real cgroup2 hierarchy: a test cgroup with
 * a "runtime" program (allow a few devices, deny the rest, as runc attaches), a probe
 * process inside, and nvc_cgroup_allow wrapping the runtime's program. The test runs in
 * its own mount namespace with a private BPF file system for the tail-call pins. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_internal.h"
#include "cgtest.h"
#include "harness.h"

static char v2root[4096], bpffs[4096];
static struct cgt_nodes nodes;

static const struct cgt_dev NULL_DEV[] = {{1, 3}};

struct box {
    char cg[4096];
    struct cgt_probe probe;
    uint32_t ids[8]; /* programs attached by the "runtime" */
    int n_ids;
};

/* A fresh cgroup with the given runtime programs attached (each one allowing devs[i]),
 * and a probe inside. */
static int box_open(struct box *b, int nprogs, const struct cgt_dev *const *devs, const size_t *ndevs, uint32_t flags,
                    int with_helper)
{
    memset(b, 0, sizeof(*b));
    if (cgt_mkcgroup(v2root, b->cg, sizeof(b->cg)) < 0)
        return -1;
    for (int i = 0; i < nprogs; i++) {
        int fd = cgt_runtime_prog(devs[i], ndevs[i], with_helper), r;
        if (fd < 0)
            return -1;
        r = cgt_attach(b->cg, fd, flags);
        close(fd); /* the attachment holds it */
        if (r < 0)
            return -1;
    }
    b->n_ids = cgt_query(b->cg, b->ids, 8, NULL);
    if (b->n_ids != nprogs)
        return -1;
    if (cgt_probe_start(&b->probe) < 0 || cgt_probe_join(&b->probe, b->cg) < 0)
        return -1;
    return 0;
}

static int box_plain(struct box *b, uint32_t flags, int with_helper)
{
    const struct cgt_dev *d[] = {NULL_DEV};
    const size_t n[] = {1};
    return box_open(b, 1, d, n, flags, with_helper);
}

static void box_close(struct box *b)
{
    cgt_probe_stop(&b->probe);
    if (b->cg[0])
        cgt_rmdir(b->cg);
}

static int allow(struct box *b, const struct nvc_device_rule *r, size_t n, struct nvc_error *err)
{
    int rc = nvc_cgroup_allow_version("/proc", b->probe.pid, 2, r, n, err);
    if (rc < 0)
        fprintf(stderr, "# nvc_cgroup_allow: %s [%s] %s (%s)\n", nvc_errcode_string(err->code), err->step, err->msg,
                err->path);
    return rc;
}

static int count_pins(void)
{
    char dir[4200];
    DIR *d;
    struct dirent *e;
    int n = 0;
    snprintf(dir, sizeof(dir), "%s/nvc-ts", bpffs);
    if (!(d = opendir(dir)))
        return 0;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, "devcg-", 6) == 0;
    closedir(d);
    return n;
}

/* The pins of removed cgroups go once the kernel has let go of their programs. */
static int sweep_until(int want)
{
    struct nvc_error err;
    for (int i = 0; i < 500; i++) {
        if (nvc_cgroup_v2_sweep(&err) < 0) {
            fprintf(stderr, "# sweep: %s\n", err.msg);
            return -1;
        }
        if (count_pins() <= want)
            return 0;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    fprintf(stderr, "# %d pins left, wanted %d\n", count_pins(), want);
    return -1;
}

/* Runtime allows null; we allow zero rw and fake r: both must hold, nothing more. */
static int check_zero_added(struct box *b)
{
    CHECK(cgt_probe_open(&b->probe, nodes.zero, O_RDWR) == 0);
    CHECK(cgt_probe_open(&b->probe, nodes.null_, O_RDWR) == 0);
    CHECK(cgt_probe_open(&b->probe, nodes.full, O_RDWR) == EPERM);
    CHECK(cgt_probe_open(&b->probe, nodes.fake, O_RDONLY) == ENXIO);
    CHECK(cgt_probe_open(&b->probe, nodes.fake, O_WRONLY) == EPERM);
    return 0;
}

static int check_untouched(struct box *b)
{
    CHECK(cgt_probe_open(&b->probe, nodes.null_, O_RDWR) == 0);
    CHECK(cgt_probe_open(&b->probe, nodes.zero, O_RDWR) == EPERM);
    CHECK(cgt_probe_open(&b->probe, nodes.full, O_RDWR) == EPERM);
    CHECK(cgt_probe_open(&b->probe, nodes.fake, O_RDONLY) == EPERM);
    return 0;
}

static const struct nvc_device_rule ZERO_AND_FAKE[] = {{'c', 1, 5, "rw"}, {'c', CGT_FAKE_MAJOR, 0, "r"}};

/* Runtime program attached with `flags`, copied (plain program) or chained (with_helper). */
static int run_wrap(uint32_t flags, int with_helper, int want_maps)
{
    struct box b;
    struct nvc_error err;
    uint32_t ids[8], fl = 0;
    int r = -1, pins = count_pins();

    if (box_plain(&b, flags, with_helper) < 0 || check_untouched(&b) < 0 || allow(&b, ZERO_AND_FAKE, 2, &err) < 0 ||
        check_zero_added(&b) < 0)
        goto out;
    if (cgt_query(b.cg, ids, 8, &fl) != 1 || ids[0] == b.ids[0] || fl != flags) {
        fprintf(stderr, "# attached after: id %u (was %u), flags %u\n", ids[0], b.ids[0], fl);
        goto out;
    }
    if (cgt_prog_maps(ids[0]) != want_maps || count_pins() != pins + want_maps) {
        fprintf(stderr, "# maps %d, pins %d (were %d)\n", cgt_prog_maps(ids[0]), count_pins(), pins);
        goto out;
    }
    r = 0;
out:
    box_close(&b);
    if (r == 0 && want_maps)
        r = sweep_until(pins); /* the cgroup is gone: so must its pin */
    return r;
}

static int test_v2_copy_multi(void)
{
    return run_wrap(BPF_F_ALLOW_MULTI, 0, 0);
}
static int test_v2_copy_single(void)
{
    return run_wrap(0, 0, 0);
}
static int test_v2_copy_override(void)
{
    return run_wrap(BPF_F_ALLOW_OVERRIDE, 0, 0);
}
static int test_v2_tail_call(void)
{
    return run_wrap(BPF_F_ALLOW_MULTI, 1, 1);
}
static int test_v2_tail_call_single(void)
{
    return run_wrap(0, 1, 1);
}

/* Twice on one cgroup, chaining: our second program tail-calls our first. */
static int test_v2_tail_chain_twice(void)
{
    const struct nvc_device_rule full = {'c', 1, 7, "rw"};
    struct box b;
    struct nvc_error err;
    int r = -1, pins = count_pins();

    nvc_cgroup_v2_mode = NVC_CG2_TAIL_ONLY;
    if (box_plain(&b, BPF_F_ALLOW_MULTI, 0) < 0 || allow(&b, ZERO_AND_FAKE, 2, &err) < 0 ||
        allow(&b, &full, 1, &err) < 0)
        goto out;
    if (cgt_probe_open(&b.probe, nodes.full, O_RDWR) != 0 || cgt_probe_open(&b.probe, nodes.zero, O_RDWR) != 0 ||
        cgt_probe_open(&b.probe, nodes.null_, O_RDWR) != 0 || cgt_probe_open(&b.probe, nodes.fake, O_WRONLY) != EPERM ||
        count_pins() != pins + 2)
        goto out;
    r = 0;
out:
    nvc_cgroup_v2_mode = NVC_CG2_AUTO;
    box_close(&b);
    return r == 0 ? sweep_until(pins) : r;
}

/* Why the program array is pinned: once nothing outside the kernel refers to it, the
 * kernel empties it, the tail call fails and only our devices are left. This pins down
 * the hazard the design works around (and that a removed pin is noticed by the sweep). */
static int test_v2_pin_is_load_bearing(void)
{
    const struct nvc_device_rule zero = {'c', 1, 5, "rw"};
    struct box b;
    struct nvc_error err;
    uint32_t ids[8];
    char pin[4300];
    int r = -1, i;

    if (box_plain(&b, BPF_F_ALLOW_MULTI, 1) < 0 || allow(&b, &zero, 1, &err) < 0 ||
        cgt_query(b.cg, ids, 8, NULL) != 1 || cgt_probe_open(&b.probe, nodes.null_, O_RDWR) != 0)
        goto out;
    snprintf(pin, sizeof(pin), "%s/nvc-ts/devcg-%u", bpffs, ids[0]);
    if (unlink(pin) < 0) {
        fprintf(stderr, "# unlink %s: %s\n", pin, strerror(errno));
        goto out;
    }
    for (i = 0; i < 200 && cgt_probe_open(&b.probe, nodes.null_, O_RDWR) == 0; i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL); /* the kernel empties it from a work queue */
    if (cgt_probe_open(&b.probe, nodes.null_, O_RDWR) != EPERM || cgt_probe_open(&b.probe, nodes.zero, O_RDWR) != 0)
        goto out;
    r = 0;
out:
    box_close(&b);
    return r;
}

/* A program we can't copy and no bpffs to pin into: refused, and nothing changed. */
static int test_v2_no_bpffs(void)
{
    const char *saved = nvc_cgroup_bpffs;
    struct box b;
    struct nvc_error err;
    uint32_t ids[8];
    int r = -1;

    nvc_cgroup_bpffs = nodes.dir; /* a plain directory */
    if (box_plain(&b, BPF_F_ALLOW_MULTI, 1) < 0)
        goto out;
    if (nvc_cgroup_allow_version("/proc", b.probe.pid, 2, ZERO_AND_FAKE, 2, &err) != -1 || err.code != NVC_ERR_CGROUP ||
        !strstr(err.msg, "mount -t bpf")) {
        fprintf(stderr, "# got %s: %s\n", nvc_errcode_string(err.code), err.msg);
        goto out;
    }
    fprintf(stderr, "# as expected: %s\n", err.msg);
    if (cgt_query(b.cg, ids, 8, NULL) != 1 || ids[0] != b.ids[0] || check_untouched(&b) < 0)
        goto out;
    r = 0;
out:
    nvc_cgroup_bpffs = saved;
    box_close(&b);
    return r;
}

/* Two runtime programs (ALLOW_MULTI: both must agree). A failure replacing the second
 * puts the first back; without it both are wrapped and our device passes both. */
static int run_two_programs(enum nvc_cgroup_v2_mode mode, int no_replace)
{
    static const struct cgt_dev a[] = {{1, 3}, {1, 5}}, c[] = {{1, 3}, {1, 7}};
    const struct cgt_dev *d[] = {a, c};
    const size_t n[] = {2, 2};
    const struct nvc_device_rule fake_r = {'c', CGT_FAKE_MAJOR, 0, "r"};
    struct box b;
    struct nvc_error err;
    uint32_t ids[8];
    int r = -1, pins = count_pins();

    nvc_cgroup_v2_mode = mode;
    nvc_cgroup_v2_no_replace = no_replace;
    if (box_open(&b, 2, d, n, BPF_F_ALLOW_MULTI, 0) < 0 || check_untouched(&b) < 0)
        goto out;
    nvc_cgroup_v2_fail_at = 1;
    if (nvc_cgroup_allow_version("/proc", b.probe.pid, 2, &fake_r, 1, &err) != -1 || !strstr(err.msg, "injected")) {
        fprintf(stderr, "# injected failure not reported: %s\n", err.msg);
        goto out;
    }
    nvc_cgroup_v2_fail_at = -1;
    /* the same two (in either order: without BPF_F_REPLACE a program put back goes last) */
    if (cgt_query(b.cg, ids, 8, NULL) != 2 ||
        !((ids[0] == b.ids[0] && ids[1] == b.ids[1]) || (ids[0] == b.ids[1] && ids[1] == b.ids[0]))) {
        fprintf(stderr, "# programs after the failed attempt: %u %u, were %u %u\n", ids[0], ids[1], b.ids[0], b.ids[1]);
        goto out;
    }
    if (check_untouched(&b) < 0 || count_pins() != pins)
        goto out;
    /* and now for real: zero was allowed by one runtime program only, fake by none */
    if (allow(&b, &fake_r, 1, &err) < 0 || cgt_probe_open(&b.probe, nodes.fake, O_RDONLY) != ENXIO ||
        cgt_probe_open(&b.probe, nodes.null_, O_RDWR) != 0 || cgt_probe_open(&b.probe, nodes.zero, O_RDWR) != EPERM ||
        cgt_probe_open(&b.probe, nodes.full, O_RDWR) != EPERM)
        goto out;
    if (cgt_query(b.cg, ids, 8, NULL) != 2)
        goto out;
    for (int i = 0; i < 2; i++)
        if (ids[i] == b.ids[0] || ids[i] == b.ids[1])
            goto out; /* both must be ours now */
    r = 0;
out:
    nvc_cgroup_v2_fail_at = -1;
    nvc_cgroup_v2_no_replace = 0;
    nvc_cgroup_v2_mode = NVC_CG2_AUTO;
    box_close(&b);
    return r == 0 ? sweep_until(pins) : r;
}

static int test_v2_two_programs_copy(void)
{
    return run_two_programs(NVC_CG2_COPY_ONLY, 0);
}
static int test_v2_two_programs_tail(void)
{
    return run_two_programs(NVC_CG2_TAIL_ONLY, 0);
}
/* as on kernels before 5.6: attach ours, then detach the old one */
static int test_v2_two_programs_no_replace(void)
{
    return run_two_programs(NVC_CG2_COPY_ONLY, 1);
}
static int test_v2_two_programs_tail_no_replace(void)
{
    return run_two_programs(NVC_CG2_TAIL_ONLY, 1);
}

/* Nothing attached: every device is allowed already; attaching anything would deny. */
static int test_v2_no_program(void)
{
    struct box b;
    struct nvc_error err;
    uint32_t ids[8];
    int r = -1;
    if (box_open(&b, 0, NULL, NULL, 0, 0) < 0 || allow(&b, ZERO_AND_FAKE, 2, &err) < 0)
        goto out;
    if (cgt_query(b.cg, ids, 8, NULL) != 0 || cgt_probe_open(&b.probe, nodes.full, O_RDWR) != 0 ||
        cgt_probe_open(&b.probe, nodes.zero, O_RDWR) != 0 || cgt_probe_open(&b.probe, nodes.fake, O_WRONLY) != ENXIO)
        goto out;
    r = 0;
out:
    box_close(&b);
    return r;
}

/* The public entry point on a pure-v2 view of this host: a proc root whose cgroup file
 * has only the unified line, and a mountinfo whose cgroup2 mount shows a subtree (the
 * mount root is cut off the cgroup path). */
static int test_v2_public_api(void)
{
    char fake[4096], cgtext[4300], mi[9000];
    const char *name;
    struct box b;
    struct nvc_error err;
    int v = 0, r = -1;

    fake[0] = '\0';
    if (box_plain(&b, BPF_F_ALLOW_MULTI, 0) < 0)
        goto out;
    name = strrchr(b.cg, '/');
    snprintf(cgtext, sizeof(cgtext), "0::%s\n", name);
    snprintf(mi, sizeof(mi),
             "25 1 0:22 / /proc rw,nosuid - proc proc rw\n"
             "41 31 0:38 %s %s rw,nosuid,nodev,noexec shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
             name, b.cg);
    if (cgt_fake_proc(fake, sizeof(fake), b.probe.pid, cgtext, mi) < 0)
        goto out;
    if (nvc_cgroup_version(fake, b.probe.pid, &v, &err) < 0 || v != 2 ||
        nvc_cgroup_allow(fake, b.probe.pid, ZERO_AND_FAKE, 2, &err) < 0) {
        fprintf(stderr, "# %s\n", err.msg);
        goto out;
    }
    r = check_zero_added(&b);
out:
    box_close(&b);
    if (fake[0]) {
        char cmd[4200];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake);
        if (system(cmd) != 0)
            r = -1;
    }
    return r;
}

static int nobody_allows(void *arg)
{
    struct box *b = arg;
    struct nvc_error err;
    if (nvc_cgroup_allow_version("/proc", b->probe.pid, 2, ZERO_AND_FAKE, 2, &err) != -1)
        return -1;
    fprintf(stderr, "# as nobody: %s: %s\n", nvc_errcode_string(err.code), err.msg);
    return err.code == NVC_ERR_PERMISSION && strstr(err.msg, "--no-cgroups") ? 0 : -1;
}

static int test_v2_rootless_error(void)
{
    struct box b;
    uint32_t ids[8];
    int r = -1;
    if (box_plain(&b, BPF_F_ALLOW_MULTI, 0) == 0 && cgt_as_nobody(nobody_allows, &b) == 0 &&
        cgt_query(b.cg, ids, 8, NULL) == 1 && ids[0] == b.ids[0])
        r = check_untouched(&b);
    box_close(&b);
    return r;
}

/* Own mount namespace, private bpffs: pins made here vanish with the test. */
static int setup_bpffs(void)
{
    const char *tmp = getenv("TMPDIR");
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        fprintf(stderr, "# mount namespace: %s\n", strerror(errno));
        return -1;
    }
    snprintf(bpffs, sizeof(bpffs), "%s/nvc-bpffs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(bpffs) || mount("bpf", bpffs, "bpf", 0, "mode=0700") < 0) {
        fprintf(stderr, "# mount bpffs: %s\n", strerror(errno));
        return -1;
    }
    nvc_cgroup_bpffs = bpffs;
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_v2_copy_multi),
        TEST(test_v2_copy_single),
        TEST(test_v2_copy_override),
        TEST(test_v2_tail_call),
        TEST(test_v2_tail_call_single),
        TEST(test_v2_tail_chain_twice),
        TEST(test_v2_pin_is_load_bearing),
        TEST(test_v2_no_bpffs),
        TEST(test_v2_two_programs_copy),
        TEST(test_v2_two_programs_tail),
        TEST(test_v2_two_programs_no_replace),
        TEST(test_v2_two_programs_tail_no_replace),
        TEST(test_v2_no_program),
        TEST(test_v2_public_api),
        TEST(test_v2_rootless_error),
    };
    char v1[4096];
    int rc;

    if (geteuid() != 0)
        return suite_absent("root", "cgroups are created, BPF programs attached");
    if (cgt_find_mounts(v1, sizeof(v1), v2root, sizeof(v2root)) < 0)
        return 1;
    if (!v2root[0])
        return suite_absent("cgroup2", "no cgroup2 mount to test in");
    if (setup_bpffs() < 0 || cgt_make_nodes(&nodes) < 0)
        return 1;
    rc = RUN_TESTS(tests);
    cgt_remove_nodes(&nodes);
    umount2(bpffs, MNT_DETACH);
    rmdir(bpffs);
    return rc;
}
