#define _GNU_SOURCE
#include "cgtest.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A "# " diagnostic line; returns -1 so that callers can `return DIAG(...)`. */
__attribute__((format(printf, 1, 2))) static int DIAG(const char *fmt, ...)
{
    va_list ap;
    fputs("# ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static int mknode(const char *dir, const char *name, char *out, size_t outsz, unsigned ma, unsigned mi)
{
    if (snprintf(out, outsz, "%s/%s", dir, name) >= (int)outsz)
        return DIAG("path too long");
    if (mknod(out, S_IFCHR | 0666, makedev(ma, mi)) < 0)
        return DIAG("mknod %s: %s", out, strerror(errno));
    chmod(out, 0666); /* past the umask: the nobody tests open them too */
    return 0;
}

int cgt_make_nodes(struct cgt_nodes *n)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(n->dir, sizeof(n->dir), "%s/nvc-cgnodes-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(n->dir))
        return DIAG("mkdtemp: %s", strerror(errno));
    chmod(n->dir, 0755);
    if (mknode(n->dir, "null", n->null_, sizeof(n->null_), 1, 3) < 0 ||
        mknode(n->dir, "zero", n->zero, sizeof(n->zero), 1, 5) < 0 ||
        mknode(n->dir, "full", n->full, sizeof(n->full), 1, 7) < 0 ||
        mknode(n->dir, "fake", n->fake, sizeof(n->fake), CGT_FAKE_MAJOR, 0) < 0)
        return -1;
    return 0;
}

void cgt_remove_nodes(struct cgt_nodes *n)
{
    unlink(n->null_);
    unlink(n->zero);
    unlink(n->full);
    unlink(n->fake);
    rmdir(n->dir);
}

int cgt_find_mounts(char *v1, size_t v1sz, char *v2, size_t v2sz)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[8192];
    v1[0] = v2[0] = '\0';
    if (!f)
        return DIAG("mountinfo: %s", strerror(errno));
    while (fgets(line, sizeof(line), f)) {
        char root[4096], mnt[4096];
        const char *dash = strstr(line, " - ");
        char fstype[64], src[256], super[1024];
        if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
            sscanf(dash + 3, "%63s %255s %1023s", fstype, src, super) != 3 || strcmp(root, "/") != 0)
            continue;
        if (!v1[0] && strcmp(fstype, "cgroup") == 0 && (strstr(super, ",devices") || strncmp(super, "devices", 7) == 0))
            snprintf(v1, v1sz, "%s", mnt);
        if (!v2[0] && strcmp(fstype, "cgroup2") == 0)
            snprintf(v2, v2sz, "%s", mnt);
    }
    fclose(f);
    return 0;
}

int cgt_mkcgroup(const char *base, char *out, size_t outsz)
{
    static int seq;
    if (snprintf(out, outsz, "%s/nvc-test-%d-%d", base, (int)getpid(), ++seq) >= (int)outsz)
        return DIAG("path too long");
    if (mkdir(out, 0755) < 0)
        return DIAG("mkdir %s: %s", out, strerror(errno));
    return 0;
}

