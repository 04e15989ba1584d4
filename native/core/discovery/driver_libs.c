#define _GNU_SOURCE
/* Driver libraries from the ld.so.cache of the driver root, and the NVML library the
 * driver service loads. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "discovery.h"
#include "driver_internal.h"
#include "elf_note.h"
#include "ldcache.h"
#include "path.h"

#define NVML_SONAME "libnvidia-ml.so.1"
#define TLS_PREFIX  "libnvidia-tls.so"
#define GFX         (NVC_CAP_GRAPHICS | NVC_CAP_DISPLAY)

/* Driver libraries by soname prefix, in the reference's search order: utility,
 * compute, ngx, video, graphics, then the GLVND vendor libraries. The order is also
 * the order of info->libs. Capabilities are only recorded here: every library found
 * is listed, the mount step filters. */
static const struct lib_prefix {
    const char *prefix;
    unsigned caps;
} lib_prefixes[] = {
    {"libnvidia-ml.so", NVC_CAP_UTILITY},
    {"libnvidia-cfg.so", NVC_CAP_UTILITY},
    {"libnvidia-nscq.so", NVC_CAP_UTILITY},
    {"libcuda.so", NVC_CAP_COMPUTE},
    {"libcudadebugger.so", NVC_CAP_COMPUTE},
    {"libnvidia-opencl.so", NVC_CAP_COMPUTE},
    {"libnvidia-gpucomp.so", NVC_CAP_COMPUTE},
    {"libnvidia-ptxjitcompiler.so", NVC_CAP_COMPUTE},
    {"libnvidia-fatbinaryloader.so", NVC_CAP_COMPUTE},
    {"libnvidia-allocator.so", NVC_CAP_COMPUTE},
    {"libnvidia-compiler.so", NVC_CAP_COMPUTE},
    {"libnvidia-pkcs11.so", NVC_CAP_COMPUTE},
    {"libnvidia-pkcs11-openssl3.so", NVC_CAP_COMPUTE},
    {"libnvidia-nvvm.so", NVC_CAP_COMPUTE},
    {"libnvidia-tileiras.so", NVC_CAP_COMPUTE},
    {"libnvidia-ngx.so", NVC_CAP_NGX},
    {"libvdpau_nvidia.so", NVC_CAP_VIDEO},
    {"libnvidia-encode.so", NVC_CAP_VIDEO},
    {"libnvidia-opticalflow.so", NVC_CAP_VIDEO},
    {"libnvcuvid.so", NVC_CAP_VIDEO},
    {"libnvidia-eglcore.so", GFX},
    {"libnvidia-glcore.so", GFX},
    {TLS_PREFIX, GFX},
    {"libnvidia-glsi.so", GFX},
    {"libnvidia-fbc.so", GFX},
    {"libnvidia-ifr.so", GFX},
    {"libnvidia-rtcore.so", GFX},
    {"libnvoptix.so", GFX},
    {"libGLX_nvidia.so", GFX},
    {"libEGL_nvidia.so", GFX},
    {"libGLESv2_nvidia.so", GFX},
    {"libGLESv1_CM_nvidia.so", GFX},
    {"libnvidia-glvkspirv.so", GFX},
    {"libnvidia-cbl.so", GFX},
};

#define NPREFIXES (sizeof(lib_prefixes) / sizeof(lib_prefixes[0]))

static int match_prefix(const char *key)
{
    for (size_t i = 0; i < NPREFIXES; i++)
        if (strncmp(key, lib_prefixes[i].prefix, strlen(lib_prefixes[i].prefix)) == 0)
            return (int)i;
    return -1;
}

/* libcuda.so.580.159.04 for version 580.159.04: a stale library of another driver
 * (left behind by an upgrade) must not be mixed with the running kernel module. */
static int has_version_suffix(const char *path, const char *version)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t bl = strlen(base), vl = strlen(version);

    return bl > vl + 1 && base[bl - vl - 1] == '.' && strcmp(base + bl - vl, version) == 0;
}

