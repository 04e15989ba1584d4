#define _GNU_SOURCE
#include "cgroup_bpf.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroup_internal.h"

#ifndef SYS_bpf
#error "this architecture's libc headers lack SYS_bpf"
#endif

/* The license only matters for GPL-only helpers, which we don't call. */
#define PROG_LICENSE "Apache-2.0"
#define LOG_SIZE     (64 * 1024)

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    long r;
    do
        r = syscall(SYS_bpf, cmd, attr, sizeof(*attr));
    while (r < 0 && errno == EINTR);
    return r;
}

/* ---- RLIMIT_MEMLOCK ------------------------------------------------------------------- */

static pthread_mutex_t memlock_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rlimit memlock_saved;
static int memlock_raised;

/* 1 if the limit was raised now (worth a retry), 0 if it was already unlimited or can't be. */
static int raise_memlock(void)
{
    struct rlimit cur, inf = {RLIM_INFINITY, RLIM_INFINITY};
    int raised = 0;
    pthread_mutex_lock(&memlock_mu);
    if (!memlock_raised && getrlimit(RLIMIT_MEMLOCK, &cur) == 0 && cur.rlim_cur != RLIM_INFINITY &&
        setrlimit(RLIMIT_MEMLOCK, &inf) == 0) {
        memlock_saved = cur;
        memlock_raised = raised = 1;
    }
    pthread_mutex_unlock(&memlock_mu);
    return raised;
}

void nvc_bpf_restore_memlock(void)
{
    pthread_mutex_lock(&memlock_mu);
    if (memlock_raised)
        setrlimit(RLIMIT_MEMLOCK, &memlock_saved);
    memlock_raised = 0;
    pthread_mutex_unlock(&memlock_mu);
}

/* For the commands that allocate kernel memory: kernels before 5.11 answer EPERM when the
 * memlock limit is exhausted, as they do for missing privilege; raising it tells them apart. */
static long sys_bpf_alloc(int cmd, union bpf_attr *attr)
{
    long r = sys_bpf(cmd, attr);
    if (r < 0 && errno == EPERM && raise_memlock())
        r = sys_bpf(cmd, attr);
    return r;
}

static int bpf_fail(struct nvc_error *err, const char *step, const char *path, const char *what)
{
    if (errno == EPERM || errno == EACCES)
        return nvc_cgroup_perm_error(err, errno, step, path, what);
    return nvc_error_sys(err, step, path, "%s failed", what);
}

/* ---- programs ------------------------------------------------------------------------- */

int nvc_bpf_load_devcg(const struct bpf_insn *insns, size_t n, const char *name, struct nvc_error *err)
{
    union bpf_attr a;
    long fd;
    int e;
    char *log;

    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = (uint64_t)(uintptr_t)insns;
    a.insn_cnt = (uint32_t)n;
    a.license = (uint64_t)(uintptr_t)PROG_LICENSE;
    snprintf(a.prog_name, sizeof(a.prog_name), "%s", name);
    fd = sys_bpf_alloc(BPF_PROG_LOAD, &a);
    if (fd >= 0)
        return (int)fd;
    e = errno;
    if (e == EPERM)
        return bpf_fail(err, "BPF_PROG_LOAD", NULL, "loading a cgroup device program");

    /* Load again with the verifier's log, only now: logging costs time on every load. */
    log = calloc(1, LOG_SIZE);
    if (log) {
        a.log_level = 1;
        a.log_size = LOG_SIZE;
        a.log_buf = (uint64_t)(uintptr_t)log;
        fd = sys_bpf(BPF_PROG_LOAD, &a);
        if (fd >= 0) { /* accepted the second time: take it */
            free(log);
            return (int)fd;
        }
    }
    /* The end of the log says why; keep its last line that holds text. */
    {
        const char *why = "";
        if (log) {
            size_t l = strnlen(log, LOG_SIZE - 1);
            while (l > 0 && (log[l - 1] == '\n' || log[l - 1] == ' '))
                log[--l] = '\0';
            why = strrchr(log, '\n') ? strrchr(log, '\n') + 1 : log;
        }
        nvc_error_set(err, NVC_ERR_CGROUP, e, "BPF_PROG_LOAD", NULL, "the kernel refused the device program (%s)%s%s",
                      strerror(e), *why ? ": " : "", why);
    }
    free(log);
    return -1;
}

