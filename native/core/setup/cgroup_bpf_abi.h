#ifndef NVC_CGROUP_BPF_ABI_H
#define NVC_CGROUP_BPF_ABI_H

/* The kernel's BPF ABI: <linux/bpf.h> where the system has it, else the few pieces we use,
 * written out from the (stable) kernel ABI. -DNVC_BPF_OWN_ABI forces our copy, so that the
 * tests can prove it agrees with the kernel. Only what cgroup_bpf.c and the tests touch
 * is declared; the kernel accepts an attr shorter than its own and zero-fills the rest. */

#if defined(__has_include) && !defined(NVC_BPF_OWN_ABI)
#if __has_include(<linux/bpf.h>)
#include <linux/bpf.h>
#define NVC_HAVE_LINUX_BPF_H 1
#endif
#endif

#ifndef NVC_HAVE_LINUX_BPF_H
#include <stdint.h>

/* instruction classes, sizes, modes, operations (linux/bpf_common.h, linux/bpf.h) */
#define BPF_LD            0x00
#define BPF_LDX           0x01
#define BPF_ALU           0x04
#define BPF_JMP           0x05
#define BPF_ALU64         0x07
#define BPF_W             0x00
#define BPF_DW            0x18
#define BPF_IMM           0x00
#define BPF_MEM           0x60
#define BPF_K             0x00
#define BPF_X             0x08
#define BPF_AND           0x50
#define BPF_RSH           0x70
#define BPF_MOV           0xb0
#define BPF_JNE           0x50
#define BPF_JSET          0x40
#define BPF_CALL          0x80
#define BPF_EXIT          0x90
#define BPF_PSEUDO_MAP_FD 1

enum {
    BPF_MAP_CREATE = 0,
    BPF_MAP_UPDATE_ELEM = 2,
    BPF_PROG_LOAD = 5,
    BPF_OBJ_PIN = 6,
    BPF_PROG_ATTACH = 8,
    BPF_PROG_DETACH = 9,
    BPF_PROG_GET_FD_BY_ID = 13,
    BPF_OBJ_GET_INFO_BY_FD = 15,
    BPF_PROG_QUERY = 16
};
enum { BPF_MAP_TYPE_PROG_ARRAY = 3 };
enum { BPF_PROG_TYPE_CGROUP_DEVICE = 15 };
enum { BPF_CGROUP_DEVICE = 6 };
enum { BPF_FUNC_get_prandom_u32 = 7, BPF_FUNC_tail_call = 12 };
#define BPF_ANY              0
#define BPF_F_ALLOW_OVERRIDE (1U << 0)
#define BPF_F_ALLOW_MULTI    (1U << 1)
#define BPF_F_REPLACE        (1U << 2)
#define BPF_OBJ_NAME_LEN     16U
#define BPF_TAG_SIZE         8
#define BPF_DEVCG_DEV_BLOCK  (1ULL << 0)
#define BPF_DEVCG_DEV_CHAR   (1ULL << 1)
#define BPF_DEVCG_ACC_MKNOD  (1ULL << 0)
#define BPF_DEVCG_ACC_READ   (1ULL << 1)
#define BPF_DEVCG_ACC_WRITE  (1ULL << 2)

struct bpf_insn {
    uint8_t code;
    uint8_t dst_reg : 4;
    uint8_t src_reg : 4;
    int16_t off;
    int32_t imm;
};

#define NVC_AU64 uint64_t __attribute__((aligned(8)))
union bpf_attr {
    struct { /* BPF_MAP_CREATE */
        uint32_t map_type, key_size, value_size, max_entries, map_flags, inner_map_fd, numa_node;
        char map_name[BPF_OBJ_NAME_LEN];
    };
    struct { /* BPF_MAP_*_ELEM */
        uint32_t map_fd;
        NVC_AU64 key;
        NVC_AU64 value;
        uint64_t flags;
    };
    struct { /* BPF_PROG_LOAD */
        uint32_t prog_type, insn_cnt;
        NVC_AU64 insns;
        NVC_AU64 license;
        uint32_t log_level, log_size;
        NVC_AU64 log_buf;
        uint32_t kern_version, prog_flags;
        char prog_name[BPF_OBJ_NAME_LEN];
        uint32_t prog_ifindex, expected_attach_type;
    };
    struct { /* BPF_OBJ_PIN, BPF_OBJ_GET */
        NVC_AU64 pathname;
        uint32_t bpf_fd, file_flags;
    };
    struct { /* BPF_PROG_ATTACH, BPF_PROG_DETACH */
        uint32_t target_fd, attach_bpf_fd, attach_type, attach_flags, replace_bpf_fd;
    };
    struct { /* BPF_*_GET_FD_BY_ID */
        uint32_t prog_id, next_id, open_flags;
    };
    struct { /* BPF_OBJ_GET_INFO_BY_FD */
        uint32_t bpf_fd, info_len;
        NVC_AU64 info;
    } info;
    struct { /* BPF_PROG_QUERY */
        uint32_t target_fd, attach_type, query_flags, attach_flags;
        NVC_AU64 prog_ids;
        uint32_t prog_cnt;
    } query;
};

struct bpf_prog_info {
    uint32_t type, id;
    uint8_t tag[BPF_TAG_SIZE];
    uint32_t jited_prog_len, xlated_prog_len;
    NVC_AU64 jited_prog_insns;
    NVC_AU64 xlated_prog_insns;
    uint64_t load_time;
    uint32_t created_by_uid, nr_map_ids;
    NVC_AU64 map_ids;
    char name[BPF_OBJ_NAME_LEN];
};
#undef NVC_AU64
#endif /* !NVC_HAVE_LINUX_BPF_H */

/* Not in every <linux/bpf.h> version, or not at all. */
#ifndef BPF_JMP32
#define BPF_JMP32 0x06
#endif
#ifndef BPF_ST
#define BPF_ST 0x02
#endif
#ifndef BPF_STX
#define BPF_STX 0x03
#endif
#define NVC_BPF_MODE_MEMSX  0x80
#define NVC_BPF_MODE_ATOMIC 0xc0
#define NVC_BPF_JCOND       0xe0
#ifndef BPF_F_REPLACE
#define BPF_F_REPLACE (1U << 2)
#endif

#endif
