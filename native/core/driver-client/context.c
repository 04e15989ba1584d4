#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "device_info.h"
#include "discovery.h"
#include "driver_cache.h"
#include "nvc.h"
#include "driver_service.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_TIMEOUT_MS     (24u * 3600 * 1000)
#define MAX_DEVICES        1024
#define DEFAULT_SETTLE_MS  2000u /* lib/path-witness.ts's RACY_NS */
#define STANDARD_BIN_DIRS  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct nvc_context {
    struct nvc_host host;
    struct nvc_service svc;
    /* One call at its steps per service (the protocol is strictly request/reply): `busy`
     * says one is; the synchronous API waits on `idle` for its turn, the stepwise one is
     * refused (its caller keeps its own queue). */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int busy;
    int closed;
    int started; /* an NVC_CALL_START was made: a second one is a misuse */
    /* The last driver discovery, handed out again while NVML reports the same versions and
     * nothing discovery examined has changed. It has its own lock: calls are finished on pool
     * threads, and the next call may be finished while the last one still is. */
    struct nvc_driver_cache cache;
};

const char *nvc_version(void)
{
    return NVC_VERSION;
}

static int set_path(char *dst, size_t n, const char *value, const char *field, struct nvc_error *err)
{
    if (value[0] != '/')
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, field, value, "%s must be an absolute path", field);
    if (snprintf(dst, n, "%s", value) >= (int)n)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENAMETOOLONG, field, NULL, "%s is too long", field);
    /* "/run/nvidia/driver/" and "/run/nvidia/driver" are the same root. */
    size_t len = strlen(dst);
    while (len > 1 && dst[len - 1] == '/')
        dst[--len] = '\0';
    return 0;
}

static int join_root(char *dst, size_t n, const char *root, const char *sub)
{
    return snprintf(dst, n, "%s%s", strcmp(root, "/") == 0 ? "" : root, sub) >= (int)n ? -1 : 0;
}

static long read_overflow_id(const char *path)
{
    char buf[32] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 65534;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 65534;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

/* $PATH first (the reference searches it, and hosts like the GPU machine put the real
 * driver binaries ahead of wrapper scripts there), then the standard directories. */
static void default_bin_path(const char *env, char *dst, size_t n)
{
    snprintf(dst, n, "%s%s%s", env ? env : "", env && *env ? ":" : "", STANDARD_BIN_DIRS);
}

int nvc_host_paths_resolve(const struct nvc_config *cfg, struct nvc_host *host, struct nvc_error *err)
{
    memset(host, 0, sizeof(*host));
    if (set_path(host->root, sizeof(host->root), cfg->root ? cfg->root : "/", "root", err) < 0 ||
        set_path(host->ldcache, sizeof(host->ldcache), cfg->ldcache ? cfg->ldcache : "/etc/ld.so.cache", "ldcache",
                 err) < 0)
        return -1;
    if (cfg->proc_root) {
        if (set_path(host->proc_root, sizeof(host->proc_root), cfg->proc_root, "procRoot", err) < 0)
            return -1;
    } else if (join_root(host->proc_root, sizeof(host->proc_root), host->root, "/proc") < 0)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENAMETOOLONG, "root", NULL, "root is too long");
    if (cfg->dev_root) {
        if (set_path(host->dev_root, sizeof(host->dev_root), cfg->dev_root, "devRoot", err) < 0)
            return -1;
    } else if (join_root(host->dev_root, sizeof(host->dev_root), host->root, "/dev") < 0)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENAMETOOLONG, "root", NULL, "root is too long");
    if (set_path(host->sys_root, sizeof(host->sys_root), cfg->sys_root ? cfg->sys_root : "/sys", "sysRoot", err) < 0)
        return -1;
    if (cfg->nvml_path && set_path(host->nvml_path, sizeof(host->nvml_path), cfg->nvml_path, "nvmlPath", err) < 0)
        return -1;
    return 0;
}