int nvc_bpf_prog_array_of(int prog_fd, struct nvc_error *err)
{
    union bpf_attr a;
    uint32_t key = 0, val = (uint32_t)prog_fd;
    long fd;

    memset(&a, 0, sizeof(a));
    a.map_type = BPF_MAP_TYPE_PROG_ARRAY;
    a.key_size = 4;
    a.value_size = 4;
    a.max_entries = 1;
    snprintf(a.map_name, sizeof(a.map_name), "nvc_devcg_next");
    fd = sys_bpf_alloc(BPF_MAP_CREATE, &a);
    if (fd < 0)
        return bpf_fail(err, "BPF_MAP_CREATE", NULL, "creating a program array");

    memset(&a, 0, sizeof(a));
    a.map_fd = (uint32_t)fd;
    a.key = (uint64_t)(uintptr_t)&key;
    a.value = (uint64_t)(uintptr_t)&val;
    a.flags = BPF_ANY;
    if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0) {
        bpf_fail(err, "BPF_MAP_UPDATE_ELEM", NULL, "putting the previous device program into a program array");
        close((int)fd);
        return -1;
    }
    return (int)fd;
}

int nvc_bpf_query_devcg(int cgfd, const char *cgpath, uint32_t *ids, uint32_t max, uint32_t *cnt, uint32_t *flags,
                        struct nvc_error *err)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t)cgfd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uint64_t)(uintptr_t)ids;
    a.query.prog_cnt = max;
    if (sys_bpf(BPF_PROG_QUERY, &a) < 0) {
        if (errno == ENOSPC)
            return nvc_error_set(err, NVC_ERR_CGROUP, ENOSPC, "BPF_PROG_QUERY", cgpath,
                                 "more than %u device programs are attached to the container's cgroup", max);
        return bpf_fail(err, "BPF_PROG_QUERY", cgpath, "listing device programs (BPF_PROG_QUERY)");
    }
    *cnt = a.query.prog_cnt;
    *flags = a.query.attach_flags;
    return 0;
}

int nvc_bpf_prog_fd_by_id(uint32_t id, struct nvc_error *err)
{
    union bpf_attr a;
    long fd;
    memset(&a, 0, sizeof(a));
    a.prog_id = id;
    fd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &a);
    if (fd < 0) {
        if (errno == ENOENT)
            return nvc_error_set(err, NVC_ERR_CGROUP, ENOENT, "BPF_PROG_GET_FD_BY_ID", NULL,
                                 "device program %u went away while we looked at it (was the cgroup changed?)", id);
        return bpf_fail(err, "BPF_PROG_GET_FD_BY_ID", NULL, "opening an attached device program");
    }
    return (int)fd;
}

int nvc_bpf_prog_info(int fd, struct bpf_prog_info *info, struct bpf_insn *insns, uint32_t *n_insns,
                      struct nvc_error *err)
{
    union bpf_attr a;
    memset(info, 0, sizeof(*info));
    if (insns) {
        info->xlated_prog_len = (uint32_t)(*n_insns * sizeof(*insns));
        info->xlated_prog_insns = (uint64_t)(uintptr_t)insns;
    }
    memset(&a, 0, sizeof(a));
    a.info.bpf_fd = (uint32_t)fd;
    a.info.info_len = sizeof(*info);
    a.info.info = (uint64_t)(uintptr_t)info;
    if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a) < 0)
        return bpf_fail(err, "BPF_OBJ_GET_INFO_BY_FD", NULL, "reading a device program");
    if (n_insns)
        *n_insns = info->xlated_prog_len / (uint32_t)sizeof(struct bpf_insn);
    return 0;
}

int nvc_bpf_attach_devcg(int cgfd, const char *cgpath, int prog_fd, uint32_t flags, int replace_fd,
                         struct nvc_error *err)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cgfd;
    a.attach_bpf_fd = (uint32_t)prog_fd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = flags;
    if (replace_fd >= 0) {
        a.attach_flags |= BPF_F_REPLACE;
        a.replace_bpf_fd = (uint32_t)replace_fd;
    }
    if (sys_bpf(BPF_PROG_ATTACH, &a) == 0)
        return 0;
    if (errno == EPERM || errno == EACCES)
        return nvc_cgroup_perm_error(err, errno, "BPF_PROG_ATTACH", cgpath, "attaching a device program");
    return nvc_error_sys(err, "BPF_PROG_ATTACH", cgpath, "attaching the device program failed");
}

int nvc_bpf_detach_devcg(int cgfd, int prog_fd)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t)cgfd;
    a.attach_bpf_fd = (uint32_t)prog_fd;
    a.attach_type = BPF_CGROUP_DEVICE;
    return sys_bpf(BPF_PROG_DETACH, &a) < 0 ? -1 : 0;
}

int nvc_bpf_pin(int fd, const char *path, struct nvc_error *err)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.pathname = (uint64_t)(uintptr_t)path;
    a.bpf_fd = (uint32_t)fd;
    if (sys_bpf(BPF_OBJ_PIN, &a) < 0)
        return bpf_fail(err, "BPF_OBJ_PIN", path, "pinning the program array");
    return 0;
}
