#ifndef NVC_LDCONFIG_H
#define NVC_LDCONFIG_H

/* Updating a container's ld.so.cache: run ldconfig for the container, confined.
 *
 * The work is done by the nvc-ts-ldconfig helper, which the client spawns with an empty
 * environment. The helper copies a host ldconfig into a sealed memfd before it touches
 * the container (so nothing in the container can reach the host file), then runs
 * ldconfig in a private copy of the container's mount namespace, pivoted into the
 * rootfs, with new pid/net/ipc/uts/cgroup namespaces, as the container owner with no
 * capabilities, no new privileges, tight rlimits and a syscall allow-list, writing into a
 * budget (NVC_LDCONFIG_BUDGET_*) of which only the cache and links reach the rootfs. Nothing
 * it mounts is visible in the host's or the container's mount namespace. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvc_error.h"
#include "nvc_wait.h"

struct nvc_ldconfig_request {
    pid_t pid;               /* container init (its mount namespace); 0 = our own namespace */
    uint64_t pid_start;      /* its start time (stat field 22) when the caller looked; 0 = unchecked */
    const char *rootfs;      /* host path of the rootfs as seen in that namespace, pre-pivot */
    const char *ldconfig;    /* "@/sbin/ldconfig.real" = host binary; "/sbin/ldconfig" = the container's own */
    const char *const *dirs; /* container lib dirs passed to ldconfig after -f/-C */
    size_t ndirs;
    uid_t uid; /* container owner: ldconfig runs as uid:gid, supplementary groups cleared */
    gid_t gid;
    unsigned timeout_ms; /* 0: NVC_LDCONFIG_DEFAULT_TIMEOUT_MS */
    int no_pivot;        /* 1: enter the rootfs by MS_MOVE + chroot (a ramfs root cannot be pivoted) */
    int gated;           /* 1: the helper prepares, then waits for nvc_ldconfig_job_release (job API only) */
};

struct nvc_ldconfig_result {
    int ran;           /* 0: the container has no such ldconfig (a warning, not an error) */
    char warning[512]; /* why it did not run, or what a successful ldconfig printed; "" if nothing */
};

#define NVC_LDCONFIG_DEFAULT_TIMEOUT_MS 30000u
#define NVC_LDCONFIG_MAX_DIRS           64

/* The write budget of one run. ldconfig writes into a size- and inode-limited tmpfs over the
 * rootfs (an overlay upper layer); only its expected results (the cache at /etc/ld.so.cache,
 * symbolic links in directories the rootfs has) are then copied into the rootfs. A run that
 * fills the tmpfs is an error and keeps nothing. A real cache is well under 1 MiB and an
 * image needs at most a few thousand links. */
#define NVC_LDCONFIG_BUDGET_BYTES  (16u << 20) /* all file data it writes */
#define NVC_LDCONFIG_BUDGET_INODES 16384u      /* files, links and (copied-up) directories */
#define NVC_LDCONFIG_FILE_MAX      (2u << 20)  /* one file (RLIMIT_FSIZE; EFBIG past it) */

/* Runs ldconfig as requested. Returns 0 (res says whether it ran) or -1 with err set:
 * NVC_ERR_INVALID_ARGUMENT for a bad request, NVC_ERR_LDCONFIG when ldconfig or its
 * confinement failed (the message names the binary, the exit status or signal, and the
 * tail of its output; step "budget" and errno EDQUOT when it wrote more than its write
 * budget), NVC_ERR_SYSTEM when the helper could not be started. */
int nvc_ldconfig_run(const char *helper_path, const struct nvc_ldconfig_request *req, struct nvc_ldconfig_result *res,
                     struct nvc_error *err);

/* The same run for callers that must not block while the helper works (the addon waits
 * with libuv, off the thread pool); nvc_ldconfig_run is these three around a poll loop.
 * start checks the request and spawns the helper; step returns 1 when the exchange is
 * over, or 0 with *w to wait for; finish gives nvc_ldconfig_run's result or error.
 * nvc_ldconfig_job_free may be called at any time: the helper, hung up on, kills its
 * confined child and exits; it is reaped in the background. */
struct nvc_ldconfig_job;
struct nvc_ldconfig_job *nvc_ldconfig_job_start(const char *helper_path, const struct nvc_ldconfig_request *req,
                                                struct nvc_error *err);
int nvc_ldconfig_job_step(struct nvc_ldconfig_job *job, struct nvc_wait *w);
int nvc_ldconfig_job_finish(struct nvc_ldconfig_job *job, struct nvc_ldconfig_result *res, struct nvc_error *err);
void nvc_ldconfig_job_free(struct nvc_ldconfig_job *job);

/* A gated job (req->gated) is started before the container is ready: the helper does what
 * needs no container (its start, the sealed copy of a host binary, the namespace handles,
 * its own namespaces) and waits. release lets it run, within timeout_ms from now (0: the
 * request's); only then may the job be stepped. Freed unreleased, the helper is killed
 * before it touched the container. Returns 0, or -1 with err (NVC_ERR_LDCONFIG) when the
 * helper could not be told (it is then gone: stepping reports how it ended). */
int nvc_ldconfig_job_release(struct nvc_ldconfig_job *job, unsigned timeout_ms, struct nvc_error *err);

#endif
