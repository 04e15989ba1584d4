#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cgroup_bpf.h"
#include "cgroup_internal.h"

/* cgroup v2 device access.
 *
 * Every BPF_CGROUP_DEVICE program in effect must say yes, so adding an allowing program
 * next to the runtime's would change nothing: each program attached to the container's
 * cgroup is replaced by one that first checks our devices (yes for them) and otherwise
 * answers as the old program would. Two ways to get the old answer:
 *
 *   copy: our checks followed by the old program's own instructions, read back from the
 *         kernel. Self-contained, so nothing outside the program has to stay alive. Only
 *         for "plain" programs (no helper calls, no maps, not constant-blinded), which is
 *         what runc, crun and systemd attach; a copy the verifier refuses falls to:
 *   tail: our checks, then a tail call into the old program through a one-slot program
 *         array (deny if the tail call fails). Works for any old program, but the kernel
 *         empties a program array once no file descriptor or pin refers to it, which would
 *         leave the container with our devices only. So the array is pinned in the BPF file
 *         system, <bpffs>/nvc-ts/devcg-<id of our program>, and a later call removes pins
 *         whose program is gone (the cgroup was removed). Needs a bpffs mounted.
 *
 * Replacement is atomic per program: BPF_F_ALLOW_MULTI | BPF_F_REPLACE where the runtime
 * attached with ALLOW_MULTI (before Linux 5.6: attach ours, then detach the old one; in
 * between both run, which allows exactly what the old one did); in the single-program
 * modes attaching with the same flags swaps the one program in one step. All new programs
 * are loaded before the first is attached, and a failed replacement puts the earlier
 * ones back, so the cgroup ends with either all its programs wrapped or all as they were.
 *
 * No program attached: the cgroup allows every device already (as far as its own
 * programs go) and we change nothing; attaching a deny-by-default program there would
 * take devices away from the container. Programs attached to ancestor cgroups also
 * apply; those belong to the host and are left alone. */

enum nvc_cgroup_v2_mode nvc_cgroup_v2_mode = NVC_CG2_AUTO;
const char *nvc_cgroup_bpffs = "/sys/fs/bpf";
int nvc_cgroup_v2_fail_at = -1;
int nvc_cgroup_v2_no_replace;

#define MAX_ATTACHED 64     /* the kernel's BPF_CGROUP_MAX_PROGS */
#define MAX_COPY     100000 /* instructions of an old program we are willing to copy */
#define BPF_FS_MAGIC 0xcafe4a11UL
#define PIN_DIR      "nvc-ts"
#define PIN_PREFIX   "devcg-"
#define PROG_NAME    "nvc_devcg"

/* ---- our checks ----------------------------------------------------------------------- */

static size_t checks_len(const struct nvc_device_rule *rules, size_t n)
{
    size_t len = 6;
    for (size_t i = 0; i < n; i++)
        len += strlen(rules[i].access) == 3 ? 5 : 6; /* all of r, w, m: no access test */
    return len;
}

/* Writes checks_len() instructions: "if the device is one of ours with an access it
 * allows, return 1", falling through otherwise. r1 (the context) is left untouched for
 * whatever follows; r0, r2..r5 are clobbered. */