int nvc_host_resolve(const struct nvc_config *cfg, struct nvc_host *host, struct nvc_error *err)
{
    if (nvc_host_paths_resolve(cfg, host, err) < 0)
        return -1;
    if (cfg->driver_path == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "driverPath", NULL,
                             "the path of the nvc-ts-driver executable is required");
    if (set_path(host->driver_path, sizeof(host->driver_path), cfg->driver_path, "driverPath", err) < 0)
        return -1;
    if (cfg->bin_path)
        snprintf(host->bin_path, sizeof(host->bin_path), "%s", cfg->bin_path);
    else
        default_bin_path(cfg->path_env, host->bin_path, sizeof(host->bin_path));
    /* Relative or oversized values are ignored, as an unset variable would be. */
    if (cfg->mps_pipe_dir && cfg->mps_pipe_dir[0] == '/' && strlen(cfg->mps_pipe_dir) < sizeof(host->mps_pipe_dir))
        snprintf(host->mps_pipe_dir, sizeof(host->mps_pipe_dir), "%s", cfg->mps_pipe_dir);

    if (cfg->uid >= 0)
        host->uid = (uid_t)cfg->uid;
    else
        host->uid = geteuid() == 0 ? (uid_t)read_overflow_id("/proc/sys/kernel/overflowuid") : geteuid();
    if (cfg->gid >= 0)
        host->gid = (gid_t)cfg->gid;
    else
        host->gid = getegid() == 0 ? (gid_t)read_overflow_id("/proc/sys/kernel/overflowgid") : getegid();
    host->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    if (cfg->discovery_settle_ms < 0)
        host->discovery_settle_ms = 0;
    else if (cfg->discovery_settle_ms == 0 || cfg->discovery_settle_ms > (long)MAX_TIMEOUT_MS)
        host->discovery_settle_ms = cfg->discovery_settle_ms == 0 ? DEFAULT_SETTLE_MS : MAX_TIMEOUT_MS;
    else
        host->discovery_settle_ms = (unsigned)cfg->discovery_settle_ms;
    if (host->timeout_ms > MAX_TIMEOUT_MS) /* poll() takes an int */
        host->timeout_ms = MAX_TIMEOUT_MS;
    return 0;
}

/* "NVRM version: NVIDIA UNIX ... Kernel Module for x86_64  580.159.04  Release Build ..." -> "580.159.04" */
static void kernel_module_version(const struct nvc_host *host, char *out, size_t n)
{
    char path[4200], buf[512] = "";
    snprintf(out, n, "unknown");
    snprintf(path, sizeof(path), "%s/driver/nvidia/version", host->proc_root);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return;
    buf[len] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        if (tok[0] >= '0' && tok[0] <= '9' && strchr(tok, '.') != NULL) {
            snprintf(out, n, "%s", tok);
            return;
        }
    }
}

struct nvc_context *nvc_context_new(const struct nvc_config *cfg, struct nvc_error *err)
{
    struct nvc_context *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        nvc_error_sys(err, "calloc", NULL, "cannot allocate a context");
        return NULL;
    }
    nvc_service_reset(&ctx->svc);
    if (nvc_host_resolve(cfg, &ctx->host, err) < 0 ||
        (ctx->host.nvml_path[0] == '\0' &&
         nvc_find_nvml(&ctx->host, ctx->host.nvml_path, sizeof(ctx->host.nvml_path), err) < 0)) {
        free(ctx);
        return NULL;
    }
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_cond_init(&ctx->idle, NULL);
    nvc_driver_cache_init(&ctx->cache);
    return ctx;
}

static void context_destroy(struct nvc_context *ctx)
{
    nvc_driver_cache_destroy(&ctx->cache);
    pthread_cond_destroy(&ctx->idle);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

/* ---- Calls, step by step --------------------------------------------------------------- */

struct nvc_call {
    struct nvc_context *ctx;
    enum nvc_call_kind kind;
    int over;   /* the service's part is done (and the context free for the next call) */
    int failed; /* err holds the outcome */
    struct nvc_error err;
    /* driver info: the service's answer, then the files */
    char version[80];
    int cuda;
    struct nvc_driver_info *driver;
    /* device info: the count, then one request per GPU */
    uint32_t count, next;
    struct nvc_device_info *devices;
};

/* Takes the context for one call: waiting for the one at its steps, or refusing. */
static int claim(struct nvc_context *ctx, int wait, struct nvc_error *err)
{
    pthread_mutex_lock(&ctx->lock);
    while (ctx->busy && wait)
        pthread_cond_wait(&ctx->idle, &ctx->lock);
    if (ctx->busy) {
        pthread_mutex_unlock(&ctx->lock);
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EBUSY, "call", NULL,
                             "another call of this context is still waiting for the driver service (one at a time)");
    }
    ctx->busy = 1;
    pthread_mutex_unlock(&ctx->lock);
    return 0;
}

static void call_over(struct nvc_call *call)
{
    struct nvc_context *ctx = call->ctx;
    call->over = 1;
    pthread_mutex_lock(&ctx->lock);
    ctx->busy = 0;
    pthread_cond_broadcast(&ctx->idle);
    pthread_mutex_unlock(&ctx->lock);
}

static void call_fails(struct nvc_call *call)
{
    call->failed = 1;
    call_over(call);
}

static void request_device(struct nvc_call *call)
{
    char what[48];
    snprintf(what, sizeof(what), "device info for GPU %u", call->next);
    nvc_service_request(&call->ctx->svc, NVC_OP_DEVICE, &call->next, what);
}

