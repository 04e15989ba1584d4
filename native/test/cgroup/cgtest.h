#ifndef NVC_CGTEST_H
#define NVC_CGTEST_H

/* Helpers for the cgroup tests, which work on this machine's real cgroups: device nodes
 * made with mknod, test cgroups created and removed, and a probe process that sits in a
 * test cgroup and opens device nodes on request. All return 0 / -1 with a "# " line. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup_bpf.h"

/* Device nodes in a fresh directory: null 1:3, zero 1:5, full 1:7, and "fake" 240:0, a
 * number from the experimental range that no driver owns (opening it, once the cgroup
 * lets us, gives ENXIO: that tells "allowed" apart from EPERM, "refused"). */
#define CGT_FAKE_MAJOR 240
struct cgt_nodes {
    char dir[4096];
    char null_[4200], zero[4200], full[4200], fake[4200];
};
int cgt_make_nodes(struct cgt_nodes *n);
void cgt_remove_nodes(struct cgt_nodes *n);

/* Mount points of the v1 devices hierarchy and of cgroup2; "" when there is none. */
int cgt_find_mounts(char *v1_devices, size_t v1sz, char *v2, size_t v2sz);

/* mkdir base/nvc-test-<pid>-<seq>: the new path into out. cgt_rmdir retries while the
 * kernel still counts exiting tasks in it. */
int cgt_mkcgroup(const char *base, char *out, size_t outsz);
int cgt_rmdir(const char *cg);
int cgt_write(const char *dir, const char *file, const char *text);

/* A child that opens paths on request, so that it can be moved into a cgroup first. */
struct cgt_probe {
    pid_t pid;
    int req, rep; /* pipes to and from it */
};
int cgt_probe_start(struct cgt_probe *p);
int cgt_probe_join(struct cgt_probe *p, const char *cg); /* write its pid to cg/cgroup.procs */
/* open(path, flags) inside the probe: 0 or the errno it got. -1000 when the probe failed. */
int cgt_probe_open(struct cgt_probe *p, const char *path, int flags);
void cgt_probe_stop(struct cgt_probe *p);

/* A fake proc root: <dir>/<pid>/cgroup and <dir>/self/mountinfo hold the given texts. */
int cgt_fake_proc(char *dir, size_t dirsz, pid_t pid, const char *cgroup_text, const char *mountinfo_text);

/* A cgroup device program "allow these char devices (any access), deny the rest", as a
 * runtime would attach. with_helper adds a helper call at the start, which makes the
 * program one that can't be copied. Returns the program's fd. */
struct cgt_dev {
    unsigned major, minor;
};
int cgt_runtime_prog(const struct cgt_dev *devs, size_t n, int with_helper);
int cgt_attach(const char *cg, int prog_fd, uint32_t flags);

/* ids of the programs attached to cg (BPF_CGROUP_DEVICE); returns the count or -1. */
int cgt_query(const char *cg, uint32_t *ids, uint32_t max, uint32_t *flags);
/* Number of maps a program uses (a tail-call wrapper has one, a copy none); -1 on error. */
int cgt_prog_maps(uint32_t id);

/* Run fn in a child as user nobody (uid/gid 65534); returns fn's result. */
int cgt_as_nobody(int (*fn)(void *), void *arg);

#endif