static void emit_checks(struct bpf_insn *o, const struct nvc_device_rule *rules, size_t n)
{
    size_t k = 0;
    o[k++] = nvc_ldx_w(2, 1, NVC_DEVCG_OFF_ACCESS_TYPE);
    o[k++] = nvc_mov32_reg(3, 2);
    o[k++] = nvc_alu32_imm(BPF_AND, 3, 0xffff); /* r3 = device type */
    o[k++] = nvc_alu32_imm(BPF_RSH, 2, 16);     /* r2 = requested access bits */
    o[k++] = nvc_ldx_w(4, 1, NVC_DEVCG_OFF_MAJOR);
    o[k++] = nvc_ldx_w(5, 1, NVC_DEVCG_OFF_MINOR);
    for (size_t i = 0; i < n; i++) {
        const struct nvc_device_rule *r = &rules[i];
        int32_t type = r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
        int32_t deny = BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE;
        int16_t left;
        if (strchr(r->access, 'm'))
            deny &= ~BPF_DEVCG_ACC_MKNOD;
        if (strchr(r->access, 'r'))
            deny &= ~BPF_DEVCG_ACC_READ;
        if (strchr(r->access, 'w'))
            deny &= ~BPF_DEVCG_ACC_WRITE;
        left = deny ? 5 : 4; /* instructions after the first jump of this block */
        o[k++] = nvc_jmp_imm(BPF_JNE, 3, type, left);
        o[k++] = nvc_jmp_imm(BPF_JNE, 4, (int32_t)r->major, (int16_t)(left - 1));
        o[k++] = nvc_jmp_imm(BPF_JNE, 5, (int32_t)r->minor, (int16_t)(left - 2));
        if (deny)
            o[k++] = nvc_jmp_imm(BPF_JSET, 2, deny, 2); /* asks for more than allowed */
        o[k++] = nvc_mov64_imm(0, 1);
        o[k++] = nvc_exit();
    }
}

/* ---- copy: our checks + the old program's instructions ---------------------------------- */

/* A program we can load again from its translated instructions: only ALU, jumps and
 * memory access with the registers a user may name. Helper and BPF-to-BPF calls, map
 * references and kernel-only opcodes (constant blinding uses the hidden register 11, a
 * dump we may not read comes back zeroed) all make it unfit. */
static int copyable(const struct bpf_insn *in, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = in[i].code, cls = c & 0x07, mode = c & 0xe0, op = c & 0xf0;
        if (in[i].dst_reg > 10 || in[i].src_reg > 10)
            return 0;
        switch (cls) {
        case BPF_LD: /* only a plain 64-bit constant, two slots */
            if (c != (BPF_LD | BPF_DW | BPF_IMM) || in[i].src_reg != 0 || i + 1 >= n || in[i + 1].code != 0 ||
                in[i + 1].dst_reg != 0 || in[i + 1].src_reg != 0 || in[i + 1].off != 0)
                return 0;
            i++;
            break;
        case BPF_LDX:
            if (mode != BPF_MEM && mode != NVC_BPF_MODE_MEMSX)
                return 0;
            break;
        case BPF_ST:
        case BPF_STX:
            if (mode != BPF_MEM && mode != NVC_BPF_MODE_ATOMIC)
                return 0;
            break;
        case BPF_ALU:
        case BPF_ALU64: break;
        case BPF_JMP:
        case BPF_JMP32:
            if (op == BPF_CALL || op == NVC_BPF_JCOND || op == 0xf0 /* kernel's tail call */ ||
                (op == BPF_EXIT && cls != BPF_JMP))
                return 0;
            break;
        default: return 0;
        }
    }
    return 1;
}

/* The copy, loaded; or -1 with err filled. *unfit is set (and err left alone) when the old
 * program is not one we can copy; a copy the kernel refused fails with NVC_ERR_CGROUP. */
static int build_copy(int old_fd, const struct nvc_device_rule *rules, size_t n, int *unfit, char *why, size_t whysz,
                      struct nvc_error *err)
{
    struct bpf_prog_info info;
    size_t nc = checks_len(rules, n);
    uint32_t old_n;
    struct bpf_insn *buf;
    int fd;