/* The service's exchange just ended: read the answer and send the next request, if any. */
static void advance(struct nvc_call *call)
{
    struct nvc_service *svc = &call->ctx->svc;
    struct nvc_rbuf r;

    /* The reply lives in the service's receive buffer: read it before the next request. */
    if (nvc_service_result(svc, &r, &call->err) < 0) {
        call_fails(call);
        return;
    }
    switch (call->kind) {
    case NVC_CALL_START:
    case NVC_CALL_SHUTDOWN: break;
    case NVC_CALL_DRIVER_INFO:
        nvc_wire_get_str(&r, call->version, sizeof(call->version));
        call->cuda = nvc_wire_get_i32(&r);
        if (!nvc_wire_done(&r)) {
            nvc_error_set(&call->err, NVC_ERR_SERVICE_PROTOCOL, 0, "driver info", NULL,
                          "malformed driver record from the driver service");
            call_fails(call);
            return;
        }
        break;
    case NVC_CALL_DEVICE_INFO:
        if (call->devices == NULL) {
            call->count = nvc_wire_get_u32(&r);
            if (!nvc_wire_done(&r) || call->count > MAX_DEVICES) {
                nvc_error_set(&call->err, NVC_ERR_SERVICE_PROTOCOL, 0, "device count", NULL,
                              "implausible device count %u from the driver service (at most %d)", call->count,
                              MAX_DEVICES);
                call_fails(call);
                return;
            }
            call->devices = calloc(1, sizeof(*call->devices));
            if (call->devices == NULL ||
                (call->count > 0 &&
                 (call->devices->devs = calloc(call->count, sizeof(*call->devices->devs))) == NULL)) {
                nvc_error_sys(&call->err, "calloc", NULL, "device info");
                call_fails(call);
                return;
            }
        } else {
            call->devices->ndevs++;
            if (nvc_device_decode(&r, &call->devices->devs[call->next], &call->err) < 0) {
                call_fails(call);
                return;
            }
            call->next++;
        }
        if (call->next < call->count) {
            request_device(call);
            return;
        }
        break;
    }
    call_over(call);
}

static struct nvc_call *call_start(struct nvc_context *ctx, enum nvc_call_kind kind, int wait, struct nvc_error *err)
{
    struct nvc_call *call = calloc(1, sizeof(*call));
    if (call == NULL) {
        nvc_error_sys(err, "calloc", NULL, "cannot make a driver-service call");
        return NULL;
    }
    if (claim(ctx, wait, err) < 0) {
        free(call);
        return NULL;
    }
    call->ctx = ctx;
    call->kind = kind;
    struct nvc_service *svc = &ctx->svc;
    if (kind == NVC_CALL_SHUTDOWN) {
        ctx->closed = 1;
        nvc_service_stop_begin(svc);
        return call;
    }
    if (kind == NVC_CALL_START) {
        if (ctx->started) {
            nvc_error_set(&call->err, NVC_ERR_INVALID_ARGUMENT, 0, "init", NULL,
                          "the driver service was started already");
            call_fails(call);
        } else {
            ctx->started = 1;
            if (nvc_service_start_begin(svc, &ctx->host, &call->err) < 0)
                call_fails(call);
        }
        return call;
    }
    const char *what = kind == NVC_CALL_DRIVER_INFO ? "driver info" : "device info";
    if (ctx->closed) {
        nvc_error_set(&call->err, NVC_ERR_CONTEXT_CLOSED, 0, what, NULL, "the context was shut down");
        call_fails(call);
    } else if (kind == NVC_CALL_DRIVER_INFO)
        nvc_service_request(svc, NVC_OP_DRIVER, NULL, "driver info");
    else
        nvc_service_request(svc, NVC_OP_DEVICE_COUNT, NULL, "device count");
    return call;
}

struct nvc_call *nvc_call_start(struct nvc_context *ctx, enum nvc_call_kind kind, struct nvc_error *err)
{
    return call_start(ctx, kind, 0, err);
}

int nvc_call_step(struct nvc_call *call, struct nvc_wait *w)
{
    while (!call->over) {
        if (!nvc_service_step(&call->ctx->svc, w))
            return 0;
        advance(call);
    }
    return 1;
}

static void explain_mismatch(const struct nvc_host *host, struct nvc_error *err)
{
    char kernel[64];
    const char *lib = strrchr(host->nvml_path, '/');
    kernel_module_version(host, kernel, sizeof(kernel));
    nvc_error_wrap(err,
                   "the loaded kernel module is %s but the NVML library is %s (a driver upgrade without "
                   "a reboot or module reload?)",
                   kernel, lib ? lib + 1 : host->nvml_path);
}

void nvc_context_driver_info_stats(struct nvc_context *ctx, struct nvc_driver_info_stats *out)
{
    nvc_driver_cache_stats(&ctx->cache, out);
}

