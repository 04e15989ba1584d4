#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device_info.h"
#include "discovery.h"
#include "nvc.h"
#include "service.h"

#define DEFAULT_TIMEOUT_MS 10000
#define MAX_TIMEOUT_MS (24u * 3600 * 1000)
#define MAX_DEVICES 1024
#define STANDARD_BIN_DIRS "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct nvc_context {
    struct nvc_host host;
    struct nvc_service svc;
    pthread_mutex_t lock; /* one request in flight per service: the protocol is strictly request/reply */
    int closed;
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
        set_path(host->ldcache, sizeof(host->ldcache), cfg->ldcache ? cfg->ldcache : "/etc/ld.so.cache", "ldcache", err) < 0)
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
    if (cfg->helper_path == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "helperPath", NULL,
                             "the path of the nvc-ts-driver executable is required");
    if (set_path(host->helper_path, sizeof(host->helper_path), cfg->helper_path, "helperPath", err) < 0)
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

static void explain_mismatch(const struct nvc_host *host, struct nvc_error *err)
{
    char kernel[64];
    const char *lib = strrchr(host->nvml_path, '/');
    kernel_module_version(host, kernel, sizeof(kernel));
    nvc_error_wrap(err, "the loaded kernel module is %s but the NVML library is %s (a driver upgrade without "
                        "a reboot or module reload?)", kernel, lib ? lib + 1 : host->nvml_path);
}

struct nvc_context *nvc_init(const struct nvc_config *cfg, struct nvc_error *err)
{
    struct nvc_context *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        nvc_error_sys(err, "calloc", NULL, "cannot allocate a context");
        return NULL;
    }
    nvc_service_reset(&ctx->svc);
    if (nvc_host_resolve(cfg, &ctx->host, err) < 0)
        goto fail;
    if (ctx->host.nvml_path[0] == '\0' &&
        nvc_find_nvml(&ctx->host, ctx->host.nvml_path, sizeof(ctx->host.nvml_path), err) < 0)
        goto fail;
    if (nvc_service_start(&ctx->svc, &ctx->host, err) < 0) {
        if (err->code == NVC_ERR_VERSION_MISMATCH)
            explain_mismatch(&ctx->host, err);
        if (err->code == NVC_ERR_NVML_LOAD && err->path[0] == '\0')
            snprintf(err->path, sizeof(err->path), "%s", ctx->host.nvml_path);
        goto fail;
    }
    pthread_mutex_init(&ctx->lock, NULL);
    return ctx;
fail:
    free(ctx);
    return NULL;
}

int nvc_shutdown(struct nvc_context *ctx, struct nvc_error *err)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->closed = 1;
    int rc = nvc_service_stop(&ctx->svc, err);
    pthread_mutex_unlock(&ctx->lock);
    return rc;
}

void nvc_context_free(struct nvc_context *ctx)
{
    struct nvc_error ignored;
    if (ctx == NULL)
        return;
    nvc_shutdown(ctx, &ignored);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

void nvc_context_abandon(struct nvc_context *ctx)
{
    if (ctx == NULL)
        return;
    pthread_mutex_lock(&ctx->lock);
    ctx->closed = 1;
    nvc_service_abandon(&ctx->svc);
    pthread_mutex_unlock(&ctx->lock);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

void nvc_context_kill(struct nvc_context *ctx)
{
    pid_t pid = __atomic_load_n(&ctx->svc.child.pid, __ATOMIC_SEQ_CST);
    if (pid > 0)
        kill(pid, SIGKILL);
}

pid_t nvc_service_pid(const struct nvc_context *ctx)
{
    return __atomic_load_n(&ctx->svc.child.pid, __ATOMIC_SEQ_CST);
}

const struct nvc_host *nvc_context_host(const struct nvc_context *ctx)
{
    return &ctx->host;
}

static int begin_call(struct nvc_context *ctx, const char *what, struct nvc_error *err)
{
    pthread_mutex_lock(&ctx->lock);
    if (ctx->closed) {
        pthread_mutex_unlock(&ctx->lock);
        return nvc_error_set(err, NVC_ERR_CONTEXT_CLOSED, 0, what, NULL, "the context was shut down");
    }
    return 0;
}

int nvc_driver_info_new(struct nvc_context *ctx, struct nvc_driver_info **out, struct nvc_error *err)
{
    struct nvc_rbuf r;
    char version[80];
    int cuda = 0;

    if (begin_call(ctx, "driver info", err) < 0)
        return -1;
    int rc = nvc_service_call(&ctx->svc, NVC_OP_DRIVER, NULL, "driver info", &r, err);
    if (rc == 0) {
        /* The reply lives in the service's receive buffer: read it before another call may. */
        nvc_wire_get_str(&r, version, sizeof(version));
        cuda = nvc_wire_get_i32(&r);
        if (!nvc_wire_done(&r))
            rc = nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "driver info", NULL,
                               "malformed driver record from the driver service");
    }
    pthread_mutex_unlock(&ctx->lock);
    if (rc < 0)
        return -1;

    struct nvc_driver_info *info = calloc(1, sizeof(*info));
    if (info == NULL)
        return nvc_error_sys(err, "calloc", NULL, "driver info");
    snprintf(info->nvrm_version, sizeof(info->nvrm_version), "%s", version);
    nvc_format_cuda_version(cuda, info->cuda_version, sizeof(info->cuda_version));
    if (nvc_discover_driver(&ctx->host, info, err) < 0) {
        nvc_driver_info_free(info);
        return -1;
    }
    *out = info;
    return 0;
}

int nvc_device_info_new(struct nvc_context *ctx, struct nvc_device_info **out, struct nvc_error *err)
{
    struct nvc_rbuf r;
    struct nvc_device_info *info = NULL;

    if (begin_call(ctx, "device info", err) < 0)
        return -1;
    if (nvc_service_call(&ctx->svc, NVC_OP_DEVICE_COUNT, NULL, "device count", &r, err) < 0)
        goto fail;
    uint32_t count = nvc_wire_get_u32(&r);
    if (!nvc_wire_done(&r) || count > MAX_DEVICES) {
        nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "device count", NULL,
                      "implausible device count %u from the driver service (at most %d)", count, MAX_DEVICES);
        goto fail;
    }
    info = calloc(1, sizeof(*info));
    if (info == NULL || (count > 0 && (info->devs = calloc(count, sizeof(*info->devs))) == NULL)) {
        nvc_error_sys(err, "calloc", NULL, "device info");
        goto fail;
    }
    for (uint32_t i = 0; i < count; i++) {
        char what[48];
        snprintf(what, sizeof(what), "device info for GPU %u", i);
        if (nvc_service_call(&ctx->svc, NVC_OP_DEVICE, &i, what, &r, err) < 0)
            goto fail;
        info->ndevs++;
        if (nvc_device_decode(&r, &info->devs[i], err) < 0)
            goto fail;
    }
    pthread_mutex_unlock(&ctx->lock);
    /* Files, not NVML: read without holding up other calls on this context. */
    for (size_t i = 0; i < info->ndevs; i++)
        nvc_device_read_cap_minors(&ctx->host, &info->devs[i]);
    *out = info;
    return 0;
fail:
    pthread_mutex_unlock(&ctx->lock);
    nvc_device_info_free(info);
    return -1;
}