    *unfit = 0;
    if (nvc_bpf_prog_info(old_fd, &info, NULL, NULL, err) < 0)
        return -1;
    old_n = info.xlated_prog_len / (uint32_t)sizeof(struct bpf_insn);
    if (old_n == 0 || old_n > MAX_COPY) {
        snprintf(why, whysz, "program %u: its instructions %s", info.id,
                 old_n ? "are too many to copy" : "can't be read");
        *unfit = 1;
        return -1;
    }
    buf = calloc(nc + old_n, sizeof(*buf));
    if (!buf)
        return nvc_error_set(err, NVC_ERR_NO_MEMORY, ENOMEM, "malloc", NULL, "no memory for a device program");
    emit_checks(buf, rules, n);
    {
        uint32_t got = old_n;
        if (nvc_bpf_prog_info(old_fd, &info, buf + nc, &got, err) < 0) {
            free(buf);
            return -1;
        }
        if (got != old_n || !copyable(buf + nc, old_n)) {
            snprintf(why, whysz, "program %u calls helpers, uses maps or is constant-blinded", info.id);
            free(buf);
            *unfit = 1;
            return -1;
        }
    }
    fd = nvc_bpf_load_devcg(buf, nc + old_n, PROG_NAME, err);
    free(buf);
    return fd;
}

/* ---- tail: our checks + a tail call to the old program ---------------------------------- */

static int open_bpffs(struct nvc_error *err)
{
    struct statfs sfs;
    int fd = open(nvc_cgroup_bpffs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    /* Only a missing directory or another file system means "none mounted"; any other
     * failure (no fds, no memory, no permission) is reported as itself. */
    if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
        return nvc_error_sys(err, "open", nvc_cgroup_bpffs, "cannot open the BPF file system");
    if (fd >= 0 && fstatfs(fd, &sfs) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return nvc_error_sys(err, "fstatfs", nvc_cgroup_bpffs, "cannot check the BPF file system");
    }
    if (fd >= 0 && (unsigned long)sfs.f_type == BPF_FS_MAGIC)
        return fd;
    int e = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    return nvc_error_set(err, NVC_ERR_CGROUP, e, "statfs", nvc_cgroup_bpffs, "no BPF file system is mounted at %s",
                         nvc_cgroup_bpffs);
}

int nvc_cgroup_v2_sweep(struct nvc_error *err)
{
    struct statfs sfs;
    char path[4096];
    DIR *d;
    struct dirent *e;
    int dfd;

    snprintf(path, sizeof(path), "%s/" PIN_DIR, nvc_cgroup_bpffs);
    dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : nvc_error_sys(err, "open", path, "cannot list pins");
    if (fstatfs(dfd, &sfs) < 0 || (unsigned long)sfs.f_type != BPF_FS_MAGIC) {
        close(dfd);
        return 0; /* not ours to clean */
    }
    d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return nvc_error_sys(err, "fdopendir", path, "cannot list pins");
    }
    while ((e = readdir(d)) != NULL) {
        struct nvc_error scratch;
        char *end;
        unsigned long id;
        int fd;
        if (strncmp(e->d_name, PIN_PREFIX, strlen(PIN_PREFIX)) != 0)
            continue;
        errno = 0;
        id = strtoul(e->d_name + strlen(PIN_PREFIX), &end, 10);
        if (errno || *end || id == 0 || id > UINT32_MAX)
            continue;
        fd = nvc_bpf_prog_fd_by_id((uint32_t)id, &scratch);
        if (fd >= 0)
            close(fd); /* still in use */
        else if (scratch.sys_errno == ENOENT)
            unlinkat(dirfd(d), e->d_name, 0); /* its program is gone, and so its cgroup */
    }
    closedir(d);
    return 0;
}

/* Our checks, then tail-call the old program; its array pinned as PIN_DIR/devcg-<new id>
 * (path returned in pin). */
static int build_tail(int old_fd, const struct nvc_device_rule *rules, size_t n, char *pin, size_t pinsz,
                      struct nvc_error *err)
{
    size_t nc = checks_len(rules, n), k;
    struct bpf_insn *buf = NULL;
    struct bpf_prog_info info;
    int bfd, map = -1, fd = -1;