int nvc_call_finish(struct nvc_call *call, struct nvc_error *err)
{
    const struct nvc_host *host = &call->ctx->host;

    if (!call->over)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "call", NULL, "the call is not over yet");
    if (call->failed) {
        *err = call->err;
        if (call->kind == NVC_CALL_START && err->code == NVC_ERR_VERSION_MISMATCH)
            explain_mismatch(host, err);
        if (call->kind == NVC_CALL_START && err->code == NVC_ERR_NVML_LOAD && err->path[0] == '\0')
            snprintf(err->path, sizeof(err->path), "%s", host->nvml_path);
        return -1;
    }
    if (call->kind == NVC_CALL_DRIVER_INFO && call->driver == NULL) {
        call->driver = nvc_driver_cache_get(&call->ctx->cache, host, call->version, call->cuda, err);
        if (call->driver == NULL)
            return -1;
    }
    if (call->kind == NVC_CALL_DEVICE_INFO)
        for (size_t i = 0; i < call->devices->ndevs; i++)
            nvc_device_read_cap_minors(host, &call->devices->devs[i]);
    return 0;
}

const struct nvc_driver_info *nvc_call_driver_info(const struct nvc_call *call)
{
    return call->driver;
}

const struct nvc_device_info *nvc_call_device_info(const struct nvc_call *call)
{
    return call->devices;
}

void nvc_call_free(struct nvc_call *call)
{
    if (call == NULL)
        return;
    if (!call->over) {
        /* Given up on at its steps: the service's answer would come to nobody, and a
         * service with a request pending cannot take the next one. */
        call->ctx->closed = 1;
        nvc_service_abandon(&call->ctx->svc);
        call_over(call);
    }
    nvc_driver_info_free(call->driver);
    nvc_device_info_free(call->devices);
    free(call);
}

/* ---- The synchronous API: the same calls around poll -------------------------------- */

static struct nvc_call *run_call(struct nvc_context *ctx, enum nvc_call_kind kind, struct nvc_error *err)
{
    struct nvc_wait w;
    struct nvc_call *call = call_start(ctx, kind, 1, err);
    if (call == NULL)
        return NULL;
    while (!nvc_call_step(call, &w))
        nvc_wait_block(&w);
    if (nvc_call_finish(call, err) < 0) {
        nvc_call_free(call);
        return NULL;
    }
    return call;
}

struct nvc_context *nvc_init(const struct nvc_config *cfg, struct nvc_error *err)
{
    struct nvc_context *ctx = nvc_context_new(cfg, err);
    if (ctx == NULL)
        return NULL;
    struct nvc_call *call = run_call(ctx, NVC_CALL_START, err);
    if (call == NULL) {
        context_destroy(ctx); /* a failed start reaped its service */
        return NULL;
    }
    nvc_call_free(call);
    return ctx;
}

int nvc_shutdown(struct nvc_context *ctx, struct nvc_error *err)
{
    struct nvc_call *call = run_call(ctx, NVC_CALL_SHUTDOWN, err);
    if (call == NULL)
        return -1;
    nvc_call_free(call);
    return 0;
}

void nvc_context_free(struct nvc_context *ctx)
{
    struct nvc_error ignored;
    if (ctx == NULL)
        return;
    nvc_shutdown(ctx, &ignored);
    context_destroy(ctx);
}

void nvc_context_abandon(struct nvc_context *ctx)
{
    if (ctx == NULL)
        return;
    pthread_mutex_lock(&ctx->lock);
    ctx->closed = 1;
    nvc_service_abandon(&ctx->svc);
    pthread_mutex_unlock(&ctx->lock);
    context_destroy(ctx);
}

void nvc_context_kill(struct nvc_context *ctx)
{
    nvc_child_signal(&ctx->svc.child, SIGKILL);
}

pid_t nvc_service_pid(const struct nvc_context *ctx)
{
    return __atomic_load_n(&ctx->svc.child.pid, __ATOMIC_SEQ_CST);
}

const struct nvc_host *nvc_context_host(const struct nvc_context *ctx)
{
    return &ctx->host;
}

int nvc_driver_info_new(struct nvc_context *ctx, struct nvc_driver_info **out, struct nvc_error *err)
{
    struct nvc_call *call = run_call(ctx, NVC_CALL_DRIVER_INFO, err);
    if (call == NULL)
        return -1;
    *out = call->driver;
    call->driver = NULL;
    nvc_call_free(call);
    return 0;
}

int nvc_device_info_new(struct nvc_context *ctx, struct nvc_device_info **out, struct nvc_error *err)
{
    struct nvc_call *call = run_call(ctx, NVC_CALL_DEVICE_INFO, err);
    if (call == NULL)
        return -1;
    *out = call->devices;
    call->devices = NULL;
    nvc_call_free(call);
    return 0;
}
