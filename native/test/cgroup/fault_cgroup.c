/* One device-cgroup configuration under the fault shim (test/fault-injection-cgroup.test.js):
 * sets up a cgroup as a runtime would, arms the shim (native/fault/fault.c) for the one call
 * of nvc_cgroup_allow_version only, and prints one JSON line: the result, the error, and
 * the cgroup's state before and after (v1: devices.list; v2: the attached programs, their
 * flags and maps, and the pins), so that the test can check the error and that a failure
 * left nothing changed.
 *   fault_cgroup v1        a deny-all v1 devices cgroup that already allows "c 1:3 r"
 *   fault_cgroup v2copy    a unified cgroup with a runtime program that can be copied
 *   fault_cgroup v2tail    ... one that can't (a helper call): chained by tail call, pinned */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cgroup.h"
#include "cgroup_internal.h"
#include "cgtest.h"

static const struct nvc_device_rule RULES[] = {{'c', 1, 3, "rw"},              /* widens "c 1:3 r" */
                                               {'c', 1, 5, "rwm"},             /* new */
                                               {'c', CGT_FAKE_MAJOR, 0, "r"}}; /* new */

static void json_str(const char *key, const char *s)
{
    printf("\"%s\":\"", key);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    printf("\",");
}

static void read_text(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "re");
    size_t got = f ? fread(out, 1, n - 1, f) : 0;
    out[got] = '\0';
    if (f)
        fclose(f);
}

static int count_pins(const char *bpffs)
{
    char dir[4200];
    struct dirent *e;
    int n = 0;
    snprintf(dir, sizeof(dir), "%s/nvc-ts", bpffs);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, "devcg-", 6) == 0;
    closedir(d);
    return n;
}

/* v2 state: "id:maps,id:maps... flags F" */
static void v2_state(const char *cg, char *out, size_t n)
{
    uint32_t ids[8], flags = 0;
    int cnt = cgt_query(cg, ids, 8, &flags);
    size_t l = (size_t)snprintf(out, n, "flags %u:", flags);
    for (int i = 0; i < cnt && l < n; i++)
        l += (size_t)snprintf(out + l, n - l, " %u/%d", ids[i], cgt_prog_maps(ids[i]));
}

int main(int argc, char **argv)
{
    void (*arm)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "nvc_fault_arm");
    const char *mode = argc > 1 ? argv[1] : "";
    int v1 = strcmp(mode, "v1") == 0;
    char v1root[4096], v2root[4096], cg[4096], list[4200], before[8192], after[8192], bpffs[4096] = "";
    struct cgt_probe probe = {0};
    struct nvc_error err;

    if (!v1 && strcmp(mode, "v2copy") != 0 && strcmp(mode, "v2tail") != 0) {
        fprintf(stderr, "usage: fault_cgroup v1|v2copy|v2tail\n");
        return 2;
    }
    if (cgt_find_mounts(v1root, sizeof(v1root), v2root, sizeof(v2root)) < 0 || !*(v1 ? v1root : v2root))
        return 2;
    if (!v1) { /* a private BPF file system for the pins */
        snprintf(bpffs, sizeof(bpffs), "/tmp/nvc-fault-bpffs-XXXXXX");
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 || !mkdtemp(bpffs) ||
            mount("bpf", bpffs, "bpf", 0, "mode=0700") < 0)
            return 2;
        nvc_cgroup_bpffs = bpffs;
    }
    if (cgt_mkcgroup(v1 ? v1root : v2root, cg, sizeof(cg)) < 0)
        return 2;
    snprintf(list, sizeof(list), "%s/devices.list", cg);
    if (v1) {
        if (cgt_write(cg, "devices.deny", "a") < 0 || cgt_write(cg, "devices.allow", "c 1:3 r") < 0)
            goto fail;
    } else {
        const struct cgt_dev null_dev = {1, 3};
        int fd = cgt_runtime_prog(&null_dev, 1, strcmp(mode, "v2tail") == 0), r;
        if (fd < 0)
            goto fail;
        r = cgt_attach(cg, fd, BPF_F_ALLOW_MULTI);
        close(fd);
        if (r < 0)
            goto fail;
    }
    if (cgt_probe_start(&probe) < 0 || cgt_probe_join(&probe, cg) < 0)
        goto fail;
    if (v1)
        read_text(list, before, sizeof(before));
    else
        v2_state(cg, before, sizeof(before));
    int pins_before = v1 ? 0 : count_pins(bpffs);

    if (arm)
        arm(1);
    int rc = nvc_cgroup_allow_version("/proc", probe.pid, v1 ? 1 : 2, RULES, 3, &err);
    if (arm)
        arm(0);

    if (v1)
        read_text(list, after, sizeof(after));
    else
        v2_state(cg, after, sizeof(after));
    printf("{\"rc\":%d,", rc);
    if (rc < 0) {
        json_str("code", nvc_errcode_string(err.code));
        printf("\"errno\":%d,", err.sys_errno);
        json_str("step", err.step);
        json_str("message", err.msg);
    }
    json_str("before", before);
    json_str("after", after);
    printf("\"pinsBefore\":%d,\"pinsAfter\":%d}\n", pins_before, v1 ? 0 : count_pins(bpffs));
    fflush(stdout);
    cgt_probe_stop(&probe);
    cgt_rmdir(cg);
    if (bpffs[0]) {
        umount2(bpffs, MNT_DETACH);
        rmdir(bpffs);
    }
    return 0;
fail:
    cgt_probe_stop(&probe);
    cgt_rmdir(cg);
    return 2;
}
