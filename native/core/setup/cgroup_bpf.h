#ifndef NVC_CGROUP_BPF_H
#define NVC_CGROUP_BPF_H

/* The bpf(2) calls the v2 device code needs, and an encoder for the few instructions it
 * writes. Every wrapper returns >= 0 or -1 with err filled; privilege failures (EPERM,
 * EACCES) come back as NVC_ERR_PERMISSION pointing at --no-cgroups. */

#include <stddef.h>
#include <stdint.h>

#include "cgroup_bpf_abi.h"
#include "nvc_error.h"

/* ---- instruction encoder ----------------------------------------------------------------- */

/* Registers: r0 return value, r1 the context on entry (and the first helper argument),
 * r2..r5 scratch / helper arguments, r6..r9 kept across helper calls, r10 frame pointer. */
static inline struct bpf_insn nvc_ins(uint8_t code, int dst, int src, int16_t off, int32_t imm)
{
    struct bpf_insn i;
    i.code = code;
    i.dst_reg = (uint8_t)(dst & 0xf);
    i.src_reg = (uint8_t)(src & 0xf);
    i.off = off;
    i.imm = imm;
    return i;
}
/* dst = src (64 bits) */
static inline struct bpf_insn nvc_mov64_reg(int dst, int src)
{
    return nvc_ins(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0);
}
/* dst = imm (64 bits, sign-extended) */
static inline struct bpf_insn nvc_mov64_imm(int dst, int32_t imm)
{
    return nvc_ins(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm);
}
/* dst = (u32)src, upper half zeroed */
static inline struct bpf_insn nvc_mov32_reg(int dst, int src)
{
    return nvc_ins(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0);
}
/* 32-bit dst op= imm, op one of BPF_AND, BPF_RSH, ... */
static inline struct bpf_insn nvc_alu32_imm(uint8_t op, int dst, int32_t imm)
{
    return nvc_ins(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
/* dst = *(u32 *)(src + off) */
static inline struct bpf_insn nvc_ldx_w(int dst, int src, int16_t off)
{
    return nvc_ins(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
/* if (dst op imm) goto pc + 1 + off, op one of BPF_JNE, BPF_JSET, ... */
static inline struct bpf_insn nvc_jmp_imm(uint8_t op, int dst, int32_t imm, int16_t off)
{
    return nvc_ins(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
static inline struct bpf_insn nvc_call(int32_t helper)
{
    return nvc_ins(BPF_JMP | BPF_CALL, 0, 0, 0, helper);
}
static inline struct bpf_insn nvc_exit(void)
{
    return nvc_ins(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}
/* dst = the map behind fd: a two-slot 64-bit load the verifier turns into a map pointer */
static inline void nvc_ld_map_fd(struct bpf_insn out[2], int dst, int fd)
{
    out[0] = nvc_ins(BPF_LD | BPF_DW | BPF_IMM, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    out[1] = nvc_ins(0, 0, 0, 0, 0);
}

/* Offsets in the program's context, struct bpf_cgroup_dev_ctx. */
#define NVC_DEVCG_OFF_ACCESS_TYPE 0 /* device type in the low 16 bits, access in the high 16 */
#define NVC_DEVCG_OFF_MAJOR       4
#define NVC_DEVCG_OFF_MINOR       8

/* ---- bpf(2) --------------------------------------------------------------------------- */

/* BPF_PROG_LOAD of a cgroup device program. On failure the verifier's log, when it gave
 * one, ends the message. Raises RLIMIT_MEMLOCK once on EPERM: kernels before 5.11 charge
 * BPF memory against it and the default is tiny. */
int nvc_bpf_load_devcg(const struct bpf_insn *insns, size_t n, const char *name, struct nvc_error *err);

/* A one-slot BPF_MAP_TYPE_PROG_ARRAY holding prog_fd, for a tail call to it. */
int nvc_bpf_prog_array_of(int prog_fd, struct nvc_error *err);

/* Programs attached directly to cgroup dirfd for BPF_CGROUP_DEVICE (not inherited ones):
 * up to max ids into ids, their count into *cnt, the attach flags into *flags. */
int nvc_bpf_query_devcg(int cgfd, const char *cgpath, uint32_t *ids, uint32_t max, uint32_t *cnt, uint32_t *flags,
                        struct nvc_error *err);

int nvc_bpf_prog_fd_by_id(uint32_t id, struct nvc_error *err);

/* Fills info (type, id, ...); with insns != NULL also copies up to *n_insns translated
 * instructions there and sets *n_insns to the program's length. */
int nvc_bpf_prog_info(int fd, struct bpf_prog_info *info, struct bpf_insn *insns, uint32_t *n_insns,
                      struct nvc_error *err);

/* BPF_PROG_ATTACH of prog_fd to cgfd for BPF_CGROUP_DEVICE; replace_fd >= 0 adds
 * BPF_F_REPLACE (flags must then hold BPF_F_ALLOW_MULTI). */
int nvc_bpf_attach_devcg(int cgfd, const char *cgpath, int prog_fd, uint32_t flags, int replace_fd,
                         struct nvc_error *err);

/* BPF_PROG_DETACH of prog_fd from cgfd; -1 with errno set on failure (no err: only used
 * where a failure is already being reported). */
int nvc_bpf_detach_devcg(int cgfd, int prog_fd);

int nvc_bpf_pin(int fd, const char *path, struct nvc_error *err);

/* Restore RLIMIT_MEMLOCK if nvc_bpf_load_devcg raised it: BPF objects keep the memory
 * they were charged, and the embedding process keeps its own limit. */
void nvc_bpf_restore_memlock(void);

#endif