/* A read-only fd of the regular file real in the root; NVC_PATH_NOT_REGULAR for one that
 * is gone (a lookup that finds nothing, nvc_path_lookup_missing) or is not a regular file;
 * -1 with err filled when it could not be opened (EMFILE, ENOMEM, EIO...). Only a regular
 * file is opened for reading: nothing that could block or be woken. */
static int open_lib(int rootfd, const char *real, struct nvc_error *err)
{
    struct nvc_error e;
    int fd = nvc_path_open_regular_in_root(rootfd, real, real, &e);

    if (fd >= 0 || fd == NVC_PATH_NOT_REGULAR)
        return fd;
    if (nvc_path_lookup_missing(&e))
        return NVC_PATH_NOT_REGULAR;
    *err = e;
    return -1;
}

/* An ELF reader's failure: a file that is not a well-formed ELF is an answer (0), one that
 * could not be read is the caller's error (-1, err filled). */
static int elf_failure(const struct nvc_error *e, struct nvc_error *err)
{
    if (e->code == NVC_ERR_INVALID_ARGUMENT)
        return 0;
    *err = *e;
    return -1;
}

/* Older drivers shipped two libnvidia-tls builds for two TLS ABIs; only the one tagged
 * Linux 2.3.99 works with current glibc. 1 when it qualifies, 0 when not (no such tag,
 * not an ELF, gone), -1 when it could not be read. */
static int tls_abi_ok(int rootfd, const char *real, struct nvc_error *err)
{
    struct nvc_error e;
    int fd = open_lib(rootfd, real, err);
    int r;

    if (fd == NVC_PATH_NOT_REGULAR)
        return 0;
    if (fd < 0)
        return -1;
    r = nvc_elf_abi_tag_is(fd, real, NVC_ELF_ABI_OS_LINUX, 2, 3, 99, &e);
    close(fd);
    return r < 0 ? elf_failure(&e, err) : r;
}

/* The soname of a selected library, when the library has one usable as the name of a
 * link next to it (a plain file name); NULL otherwise, which is not an error. -1 when the
 * library could not be read (it exists: EIO or EMFILE must not cost it its link) or memory
 * runs out. */
static int lib_soname(int rootfd, const char *real, char **soname, struct nvc_error *err)
{
    char buf[NAME_MAX + 1];
    struct nvc_error e;
    int fd = open_lib(rootfd, real, err);
    int r;

    *soname = NULL;
    if (fd == NVC_PATH_NOT_REGULAR)
        return 0;
    if (fd < 0)
        return -1;
    r = nvc_elf_read_soname(fd, real, buf, sizeof(buf), &e);
    close(fd);
    if (r < 0)
        return elf_failure(&e, err);
    if (r != 1 || buf[0] == '\0' || strchr(buf, '/') != NULL || strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0)
        return 0;
    *soname = strdup(buf);
    if (*soname == NULL)
        return nvc_error_sys(err, "discover", real, "cannot copy the soname of %s", real);
    return 0;
}

static int already_selected(char *const *sel, const char *real)
{
    for (size_t i = 0; i < NPREFIXES; i++)
        if (sel[i] != NULL && strcmp(sel[i], real) == 0)
            return 1;
    return 0;
}

/* One pass over the cache for one word size; sel[i] ends up holding the last
 * acceptable real path for prefix i, in cache order. */
static int select_libs(int rootfd, const struct nvc_host *host, const struct nvc_ldcache *c, int want32,
                       const char *version, char **sel, struct nvc_witness *w, struct nvc_error *err)
{
    for (size_t i = 0; i < c->nentries; i++) {
        const struct nvc_ldcache_entry *e = &c->entries[i];
        char real[PATH_MAX];
        struct nvc_error tmp;
        char *copy;
        int p;

        if (!nvc_ldcache_entry_usable(e, want32) || (p = match_prefix(e->key)) < 0)
            continue;
        /* Every link and directory on the way, the file itself (its ELF notes are read) or
         * its absence. */
        nvc_witness_walk(w, host->root, e->value, 0);
        if (nvc_path_resolve_in_root(rootfd, host->root, e->value, real, sizeof(real), &tmp) < 0) {
            if (nvc_path_lookup_missing(&tmp))
                continue;
            *err = tmp;
            return -1;
        }
        if (already_selected(sel, real) || !has_version_suffix(real, version))
            continue;
        if (strcmp(lib_prefixes[p].prefix, TLS_PREFIX) == 0) {
            int ok = tls_abi_ok(rootfd, real, err);
            if (ok < 0)
                return -1;
            if (ok == 0)
                continue;
        }
        copy = strdup(real);
        if (copy == NULL)
            return nvc_error_sys(err, "discover", real, "cannot copy a library path");
        free(sel[p]);
        sel[p] = copy;
    }
    return 0;
}

