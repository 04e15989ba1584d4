#ifndef NVC_H
#define NVC_H

/* Public C API of the nvc-ts core. No Node, no NVML types: the addon and the C
 * tests use only this header. Every function that can fail takes a caller-owned
 * struct nvc_error and returns -1/NULL on failure. */

#include <stddef.h>
#include <sys/types.h>

#include "nvc_error.h"
#include "nvc_wait.h"

#define NVC_VERSION "0.1.0"

/* What a caller may set; NULL / -1 / 0 mean "the default" (in brackets). */
struct nvc_config {
    const char *root;        /* driver root on the host ["/"] */
    const char *ldcache;     /* ld.so.cache, a path inside root ["/etc/ld.so.cache"] */
    const char *proc_root;   /* host path of the /proc the driver is read from [<root>/proc] */
    const char *dev_root;    /* host path of the /dev device nodes are read from [<root>/dev] */
    const char *sys_root;    /* host path of /sys ["/sys"] */
    const char *nvml_path;   /* host path of the NVML library to load [libnvidia-ml.so.1 from the ldcache] */
    const char *driver_path; /* the nvc-ts-driver executable (required) */
    const char *bin_path;    /* colon list of dirs inside root searched for binaries [path_env then standard dirs] */
    /* The caller's environment, read by the caller: the core runs on pool threads and never
     * calls getenv, which races setenv on the caller's thread. NULL = unset. */
    const char *path_env;     /* $PATH */
    const char *mps_pipe_dir; /* $CUDA_MPS_PIPE_DIRECTORY [/tmp/nvidia-mps] */
    long uid, gid;            /* identity of the driver service [overflowuid/gid when root, own otherwise] */
    unsigned timeout_ms;      /* per call to the driver service [10000] */
    /* How long, in ms, a file must have been left alone before a kept driver discovery trusts
     * its times (driver-client/context.c, util/witness.h) [0 = the default, 2000]; tests of
     * hosts they have just built pass a negative value: no settling time. */
    long discovery_settle_ms;
};

/* The same, with every default filled in; owned by the context. */
struct nvc_host {
    char root[4096];
    char ldcache[4096];
    char proc_root[4096];
    char dev_root[4096];
    char sys_root[4096];
    char nvml_path[4096]; /* "" until found */
    char driver_path[4096];
    char bin_path[8192];
    char mps_pipe_dir[4096]; /* "" = the default */
    uid_t uid;
    gid_t gid;
    unsigned timeout_ms;
    unsigned discovery_settle_ms;
};

/* Capability bits: which container capabilities select a file. */
enum nvc_capability_bit {
#define NVC_CAPABILITY(name, NAME) NVC_CAP_BIT_##NAME,
#include "nvc_vocabulary.def"
    NVC_CAP_BIT_END_
};

enum nvc_capability {
#define NVC_CAPABILITY(name, NAME) NVC_CAP_##NAME = 1u << NVC_CAP_BIT_##NAME,
#include "nvc_vocabulary.def"
};

struct nvc_file {
    char *path;    /* as seen inside the driver root, e.g. "/usr/lib/x86_64-linux-gnu/libcuda.so.580.1" */
    unsigned caps; /* enum nvc_capability bits that select it */
    char *soname;  /* libraries: the ELF DT_SONAME (e.g. "libcuda.so.1"); NULL if none or not a library */
};

/* The major of /dev/nvidiactl, /dev/nvidia<minor> and /dev/nvidia-modeset. */
#define NVC_NVIDIA_MAJOR 195

struct nvc_device_node {
    char path[64]; /* "/dev/nvidia-uvm" */
    unsigned major, minor;
    int exists; /* 1 if present under dev_root with this dev_t, 0 if listed but absent */
};

struct nvc_driver_info {
    char nvrm_version[80];
    char cuda_version[16];
    struct nvc_file *libs;
    size_t nlibs; /* 64-bit, in discovery order */
    struct nvc_file *libs32;
    size_t nlibs32; /* 32-bit */
    struct nvc_file *bins;
    size_t nbins;
    struct nvc_file *ipcs;
    size_t nipcs;
    struct nvc_file *firmware;
    size_t nfirmware;
    struct nvc_device_node *devs;
    size_t ndevs;          /* nvidiactl, nvidia-uvm, nvidia-uvm-tools, nvidia-modeset */
    int nvcaps_major;      /* major of "nvidia-caps" in <proc_root>/devices, -1 if absent */
    int imex_major;        /* major of "nvidia-caps-imex-channels", -1 if absent */
    int mig_config_minor;  /* DeviceFileMinor of capabilities/mig/config, -1 if unreadable */
    int mig_monitor_minor; /* same for mig/monitor */
};

struct nvc_mig_device {
    unsigned index;
    char uuid[96];
    unsigned gi, ci;
    char gi_caps_path[128]; /* /proc/driver/nvidia/capabilities/gpu<minor>/mig/gi<gi> */
    char ci_caps_path[160]; /* .../gi<gi>/ci<ci> */
    int gi_cap_minor;       /* DeviceFileMinor read from <gi_caps_path>/access, -1 if unreadable */
    int ci_cap_minor;
};

