/* cgroup v1 devices controller, on this machine's real hierarchy: a test cgroup that
 * denies everything, a probe process inside it, and nvc_cgroup_allow opening it up. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgtest.h"
#include "harness.h"

static char v1root[4096];
static struct cgt_nodes nodes;

/* A fresh cgroup denying all devices, with a probe inside. */
struct box {
    char cg[4096];
    struct cgt_probe probe;
};

static int box_open(struct box *b, const char *parent)
{
    memset(b, 0, sizeof(*b));
    if (cgt_mkcgroup(parent, b->cg, sizeof(b->cg)) < 0)
        return -1;
    if (cgt_write(b->cg, "devices.deny", "a") < 0 || cgt_probe_start(&b->probe) < 0 ||
        cgt_probe_join(&b->probe, b->cg) < 0)
        return -1;
    return 0;
}

static void box_close(struct box *b)
{
    cgt_probe_stop(&b->probe);
    if (b->cg[0])
        cgt_rmdir(b->cg);
}

static int allows(struct box *b, const struct nvc_device_rule *r, size_t n)
{
    struct nvc_error err;
    if (nvc_cgroup_allow("/proc", b->probe.pid, r, n, &err) == 0)
        return 0;
    fprintf(stderr, "# nvc_cgroup_allow: %s [%s] %s (%s)\n", nvc_errcode_string(err.code), err.step, err.msg, err.path);
    return -1;
}

static int body_allow(struct box *b)
{
    const struct nvc_device_rule rules[] = {{'c', 1, 5, "rw"}, {'c', CGT_FAKE_MAJOR, 0, "r"}};
    int v = 0;
    struct nvc_error err;
    char list[8192];
    FILE *f;
    size_t len;

    CHECK(nvc_cgroup_version("/proc", b->probe.pid, &v, &err) == 0 && v == 1);
    /* the box really denies, or the rest proves nothing */
    CHECK(cgt_probe_open(&b->probe, nodes.zero, O_RDWR) == EPERM);
    CHECK(cgt_probe_open(&b->probe, nodes.null_, O_RDWR) == EPERM);

    CHECK(allows(b, rules, 2) == 0);
    CHECK(cgt_probe_open(&b->probe, nodes.zero, O_RDWR) == 0);
    CHECK(cgt_probe_open(&b->probe, nodes.null_, O_RDWR) == EPERM);
    CHECK(cgt_probe_open(&b->probe, nodes.full, O_RDONLY) == EPERM);
    CHECK(cgt_probe_open(&b->probe, nodes.fake, O_RDONLY) == ENXIO); /* allowed; no driver */
    CHECK(cgt_probe_open(&b->probe, nodes.fake, O_WRONLY) == EPERM); /* "r" only */

    snprintf(list, sizeof(list), "%s/devices.list", b->cg);
    CHECK((f = fopen(list, "re")) != NULL);
    len = fread(list, 1, sizeof(list) - 1, f);
    fclose(f);
    list[len] = '\0';
    CHECK(strstr(list, "c 1:5 rw") != NULL);
    CHECK(strstr(list, "c 240:0 r") != NULL);
    return 0;
}

static int test_v1_allow(void)
{
    struct box b;
    int r = -1;
    if (!v1root[0])
        return test_absent("cgroup1", "a v1 devices hierarchy to test in");
    if (box_open(&b, v1root) == 0)
        r = body_allow(&b);
    box_close(&b);
    return r;
}

/* Teardown's half: allow reports only what was not granted before; deny takes back exactly
 * that, keeps what was there before, and a second deny writes nothing. */