static int find_libs(int rootfd, const struct nvc_host *host, const struct nvc_ldcache *c, int want32,
                     const char *version, struct nvc_file **out, size_t *nout, struct nvc_witness *w,
                     struct nvc_error *err)
{
    char *sel[NPREFIXES] = {0};
    int r = select_libs(rootfd, host, c, want32, version, sel, w, err);

    for (size_t i = 0; i < NPREFIXES; i++) {
        if (r == 0 && sel[i] != NULL)
            r = nvc_drv_add_file(out, nout, sel[i], lib_prefixes[i].caps, err);
        if (r == 0 && sel[i] != NULL)
            r = lib_soname(rootfd, sel[i], &(*out)[*nout - 1].soname, err);
        free(sel[i]);
    }
    return r;
}

int nvc_drv_libraries(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                      struct nvc_error *err)
{
    struct nvc_ldcache c;
    int r;

    nvc_witness_walk(w, host->root, host->ldcache, 0);
    if (nvc_ldcache_load(rootfd, host->root, host->ldcache, &c, err) < 0)
        return -1;
    r = find_libs(rootfd, host, &c, 0, info->nvrm_version, &info->libs, &info->nlibs, w, err);
    if (r == 0)
        r = find_libs(rootfd, host, &c, 1, info->nvrm_version, &info->libs32, &info->nlibs32, w, err);
    nvc_ldcache_free(&c);
    return r;
}

int nvc_find_nvml(const struct nvc_host *host, char *out, size_t outsz, struct nvc_error *err)
{
    char cache_host[PATH_MAX];
    struct nvc_ldcache c;
    int rootfd, found = 0;

    if (nvc_path_join(cache_host, sizeof(cache_host), host->root, host->ldcache) < 0)
        snprintf(cache_host, sizeof(cache_host), "%s", host->ldcache);
    rootfd = nvc_drv_open_root(host, err);
    if (rootfd < 0)
        return -1;
    if (nvc_ldcache_load(rootfd, host->root, host->ldcache, &c, err) < 0) {
        close(rootfd);
        if (err->code == NVC_ERR_SYSTEM && err->sys_errno == ENOENT)
            return nvc_error_set(err, NVC_ERR_DRIVER_NOT_FOUND, ENOENT, "ldcache", cache_host,
                                 "cannot look up " NVML_SONAME
                                 ": the ld.so cache %s does not exist under the driver root %s",
                                 host->ldcache, host->root);
        return -1;
    }
    /* The first usable entry in cache order, as the dynamic loader would pick it. */
    for (size_t i = 0; i < c.nentries && !found; i++) {
        const struct nvc_ldcache_entry *e = &c.entries[i];
        char real[PATH_MAX];
        struct nvc_error tmp;

        if (!nvc_ldcache_entry_usable(e, 0) || strcmp(e->key, NVML_SONAME) != 0)
            continue;
        if (nvc_path_resolve_in_root(rootfd, host->root, e->value, real, sizeof(real), &tmp) < 0) {
            if (nvc_path_lookup_missing(&tmp))
                continue;
            *err = tmp;
            found = -1;
            break;
        }
        if (nvc_path_join(out, outsz, host->root, real) < 0) {
            nvc_error_sys(err, "discover", real, "the host path of %s does not fit", real);
            found = -1;
            break;
        }
        found = 1;
    }
    nvc_ldcache_free(&c);
    close(rootfd);
    if (found == 0)
        return nvc_error_set(err, NVC_ERR_DRIVER_NOT_FOUND, 0, "ldcache", cache_host,
                             NVML_SONAME " was not found in %s under the driver root %s", host->ldcache, host->root);
    return found < 0 ? -1 : 0;
}
