/* Finding the container's cgroup: version detection, mountinfo, rule checks. Fake proc
 * roots (<dir>/<pid>/cgroup, <dir>/self/mountinfo) stand in for hosts we are not on. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_internal.h"
#include "cgtest.h"
#include "harness.h"

#define PID 4242
static const struct nvc_device_rule ZERO_RW = {'c', 1, 5, "rw"};

static void rmfake(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# cleanup of %s failed\n", dir);
}

static int version_of(const char *cgroup_text, int *version, struct nvc_error *err)
{
    char dir[4096];
    int r;
    if (cgt_fake_proc(dir, sizeof(dir), PID, cgroup_text, NULL) < 0)
        return -2;
    r = nvc_cgroup_version(dir, PID, version, err);
    rmfake(dir);
    return r;
}

static int allow_with(const char *cgroup_text, const char *mountinfo, struct nvc_error *err)
{
    char dir[4096];
    int r;
    if (cgt_fake_proc(dir, sizeof(dir), PID, cgroup_text, mountinfo) < 0)
        return -2;
    r = nvc_cgroup_allow(dir, PID, &ZERO_RW, 1, err);
    rmfake(dir);
    return r;
}

static int test_v1_when_devices_listed(void)
{
    struct nvc_error err;
    int v = 0;
    /* hybrid host: the devices line wins over the unified one, wherever it is */
    CHECK(version_of("0::/user.slice\n12:cpu,cpuacct:/docker/x\n5:devices:/docker/x\n", &v, &err) == 0);
    CHECK(v == 1);
    CHECK(version_of("3:blkio,devices:/a\n", &v, &err) == 0 && v == 1);
    /* both at the root: nothing confines it, v1 as before */
    CHECK(version_of("5:devices:/\n0::/\n", &v, &err) == 0 && v == 1);
    return 0;
}

static int test_v2_when_v1_devices_at_root(void)
{
    struct nvc_error err;
    int v = 0;
    /* hybrid host, runtime in unified mode: its BPF program sits on the unified cgroup, the
     * v1 devices cgroup is the root, which confines nothing */
    CHECK(version_of("9:name=systemd:/\n5:devices:/\n0::/runc-test/ctr\n", &v, &err) == 0);
    CHECK(v == 2);
    CHECK(version_of("0::/runc-test/ctr\n5:devices:/\n", &v, &err) == 0 && v == 2);
    return 0;
}

static int test_v2_when_only_unified(void)
{
    struct nvc_error err;
    int v = 0;
    CHECK(version_of("0::/system.slice/docker-abc.scope\n", &v, &err) == 0);
    CHECK(v == 2);
    /* "devicesx" or a name= hierarchy is not the devices controller */
    CHECK(version_of("4:name=devices:/x\n6:devicesx:/y\n0::/z\n", &v, &err) == 0 && v == 2);
    return 0;
}

static int test_neither(void)
{
    struct nvc_error err;
    int v = 0;
    CHECK(version_of("3:cpu:/x\n4:memory:/x\n", &v, &err) == -1);
    CHECK(err.code == NVC_ERR_CGROUP);
    CHECK(strstr(err.msg, "devices controller") != NULL);
    return 0;
}

static int test_missing_process(void)
{
    struct nvc_error err;
    int v;
    CHECK(nvc_cgroup_version("/proc", 0x7ffffff0, &v, &err) == -1);
    CHECK(err.code == NVC_ERR_SYSTEM && err.sys_errno == ENOENT);
    CHECK(nvc_cgroup_version(NULL, 1, &v, &err) == -1 && err.code == NVC_ERR_INVALID_ARGUMENT);
    return 0;
}

static int test_cgroup_outside_namespace(void)
{
    struct nvc_error err;
    CHECK(allow_with("0::/../../other\n", "", &err) == -1);
    CHECK(err.code == NVC_ERR_CGROUP && strstr(err.msg, "namespace") != NULL);
    return 0;
}

static int test_mount_root_above_namespace_rejected(void)
{
    struct nvc_error err;
    /* the only cgroup2 mount shows a root outside our namespace: never guess with it */
    CHECK(allow_with("0::/box\n", "41 31 0:38 /../.. /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", &err) == -1);
    CHECK(err.code == NVC_ERR_CGROUP);
    CHECK(strstr(err.msg, "cgroup namespace") != NULL);
    return 0;
}

static int test_v1_without_devices_mount(void)
{
    struct nvc_error err;
    CHECK(allow_with("5:devices:/docker/x\n",
                     "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
                     "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
                     &err) == -1);
    CHECK(err.code == NVC_ERR_CGROUP);
    CHECK(strstr(err.msg, "devices controller is mounted") != NULL);
    return 0;
}

static int test_mount_root_must_prefix_path(void)
{
    struct nvc_error err;
    /* a mount of /kube shows neither /kubelet nor /other */
    CHECK(allow_with("0::/kubelet/pod\n", "41 31 0:38 /kube /mnt/cg rw - cgroup2 cgroup2 rw\n", &err) == -1);
    CHECK(err.code == NVC_ERR_CGROUP && strstr(err.msg, "no cgroup2 file system") != NULL);
    return 0;
}