static int body_report_deny(struct box *b)
{
    /* c 1:5 r granted before; configure asks for rw (adds w), c 1:3 rw (adds both), c 1:7 r
     * is covered by a wildcard granted before (adds nothing). */
    const struct nvc_device_rule rules[] = {{'c', 1, 5, "rw"}, {'c', 1, 3, "rw"}, {'c', 1, 7, "r"}};
    struct nvc_device_rule added[3];
    char got[3][4];
    int present[3] = {0, 0, 0};
    size_t nadded = 0;
    struct nvc_error err;

    CHECK(cgt_write(b->cg, "devices.allow", "c 1:5 r") == 0);
    CHECK(cgt_write(b->cg, "devices.allow", "c 1:* r") == 0);
    CHECK(nvc_cgroup_allow_report("/proc", b->probe.pid, 1, rules, 3, got, &err) == 0);
    /* c 1:5: its own exception has r, so only w is new; c 1:3: the wildcard grants r, but a
     * deny of the new exception "c 1:3 rw" leaves the wildcard alone, so rw is recorded. */
    CHECK(strcmp(got[0], "w") == 0);
    CHECK(strcmp(got[1], "rw") == 0);
    CHECK(strcmp(got[2], "") == 0);
    CHECK(cgt_probe_open(&b->probe, nodes.zero, O_RDWR) == 0);
    for (size_t i = 0; i < 3; i++) {
        if (got[i][0] == '\0')
            continue;
        added[nadded] = rules[i];
        added[nadded].access = got[i];
        nadded++;
    }
    CHECK(nvc_cgroup_deny_v1("/proc", b->probe.pid, added, nadded, present, &err) == 0);
    CHECK(present[0] == 1 && present[1] == 1);
    /* what configure added is gone; what was there before stays */
    CHECK(cgt_probe_open(&b->probe, nodes.zero, O_RDWR) == EPERM);
    CHECK(cgt_probe_open(&b->probe, nodes.zero, O_RDONLY) == 0);
    CHECK(cgt_probe_open(&b->probe, nodes.null_, O_WRONLY) == EPERM);
    CHECK(cgt_probe_open(&b->probe, nodes.null_, O_RDONLY) == 0);
    /* again: nothing left to take back */
    CHECK(nvc_cgroup_deny_v1("/proc", b->probe.pid, added, nadded, present, &err) == 0);
    CHECK(present[0] == 0 && present[1] == 0);
    CHECK(cgt_probe_open(&b->probe, nodes.zero, O_RDONLY) == 0);
    return 0;
}

static int test_v1_report_and_deny(void)
{
    struct box b;
    int r = -1;
    if (!v1root[0])
        return test_absent("cgroup1", "a v1 devices hierarchy to test in");
    if (box_open(&b, v1root) == 0)
        r = body_report_deny(&b);
    box_close(&b);
    return r;
}

/* As root, EPERM means the parent does not grant the device: say so. */
static int test_v1_parent_denies(void)
{
    const struct nvc_device_rule zero = {'c', 1, 5, "rw"};
    char parent[4096] = "";
    struct box b;
    struct nvc_error err;
    int r = -1;

    if (!v1root[0])
        return test_absent("cgroup1", "a v1 devices hierarchy to test in");
    memset(&b, 0, sizeof(b));
    if (cgt_mkcgroup(v1root, parent, sizeof(parent)) < 0 || cgt_write(parent, "devices.deny", "a") < 0 ||
        box_open(&b, parent) < 0)
        goto out;
    if (nvc_cgroup_allow("/proc", b.probe.pid, &zero, 1, &err) != -1 || err.code != NVC_ERR_PERMISSION ||
        !strstr(err.msg, "parent cgroup") || !strstr(err.msg, "--no-cgroups")) {
        fprintf(stderr, "# got: %s %s\n", nvc_errcode_string(err.code), err.msg);
        goto out;
    }
    r = cgt_probe_open(&b.probe, nodes.zero, O_RDWR) == EPERM ? 0 : -1;
out:
    box_close(&b);
    if (parent[0])
        cgt_rmdir(parent);
    return r;
}

static int nobody_allows(void *arg)
{
    const struct nvc_device_rule zero = {'c', 1, 5, "rw"};
    struct box *b = arg;
    struct nvc_error err;
    if (nvc_cgroup_allow("/proc", b->probe.pid, &zero, 1, &err) != -1) {
        fprintf(stderr, "# nobody could change the device cgroup\n");
        return -1;
    }
    fprintf(stderr, "# as nobody: %s: %s\n", nvc_errcode_string(err.code), err.msg);
    return err.code == NVC_ERR_PERMISSION && strstr(err.msg, "--no-cgroups") ? 0 : -1;
}

static int test_v1_rootless_error(void)
{
    struct box b;
    int r = -1;
    if (!v1root[0])
        return test_absent("cgroup1", "a v1 devices hierarchy to test in");
    if (box_open(&b, v1root) == 0 && cgt_as_nobody(nobody_allows, &b) == 0)
        r = cgt_probe_open(&b.probe, nodes.zero, O_RDWR) == EPERM ? 0 : -1;
    box_close(&b);
    return r;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_v1_allow),
        TEST(test_v1_report_and_deny),
        TEST(test_v1_parent_denies),
        TEST(test_v1_rootless_error),
    };
    char v2[4096];
    int rc;

    if (geteuid() != 0)
        return suite_absent("root", "cgroups are created and device nodes made");
    if (cgt_find_mounts(v1root, sizeof(v1root), v2, sizeof(v2)) < 0 || cgt_make_nodes(&nodes) < 0)
        return 1;
    rc = RUN_TESTS(tests);
    cgt_remove_nodes(&nodes);
    return rc;
}