    pin[0] = '\0';
    if ((bfd = open_bpffs(err)) < 0)
        return -1;
    if (nvc_cgroup_v2_sweep(err) < 0)
        goto out;
    if (mkdirat(bfd, PIN_DIR, 0700) < 0 && errno != EEXIST) {
        nvc_error_sys(err, "mkdir", nvc_cgroup_bpffs, "cannot create the pin directory " PIN_DIR);
        goto out;
    }
    if ((map = nvc_bpf_prog_array_of(old_fd, err)) < 0)
        goto out;
    if (!(buf = calloc(nc + 6, sizeof(*buf)))) {
        nvc_error_set(err, NVC_ERR_NO_MEMORY, ENOMEM, "malloc", NULL, "no memory for a device program");
        goto out;
    }
    emit_checks(buf, rules, n);
    k = nc;
    nvc_ld_map_fd(buf + k, 2, map); /* r1 is still the context, as the tail call wants */
    k += 2;
    buf[k++] = nvc_mov64_imm(3, 0);
    buf[k++] = nvc_call(BPF_FUNC_tail_call);
    buf[k++] = nvc_mov64_imm(0, 0); /* reached only if the tail call failed: deny */
    buf[k++] = nvc_exit();
    if ((fd = nvc_bpf_load_devcg(buf, k, PROG_NAME, err)) < 0)
        goto out;
    if (nvc_bpf_prog_info(fd, &info, NULL, NULL, err) < 0)
        goto fail;
    snprintf(pin, pinsz, "%s/" PIN_DIR "/" PIN_PREFIX "%u", nvc_cgroup_bpffs, info.id);
    if (nvc_bpf_pin(map, pin, err) < 0) {
        pin[0] = '\0';
        goto fail;
    }
    goto out;
fail:
    close(fd);
    fd = -1;
out:
    free(buf);
    if (map >= 0)
        close(map); /* the program and the pin hold it now */
    close(bfd);
    return fd;
}

/* ---- putting it together ---------------------------------------------------------------- */

struct slot {
    int old_fd, new_fd;
    char pin[4096]; /* "" when the copy way was taken */
};

static int build_one(struct slot *s, const struct nvc_device_rule *rules, size_t n, struct nvc_error *err)
{
    char why[sizeof(err->msg) + 64] = "";
    int unfit = 0;

    if (nvc_cgroup_v2_mode != NVC_CG2_TAIL_ONLY) {
        s->new_fd = build_copy(s->old_fd, rules, n, &unfit, why, sizeof(why), err);
        if (s->new_fd >= 0)
            return 0;
        if (!unfit && err->code != NVC_ERR_CGROUP)
            return -1; /* no permission, no memory: the other way won't do better */
        if (!unfit)
            snprintf(why, sizeof(why), "the kernel refused the copy: %s", err->msg);
        if (nvc_cgroup_v2_mode == NVC_CG2_COPY_ONLY)
            return unfit ? nvc_error_set(err, NVC_ERR_CGROUP, 0, "copy", NULL, "cannot copy %s", why) : -1;
    }
    s->new_fd = build_tail(s->old_fd, rules, n, s->pin, sizeof(s->pin), err);
    if (s->new_fd >= 0)
        return 0;
    if (why[0] && err->code == NVC_ERR_CGROUP)
        nvc_error_wrap(err,
                       "the container's device program can't be copied (%s), and chaining to it needs a "
                       "pinned program array (mount a BPF file system: mount -t bpf bpf %s, or run with "
                       "--no-cgroups)",
                       why, nvc_cgroup_bpffs);
    return -1;
}