int cgt_rmdir(const char *cg)
{
    for (int i = 0; i < 200; i++) {
        if (rmdir(cg) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return DIAG("rmdir %s: %s", cg, strerror(errno));
}

int cgt_write(const char *dir, const char *file, const char *text)
{
    char path[8192];
    int fd, ok;
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return DIAG("open %s: %s", path, strerror(errno));
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (!ok)
        DIAG("write \"%s\" to %s: %s", text, path, strerror(errno));
    close(fd);
    return ok ? 0 : -1;
}

/* ---- the probe ------------------------------------------------------------------------- */

struct probe_req {
    char path[4096];
    int flags;
};

int cgt_probe_start(struct cgt_probe *p)
{
    int req[2], rep[2];
    if (pipe2(req, O_CLOEXEC) < 0 || pipe2(rep, O_CLOEXEC) < 0)
        return DIAG("pipe: %s", strerror(errno));
    p->pid = fork();
    if (p->pid < 0)
        return DIAG("fork: %s", strerror(errno));
    if (p->pid == 0) {
        struct probe_req r;
        close(req[1]);
        close(rep[0]);
        while (read(req[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
            int fd = open(r.path, r.flags | O_CLOEXEC), e = fd < 0 ? errno : 0;
            if (fd >= 0)
                close(fd);
            if (write(rep[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
                _exit(1);
        }
        _exit(0);
    }
    close(req[0]);
    close(rep[1]);
    p->req = req[1];
    p->rep = rep[0];
    return 0;
}

int cgt_probe_join(struct cgt_probe *p, const char *cg)
{
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)p->pid);
    return cgt_write(cg, "cgroup.procs", pid);
}

int cgt_probe_open(struct cgt_probe *p, const char *path, int flags)
{
    struct probe_req r;
    int e;
    memset(&r, 0, sizeof(r));
    snprintf(r.path, sizeof(r.path), "%s", path);
    r.flags = flags;
    if (write(p->req, &r, sizeof(r)) != (ssize_t)sizeof(r) || read(p->rep, &e, sizeof(e)) != (ssize_t)sizeof(e)) {
        DIAG("probe %d is gone", (int)p->pid);
        return -1000;
    }
    return e;
}

void cgt_probe_stop(struct cgt_probe *p)
{
    if (p->pid <= 0)
        return;
    close(p->req);
    close(p->rep);
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

/* ---- fake proc ------------------------------------------------------------------------- */

static int put(const char *dir, const char *sub, const char *file, const char *text)
{
    char path[8192];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, file);
    if (!(f = fopen(path, "we")))
        return DIAG("create %s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
    chmod(path, 0644);
    return 0;
}

int cgt_fake_proc(char *dir, size_t dirsz, pid_t pid, const char *cgroup_text, const char *mountinfo_text)
{
    const char *tmp = getenv("TMPDIR");
    char sub[32];
    snprintf(dir, dirsz, "%s/nvc-fakeproc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return DIAG("mkdtemp: %s", strerror(errno));
    chmod(dir, 0755);
    snprintf(sub, sizeof(sub), "%d", (int)pid);
    if (cgroup_text && put(dir, sub, "cgroup", cgroup_text) < 0)
        return -1;
    if (mountinfo_text && put(dir, "self", "mountinfo", mountinfo_text) < 0)
        return -1;
    return 0;
}

/* ---- BPF side --------------------------------------------------------------------------- */

int cgt_runtime_prog(const struct cgt_dev *devs, size_t n, int with_helper)
{
    struct bpf_insn p[128];
    struct nvc_error err;
    size_t k = 0;
    int fd;

    if (n > 20)
        return DIAG("too many devices");
    if (with_helper) {
        p[k++] = nvc_mov64_reg(6, 1); /* a helper call clobbers r1..r5 */
        p[k++] = nvc_call(BPF_FUNC_get_prandom_u32);
        p[k++] = nvc_mov64_reg(1, 6);
    }
    /* written differently from the library's checks on purpose: 64-bit shift, one
     * comparison of the whole access_type word's type half */
    p[k++] = nvc_ldx_w(2, 1, 0);
    p[k++] = nvc_alu32_imm(BPF_AND, 2, 0xffff);
    p[k++] = nvc_ldx_w(3, 1, 4);
    p[k++] = nvc_ldx_w(4, 1, 8);
    p[k++] = nvc_jmp_imm(BPF_JNE, 2, BPF_DEVCG_DEV_CHAR, (int16_t)(n * 4));
    for (size_t i = 0; i < n; i++) {
        p[k++] = nvc_jmp_imm(BPF_JNE, 3, (int32_t)devs[i].major, 3);
        p[k++] = nvc_jmp_imm(BPF_JNE, 4, (int32_t)devs[i].minor, 2);
        p[k++] = nvc_mov64_imm(0, 1);
        p[k++] = nvc_exit();
    }
    p[k++] = nvc_mov64_imm(0, 0);
    p[k++] = nvc_exit();
    fd = nvc_bpf_load_devcg(p, k, "test_runtime", &err);
    if (fd < 0)
        return DIAG("load runtime program: %s (%s)", err.msg, strerror(err.sys_errno));
    return fd;
}

int cgt_attach(const char *cg, int prog_fd, uint32_t flags)
{
    struct nvc_error err;
    int fd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
    if (fd < 0)
        return DIAG("open %s: %s", cg, strerror(errno));
    r = nvc_bpf_attach_devcg(fd, cg, prog_fd, flags, -1, &err);
    close(fd);
    if (r < 0)
        return DIAG("attach: %s (%s)", err.msg, strerror(err.sys_errno));
    return 0;
}

int cgt_query(const char *cg, uint32_t *ids, uint32_t max, uint32_t *flags)
{
    struct nvc_error err;
    uint32_t cnt = 0, fl = 0;
    int fd = open(cg, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
    if (fd < 0)
        return DIAG("open %s: %s", cg, strerror(errno));
    r = nvc_bpf_query_devcg(fd, cg, ids, max, &cnt, &fl, &err);
    close(fd);
    if (r < 0)
        return DIAG("query: %s", err.msg);
    if (flags)
        *flags = fl;
    return (int)cnt;
}

int cgt_prog_maps(uint32_t id)
{
    struct nvc_error err;
    struct bpf_prog_info info;
    int fd = nvc_bpf_prog_fd_by_id(id, &err), r;
    if (fd < 0)
        return DIAG("prog %u: %s", id, err.msg);
    r = nvc_bpf_prog_info(fd, &info, NULL, NULL, &err);
    close(fd);
    if (r < 0)
        return DIAG("prog info: %s", err.msg);
    return (int)info.nr_map_ids;
}

int cgt_as_nobody(int (*fn)(void *), void *arg)
{
    int st;
    pid_t pid = fork();
    if (pid < 0)
        return DIAG("fork: %s", strerror(errno));
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(DIAG("dropping to nobody: %s", strerror(errno)) == 0 ? 0 : 2);
        _exit(fn(arg) == 0 ? 0 : 1);
    }
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return DIAG("nobody child died");
    return WEXITSTATUS(st) == 0 ? 0 : -1;
}
