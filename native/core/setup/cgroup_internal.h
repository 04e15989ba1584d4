#ifndef NVC_CGROUP_INTERNAL_H
#define NVC_CGROUP_INTERNAL_H

/* Shared between cgroup.c (finding the cgroup), cgroup_v1.c, cgroup_v2.c and the tests. */

#include <stddef.h>
#include <sys/types.h>

#include "cgroup.h"
#include "nvc_error.h"

/* One device cgroup directory, found and opened. */
struct nvc_cgroup_dir {
    int fd;          /* O_RDONLY|O_DIRECTORY, on a cgroup (v1) or cgroup2 (v2) file system */
    char path[4096]; /* host path of that directory, for messages */
};

/* The two back ends. The rules have been validated; dir is closed by the caller. */
int nvc_cgroup_v1_allow(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                        struct nvc_error *err);
/* v1: for each rule, the access letters no exception of devices.list grants yet (into
 * missing[i], "" when granted already). */
int nvc_cgroup_v1_granted(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                          char (*missing)[4], struct nvc_error *err);
/* v1: take back each rule through devices.deny, only the access an exception for exactly
 * that device still grants; present[i] says whether there was any. */
int nvc_cgroup_v1_deny(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n, int *present,
                       struct nvc_error *err);
int nvc_cgroup_v2_allow(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                        struct nvc_error *err);

/* NVC_ERR_PERMISSION with the hint every unprivileged failure shares (--no-cgroups).
 * `what` says what was refused: "writing devices.allow", "BPF_PROG_QUERY", ... */
int nvc_cgroup_perm_error(struct nvc_error *err, int sys_errno, const char *step, const char *path, const char *what);

/* ---- v2 knobs, for tests only ---------------------------------------------------------- */

/* How an attached program is kept working behind our checks (cgroup_v2.c explains):
 * AUTO copies it when it can and chains to it by tail call otherwise. */
enum nvc_cgroup_v2_mode { NVC_CG2_AUTO, NVC_CG2_COPY_ONLY, NVC_CG2_TAIL_ONLY };
extern enum nvc_cgroup_v2_mode nvc_cgroup_v2_mode;

/* Where a BPF file system is mounted, for the pinned tail-call maps: "/sys/fs/bpf". */
extern const char *nvc_cgroup_bpffs;

/* When >= 0, replacing the program at this index of the attached list fails with EIO, as
 * if the kernel had refused it: the tests check that earlier replacements are undone. */
extern int nvc_cgroup_v2_fail_at;

/* When non-zero, BPF_F_REPLACE is not tried, as on kernels before 5.6. */
extern int nvc_cgroup_v2_no_replace;

/* Remove pinned tail-call maps whose program is gone (its cgroup was removed). Runs at
 * the start of every tail-call replacement; the tests call it to clean up after
 * themselves. Missing BPF file system: nothing to do. */
int nvc_cgroup_v2_sweep(struct nvc_error *err);

#endif
