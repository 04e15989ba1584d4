#ifndef NVC_CGROUP_H
#define NVC_CGROUP_H

/* Device access for a container's cgroup: let the container's processes open the device
 * nodes we are about to give it, on top of whatever the runtime already allows.
 *
 *   v1: one "c M:m rw" line per rule into the container's devices.allow.
 *   v2: device access is decided by BPF_PROG_TYPE_CGROUP_DEVICE programs attached to the
 *       cgroup. Each program already attached there is replaced, atomically, by one that
 *       allows our devices and otherwise answers exactly as the old one did (see
 *       cgroup_v2.c for how). With no program attached the cgroup allows every device
 *       already, and nothing is changed.
 *
 * Both need privilege over the cgroup (root, CAP_SYS_ADMIN; CAP_BPF/CAP_NET_ADMIN for v2).
 * Without it the error is NVC_ERR_PERMISSION, and its message points at --no-cgroups:
 * rootless runtimes program device access themselves. */

#include <stddef.h>
#include <sys/types.h>

#include "nvc_error.h"

struct nvc_device_rule {
    char type;          /* 'c' (character device) or 'b' (block device) */
    unsigned major;     /* < 4096, the kernel's dev_t split */
    unsigned minor;     /* < 1048576 */
    const char *access; /* non-empty subset of "rwm": read, write, mknod */
};

/* Which cgroup version governs the devices of process `pid`, from <proc_root>/<pid>/cgroup:
 * the hierarchy that confines it. A v1 devices cgroup other than the root means 1 (on hybrid
 * hosts runtimes in v1 mode program that one); a process left in the root v1 devices cgroup
 * but placed in a unified cgroup below the root means 2 (a runtime that saw only cgroup2);
 * otherwise whichever of the two exists, v1 first.
 * proc_root is the host's /proc, normally "/proc". */
int nvc_cgroup_version(const char *proc_root, pid_t pid, int *version, struct nvc_error *err);

/* Allow the n devices of `rules` to process `pid` (the container's init) and everything
 * else in its cgroup. n == 0 changes nothing. The cgroup directory is found from
 * <proc_root>/<pid>/cgroup and <proc_root>/self/mountinfo, so this must run in the host's
 * mount namespace (the one the runtime used to create the cgroup).
 * On failure nothing has been changed: v2 puts back the programs it replaced; v1 takes back
 * the access bits its rules added to devices.list (cgroup_v1.c; not in an allow-all v1
 * cgroup, whose exceptions the kernel does not list). */
int nvc_cgroup_allow(const char *proc_root, pid_t pid, const struct nvc_device_rule *rules, size_t n,
                     struct nvc_error *err);

/* Like nvc_cgroup_allow, for a version the caller already has (from nvc_cgroup_version,
 * so that the version reported is the one applied; the tests also reach the unified
 * hierarchy of a hybrid host this way). */
int nvc_cgroup_allow_version(const char *proc_root, pid_t pid, int version, const struct nvc_device_rule *rules,
                             size_t n, struct nvc_error *err);

/* As nvc_cgroup_allow_version, and says what each rule added: added[i] receives the access
 * letters of rule i that the cgroup did not grant before ("" when it did). For v1 that is
 * read from devices.list before writing; for v2 it is every rule's access (the program is
 * replaced, and what it adds cannot be taken back separately). added may be NULL. */
int nvc_cgroup_allow_report(const char *proc_root, pid_t pid, int version, const struct nvc_device_rule *rules,
                            size_t n, char (*added)[4], struct nvc_error *err);

/* Teardown of v1 rules: through devices.deny, each rule's access that an exception for
 * exactly that device still grants (so a second call writes nothing); present[i] says
 * whether rule i had any. */
int nvc_cgroup_deny_v1(const char *proc_root, pid_t pid, const struct nvc_device_rule *rules, size_t n, int *present,
                       struct nvc_error *err);

#endif