struct nvc_device {
    unsigned index;
    unsigned minor;
    char model[96];
    char brand[32]; /* the reference's names: "Tesla", "Nvidia", "GeForce", ... */
    char uuid[96];
    char busid[32]; /* "%08x:%02x:%02x.0" */
    char arch[16];  /* compute capability "9.0" */
    char node_path[32];
    unsigned node_major, node_minor;
    int mig_capable;
    int mig_enabled;
    int persistence_mode;   /* 1 on, 0 off, -1 unknown */
    char mig_caps_path[96]; /* /proc/driver/nvidia/capabilities/gpu<minor> */
    struct nvc_mig_device *mig;
    size_t nmig;
};

struct nvc_device_info {
    struct nvc_device *devs;
    size_t ndevs;
};

struct nvc_context;

const char *nvc_version(void);

/* Fill every default of cfg into host. Pure: touches no file but /proc/sys/kernel/overflow{u,g}id. */
int nvc_host_resolve(const struct nvc_config *cfg, struct nvc_host *host, struct nvc_error *err);
/* Only the host paths of cfg, defaults filled in (root, ldcache, proc, dev and sys roots,
 * the NVML path if given): the one place those defaults live, also for the TypeScript side. */
int nvc_host_paths_resolve(const struct nvc_config *cfg, struct nvc_host *host, struct nvc_error *err);

/* Start the driver service (NVML loaded and initialised in a separate process). */
struct nvc_context *nvc_init(const struct nvc_config *cfg, struct nvc_error *err);
/* Stop the service (nvmlShutdown, then terminate/kill after a grace period) and reap it.
 * Idempotent. The context stays allocated until nvc_context_free. */
int nvc_shutdown(struct nvc_context *ctx, struct nvc_error *err);
void nvc_context_free(struct nvc_context *ctx);
/* Kill the service without waiting for it (it is reaped in the background) and free:
 * for garbage-collection finalizers and process-exit hooks, which must not block. No call
 * of ctx may be left (nvc_call_free them first): they point at it. */
void nvc_context_abandon(struct nvc_context *ctx);
/* SIGKILL the service now, without taking the context lock (from any thread); a call in
 * flight then fails with NVC_ERR_SERVICE_CRASHED. For teardown paths that must not wait. */
void nvc_context_kill(struct nvc_context *ctx);
pid_t nvc_service_pid(const struct nvc_context *ctx);
const struct nvc_host *nvc_context_host(const struct nvc_context *ctx);

int nvc_driver_info_new(struct nvc_context *ctx, struct nvc_driver_info **out, struct nvc_error *err);
/* How the context's driver-info calls got their files: read = discovered afresh, reused = the
 * last discovery copied, because NVML reported the same versions and nothing discovery
 * examined had changed. */
struct nvc_driver_info_stats {
    unsigned long long reads, reuses;
};
void nvc_context_driver_info_stats(struct nvc_context *ctx, struct nvc_driver_info_stats *out);
void nvc_driver_info_free(struct nvc_driver_info *info);
int nvc_device_info_new(struct nvc_context *ctx, struct nvc_device_info **out, struct nvc_error *err);
void nvc_device_info_free(struct nvc_device_info *info);

/* ---- Calls to the driver service without blocking ---------------------------------------
 * NVML may be slow or stuck, and the service answers one request at a time. A caller that
 * must not block (the addon, on the event loop: a pool thread waiting out a stuck NVML
 * would hold up every other asynchronous call of the process) runs each call as a state
 * machine, one call at a time per context, in the order it wants them answered: start;
 * step until it returns 1, waiting for *w between steps however it likes (a spurious
 * wake-up is harmless); then finish, which reads the files that go with the answer
 * (ld.so.cache, ELF notes, /proc): call it where blocking on files is fine. A context's next
 * call may start as soon as step returned 1. nvc_init, nvc_driver_info_new,
 * nvc_device_info_new and nvc_shutdown are these calls around poll, serialised by the
 * context's lock. */
enum nvc_call_kind {
    NVC_CALL_START,       /* start the service of a context made by nvc_context_new */
    NVC_CALL_DRIVER_INFO, /* nvc_driver_info_new's answer */
    NVC_CALL_DEVICE_INFO, /* nvc_device_info_new's */
    NVC_CALL_SHUTDOWN,    /* nvc_shutdown's */
};
struct nvc_call;

/* A context without its service yet: host resolved, NVML found (this reads the ld.so.cache).
 * An NVC_CALL_START call starts the service; nvc_context_free/abandon free it either way. */
struct nvc_context *nvc_context_new(const struct nvc_config *cfg, struct nvc_error *err);
/* NULL with err only when out of memory, or while another call of ctx is still at its
 * steps (NVC_ERR_INVALID_ARGUMENT); every other failure comes out of nvc_call_finish. */
struct nvc_call *nvc_call_start(struct nvc_context *ctx, enum nvc_call_kind kind, struct nvc_error *err);
/* 1 once the service's part is over, or 0 with *w to wait for. */
int nvc_call_step(struct nvc_call *call, struct nvc_wait *w);
/* After step returned 1: 0, or -1 with the call's error (the same as the synchronous API's). */
int nvc_call_finish(struct nvc_call *call, struct nvc_error *err);
/* The answer after finish returned 0, owned by the call. */
const struct nvc_driver_info *nvc_call_driver_info(const struct nvc_call *call);
const struct nvc_device_info *nvc_call_device_info(const struct nvc_call *call);
/* Any time. Before step returned 1 this gives up on the call: the service is killed without
 * waiting (reaped in the background), and later calls on ctx fail with ERR_NVC_CONTEXT_CLOSED. */
void nvc_call_free(struct nvc_call *call);

#endif