/* A cgroup2 file system mounted here, for tests that need a real one to open. */
static const char *a_cgroup2_mount(void)
{
    static const char *const candidates[] = {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        struct statfs sfs;
        if (statfs(candidates[i], &sfs) == 0 && (unsigned long)sfs.f_type == 0x63677270UL)
            return candidates[i];
    }
    return NULL;
}

static int test_hidden_mount_falls_back(void)
{
    struct nvc_error err;
    char mi[8192];
    const char *real = a_cgroup2_mount();
    CHECK(real != NULL);
    /* The newest mount is tried first and, hidden (here: gone), the older one is used. */
    snprintf(mi, sizeof(mi),
             "30 1 0:27 / %s rw - cgroup2 cgroup2 rw\n41 31 0:38 / /nonexistent/cg rw - cgroup2 cgroup2 rw\n", real);
    CHECK(allow_with("0::/\n", mi, &err) == 0);
    /* When none can be opened, the newest one's failure is reported. */
    CHECK(allow_with("0::/\n",
                     "30 1 0:27 / /tmp rw - cgroup2 cgroup2 rw\n41 31 0:38 / /nonexistent/cg rw - cgroup2 cgroup2 rw\n",
                     &err) == -1);
    CHECK(err.code == NVC_ERR_SYSTEM && err.sys_errno == ENOENT);
    CHECK_STR(err.path, "/nonexistent/cg");
    return 0;
}

static int test_mountinfo_escapes(void)
{
    struct nvc_error err;
    /* the mount point "/nonexistent dir" is written with \040 in mountinfo */
    CHECK(allow_with("0::/kube/x\n",
                     "7 1 0:38 /kube /nonexistent\\040dir rw,relatime shared:3 - cgroup2 cgroup2 rw,nsdelegate\n",
                     &err) == -1);
    CHECK(err.code == NVC_ERR_SYSTEM && err.sys_errno == ENOENT);
    CHECK_STR(err.path, "/nonexistent dir");
    return 0;
}

static int test_not_a_cgroup_fs(void)
{
    struct nvc_error err;
    /* mountinfo says cgroup2 at /tmp: the statfs check catches the lie */
    CHECK(allow_with("0::/\n", "41 31 0:38 / /tmp rw - cgroup2 cgroup2 rw\n", &err) == -1);
    CHECK(err.code == NVC_ERR_CGROUP && strstr(err.msg, "not a cgroup2") != NULL);
    return 0;
}

static int test_dot_components_refused(void)
{
    char v1[4096], v2[4096], mi[8400];
    struct nvc_error err;
    if (cgt_find_mounts(v1, sizeof(v1), v2, sizeof(v2)) < 0)
        return -1;
    if (!v2[0])
        return test_absent("cgroup2", "a real cgroup2 mount point for the fake mountinfo");
    snprintf(mi, sizeof(mi), "41 31 0:38 / %s rw - cgroup2 cgroup2 rw\n", v2);
    CHECK(allow_with("0::/./x\n", mi, &err) == -1);
    CHECK(err.code == NVC_ERR_PATH_ESCAPE);
    return 0;
}

static int test_rule_checks(void)
{
    struct nvc_error err;
    struct nvc_device_rule bad[] = {
        {'x', 1, 3, "rw"}, {'c', 4096, 0, "rw"}, {'c', 1, 1u << 20, "rw"}, {'c', 1, 3, ""},
        {'c', 1, 3, "rx"}, {'c', 1, 3, "rr"},    {'c', 1, 3, "rwmr"},      {'c', 1, 3, NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        CHECK(nvc_cgroup_allow("/nonexistent", 1, &bad[i], 1, &err) == -1);
        CHECK(err.code == NVC_ERR_INVALID_ARGUMENT);
    }
    CHECK(nvc_cgroup_allow("/proc", 1, NULL, 1, &err) == -1 && err.code == NVC_ERR_INVALID_ARGUMENT);
    /* nothing to allow: nothing is even looked at */
    CHECK(nvc_cgroup_allow("/nonexistent", 1, NULL, 0, &err) == 0);
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_v1_when_devices_listed),
        TEST(test_v2_when_v1_devices_at_root),
        TEST(test_v2_when_only_unified),
        TEST(test_neither),
        TEST(test_missing_process),
        TEST(test_cgroup_outside_namespace),
        TEST(test_mount_root_above_namespace_rejected),
        TEST(test_v1_without_devices_mount),
        TEST(test_mount_root_must_prefix_path),
        TEST(test_hidden_mount_falls_back),
        TEST(test_mountinfo_escapes),
        TEST(test_not_a_cgroup_fs),
        TEST(test_dot_components_refused),
        TEST(test_rule_checks),
    };
    return RUN_TESTS(tests);
}