/* Put with_fd where old_fd is attached. */
static int replace(const struct nvc_cgroup_dir *dir, uint32_t flags, int with_fd, int old_fd, int index,
                   struct nvc_error *err)
{
    if (index >= 0 && index == nvc_cgroup_v2_fail_at)
        return nvc_error_set(err, NVC_ERR_CGROUP, EIO, "BPF_PROG_ATTACH", dir->path, "test: injected failure");
    if (!(flags & BPF_F_ALLOW_MULTI)) /* one program at most: attaching with the same flags swaps it */
        return nvc_bpf_attach_devcg(dir->fd, dir->path, with_fd, flags, -1, err);
    if (!nvc_cgroup_v2_no_replace) {
        if (nvc_bpf_attach_devcg(dir->fd, dir->path, with_fd, BPF_F_ALLOW_MULTI, old_fd, err) == 0)
            return 0;
        if (err->sys_errno != EINVAL)
            return -1;
    }
    /* No BPF_F_REPLACE (before Linux 5.6): attach next to the old one, then detach it. In
     * between both run and both must allow, which is exactly what the old one allowed. */
    if (nvc_bpf_attach_devcg(dir->fd, dir->path, with_fd, BPF_F_ALLOW_MULTI, -1, err) < 0)
        return -1;
    if (nvc_bpf_detach_devcg(dir->fd, old_fd) < 0) {
        nvc_error_sys(err, "BPF_PROG_DETACH", dir->path, "detaching the replaced device program failed");
        nvc_bpf_detach_devcg(dir->fd, with_fd);
        return -1;
    }
    return 0;
}

int nvc_cgroup_v2_allow(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                        struct nvc_error *err)
{
    uint32_t ids[MAX_ATTACHED], cnt = 0, flags = 0, built = 0, done = 0;
    struct slot *slots = NULL;
    int rc = -1;

    if (nvc_bpf_query_devcg(dir->fd, dir->path, ids, MAX_ATTACHED, &cnt, &flags, err) < 0)
        return -1;
    if (cnt == 0)
        return 0; /* nothing restricts devices here: see the top of this file */
    if (!(slots = calloc(cnt, sizeof(*slots))))
        return nvc_error_set(err, NVC_ERR_NO_MEMORY, ENOMEM, "malloc", NULL, "no memory");

    for (built = 0; built < cnt; built++) {
        struct slot *s = &slots[built];
        s->new_fd = -1;
        if ((s->old_fd = nvc_bpf_prog_fd_by_id(ids[built], err)) < 0)
            goto out;
        if (build_one(s, rules, n, err) < 0) {
            close(s->old_fd);
            goto out;
        }
    }
    for (done = 0; done < cnt; done++)
        if (replace(dir, flags, slots[done].new_fd, slots[done].old_fd, (int)done, err) < 0)
            break;
    if (done == cnt) {
        rc = 0;
        goto out;
    }
    /* Put back what we replaced, newest first, so the cgroup is as we found it. */
    for (uint32_t i = done; i-- > 0;) {
        struct nvc_error e2;
        if (replace(dir, flags, slots[i].old_fd, slots[i].new_fd, -1, &e2) < 0) {
            size_t l = strlen(err->msg);
            snprintf(err->msg + l, sizeof(err->msg) - l, "; putting device program %u back failed too: %s", ids[i],
                     e2.msg);
            err->code = NVC_ERR_ROLLBACK; /* the cgroup is in neither state: the code says so */
            slots[i].pin[0] = '\0';       /* our program stays attached: it still needs its array */
        }
    }
out:
    for (uint32_t i = 0; i < built; i++) {
        /* A pin that cannot be removed is left in the runtime's BPF file system: the
         * failure says so, as a rollback that could not finish (fault-injection-cgroup:
         * attach refused, then unlink refused). */
        if (rc < 0 && slots[i].pin[0] && unlink(slots[i].pin) < 0 && errno != ENOENT) {
            size_t l = strlen(err->msg);
            snprintf(err->msg + l, sizeof(err->msg) - l, "; and the pin %s of its map could not be removed: %s",
                     slots[i].pin, strerror(errno));
            err->code = NVC_ERR_ROLLBACK;
        }
        close(slots[i].new_fd);
        close(slots[i].old_fd);
    }
    free(slots);
    nvc_bpf_restore_memlock();
    return rc;
}
