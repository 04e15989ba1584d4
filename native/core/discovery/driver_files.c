#define _GNU_SOURCE
/* nvc_discover_driver: runs the discovery steps of driver_*.c in the reference's order
 * and owns the memory of struct nvc_driver_info. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discovery.h"
#include "driver_internal.h"

int nvc_drv_add_file(struct nvc_file **arr, size_t *n, const char *path, unsigned caps, struct nvc_error *err)
{
    /* Lists hold a few dozen entries at most: growing one by one keeps the struct
     * layout of nvc.h (no capacity field) and costs nothing measurable. */
    struct nvc_file *grown = realloc(*arr, (*n + 1) * sizeof(**arr));
    char *copy;

    if (grown == NULL)
        return nvc_error_sys(err, "discover", path, "cannot grow a file list");
    *arr = grown;
    copy = strdup(path);
    if (copy == NULL)
        return nvc_error_sys(err, "discover", path, "cannot copy a path");
    grown[*n] = (struct nvc_file){.path = copy, .caps = caps};
    (*n)++;
    return 0;
}

void nvc_drv_free_files(struct nvc_file *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(arr[i].path);
        free(arr[i].soname);
    }
    free(arr);
}

int nvc_drv_open_root(const struct nvc_host *host, struct nvc_error *err)
{
    int fd = open(host->root, O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0) {
        nvc_error_sys(err, "open", host->root, "cannot open the driver root %s", host->root);
        if (err->sys_errno == ENOENT)
            err->code = NVC_ERR_DRIVER_NOT_FOUND;
        return -1;
    }
    return fd;
}

ssize_t nvc_drv_read_text(const char *host_path, char *buf, size_t bufsz)
{
    size_t got = 0;
    int fd;

    if (bufsz == 0) {
        errno = EINVAL;
        return -1;
    }
    /* O_NONBLOCK: a FIFO planted where a /proc or /sys file is expected must not hang us. */
    fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return -1;
    /* procfs files report size 0: read until EOF or the buffer is full. */
    while (got < bufsz - 1) {
        ssize_t r = read(fd, buf + got, bufsz - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* The version names a directory (firmware) and ends file names: it must be one plain
 * path component. */
static int version_ok(const char *v)
{
    return v[0] != '\0' && strchr(v, '/') == NULL && strcmp(v, ".") != 0 && strcmp(v, "..") != 0;
}

void nvc_driver_info_release(struct nvc_driver_info *info)
{
    if (info == NULL)
        return;
    nvc_drv_free_files(info->libs, info->nlibs);
    nvc_drv_free_files(info->libs32, info->nlibs32);
    nvc_drv_free_files(info->bins, info->nbins);
    nvc_drv_free_files(info->ipcs, info->nipcs);
    nvc_drv_free_files(info->firmware, info->nfirmware);
    free(info->devs);
    info->libs = info->libs32 = info->bins = info->ipcs = info->firmware = NULL;
    info->nlibs = info->nlibs32 = info->nbins = info->nipcs = info->nfirmware = 0;
    info->devs = NULL;
    info->ndevs = 0;
}

void nvc_driver_info_free(struct nvc_driver_info *info)
{
    if (info == NULL)
        return;
    nvc_driver_info_release(info);
    free(info);
}

static int copy_files(struct nvc_file **dst, const struct nvc_file *src, size_t n, struct nvc_error *err)
{
    *dst = NULL;
    if (n == 0)
        return 0;
    *dst = calloc(n, sizeof(**dst));
    if (*dst == NULL)
        return nvc_error_sys(err, "discover", NULL, "cannot copy the driver info");
    for (size_t i = 0; i < n; i++) {
        (*dst)[i].caps = src[i].caps;
        if (((*dst)[i].path = strdup(src[i].path)) == NULL ||
            (src[i].soname != NULL && ((*dst)[i].soname = strdup(src[i].soname)) == NULL))
            return nvc_error_sys(err, "discover", src[i].path, "cannot copy the driver info");
    }
    return 0;
}

struct nvc_driver_info *nvc_driver_info_copy(const struct nvc_driver_info *src, struct nvc_error *err)
{
    struct nvc_driver_info *dst = calloc(1, sizeof(*dst));

    if (dst == NULL) {
        nvc_error_sys(err, "discover", NULL, "cannot copy the driver info");
        return NULL;
    }
    /* The scalars and version strings; every array is replaced below. */
    *dst = *src;
    dst->libs = dst->libs32 = dst->bins = dst->ipcs = dst->firmware = NULL;
    dst->devs = NULL;
    /* Each count set only once its array is whole, so that a failure frees what there is. */
    dst->nlibs = dst->nlibs32 = dst->nbins = dst->nipcs = dst->nfirmware = dst->ndevs = 0;
#define COPY(field, count)                                                                                             \
    do {                                                                                                               \
        int r_ = copy_files(&dst->field, src->field, src->count, err);                                                 \
        dst->count = dst->field ? src->count : 0; /* entries not reached are NULL: free takes them */                  \
        if (r_ < 0)                                                                                                    \
            goto fail;                                                                                                 \
    } while (0)
    COPY(libs, nlibs);
    COPY(libs32, nlibs32);
    COPY(bins, nbins);
    COPY(ipcs, nipcs);
    COPY(firmware, nfirmware);
#undef COPY
    if (src->ndevs > 0) {
        dst->devs = malloc(src->ndevs * sizeof(*dst->devs));
        if (dst->devs == NULL) {
            nvc_error_sys(err, "discover", NULL, "cannot copy the driver info");
            goto fail;
        }
        memcpy(dst->devs, src->devs, src->ndevs * sizeof(*dst->devs));
        dst->ndevs = src->ndevs;
    }
    return dst;

fail:
    nvc_driver_info_free(dst);
    return NULL;
}

int nvc_discover_driver(const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_error *err)
{
    return nvc_discover_driver_witnessed(host, info, NULL, err);
}

int nvc_discover_driver_witnessed(const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                                  struct nvc_error *err)
{
    int rootfd;

    /* Whatever was in the arrays is not ours to free. */
    info->libs = info->libs32 = info->bins = info->ipcs = info->firmware = NULL;
    info->nlibs = info->nlibs32 = info->nbins = info->nipcs = info->nfirmware = 0;
    info->devs = NULL;
    info->ndevs = 0;
    info->nvcaps_major = info->imex_major = info->mig_config_minor = info->mig_monitor_minor = -1;

    if (!version_ok(info->nvrm_version))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "discover", NULL, "invalid driver version \"%s\"",
                             info->nvrm_version);
    nvc_witness_walk(w, "/", host->root, 0);
    rootfd = nvc_drv_open_root(host, err);
    if (rootfd < 0)
        return -1;
    /* The reference's order: libraries, binaries, firmware, device nodes, IPC. */
    if (nvc_drv_libraries(rootfd, host, info, w, err) < 0 || nvc_drv_binaries(rootfd, host, info, w, err) < 0 ||
        nvc_drv_firmware(rootfd, host, info, w, err) < 0 || nvc_drv_devices(host, info, w, err) < 0 ||
        nvc_drv_ipcs(rootfd, host, info, w, err) < 0) {
        close(rootfd);
        nvc_driver_info_release(info);
        return -1;
    }
    close(rootfd);
    return 0;
}
