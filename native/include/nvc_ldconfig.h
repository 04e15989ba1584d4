#ifndef NVC_LDCONFIG_H
#define NVC_LDCONFIG_H

/* Updating a container's ld.so.cache: run ldconfig for the container, confined.
 *
 * The work is done by the nvc-ts-ldconfig helper, which the client spawns with an empty
 * environment. The helper copies a host ldconfig into a sealed memfd before it touches
 * the container (so nothing in the container can reach the host file), then runs
 * ldconfig in a private copy of the container's mount namespace, pivoted into the
 * rootfs, with new pid/net/ipc/uts/cgroup namespaces, as the container owner with no
 * capabilities, no new privileges, tight rlimits and a syscall allow-list. Nothing it
 * mounts is visible in the host's or the container's mount namespace. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvc_error.h"

struct nvc_ldconfig_request {
    pid_t pid;            /* container init (its mount namespace); 0 = our own namespace */
    const char *rootfs;   /* host path of the rootfs as seen in that namespace, pre-pivot */
    const char *ldconfig; /* "@/sbin/ldconfig.real" = host binary; "/sbin/ldconfig" = the container's own */
    const char *const *dirs; /* container lib dirs passed to ldconfig after -f/-C */
    size_t ndirs;
    uid_t uid; /* container owner: ldconfig runs as uid:gid, supplementary groups cleared */
    gid_t gid;
    unsigned timeout_ms; /* 0: NVC_LDCONFIG_DEFAULT_TIMEOUT_MS */
};

struct nvc_ldconfig_result {
    int ran;          /* 0: the container has no such ldconfig (a warning, not an error) */
    char warning[512]; /* why it did not run, or what a successful ldconfig printed; "" if nothing */
};

#define NVC_LDCONFIG_DEFAULT_TIMEOUT_MS 30000u
#define NVC_LDCONFIG_MAX_DIRS 64

/* Runs ldconfig as requested. Returns 0 (res says whether it ran) or -1 with err set:
 * NVC_ERR_INVALID_ARGUMENT for a bad request, NVC_ERR_LDCONFIG when ldconfig or its
 * confinement failed (the message names the binary, the exit status or signal, and the
 * tail of its output), NVC_ERR_SYSTEM when the helper could not be started. */
int nvc_ldconfig_run(const char *helper_path, const struct nvc_ldconfig_request *req,
                     struct nvc_ldconfig_result *res, struct nvc_error *err);

/* ---- Between the client and nvc-ts-ldconfig only (same build, same struct). ----
 * The helper answers with exactly one report record on fd 3 (a SOCK_SEQPACKET socket). */

#define NVC_LDCONFIG_REPORT_MAGIC 0x4e564c31u /* "NVL1" */
#define NVC_LDCONFIG_OUTPUT_MAX 4096

enum nvc_ldconfig_outcome {
    NVC_LDCONFIG_EXITED = 1,    /* status = exit code */
    NVC_LDCONFIG_SIGNALED,      /* status = signal number */
    NVC_LDCONFIG_MISSING,       /* no such binary in the container; msg says what was looked for */
    NVC_LDCONFIG_TIMEOUT,       /* killed after the deadline */
    NVC_LDCONFIG_SETUP_FAILED,  /* confinement or exec failed: step, sys_errno, msg */
};

struct nvc_ldconfig_report {
    uint32_t magic;
    uint32_t outcome;
    int32_t status;
    int32_t sys_errno;
    char step[64];
    char msg[512];
    uint32_t output_len; /* bytes used in output: the last bytes ldconfig wrote to stdout/stderr */
    uint32_t output_cut; /* 1 when earlier output was dropped */
    char output[NVC_LDCONFIG_OUTPUT_MAX];
};

#endif
