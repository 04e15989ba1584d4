#define _GNU_SOURCE
/* Driver binaries (searched along bin_path inside the root) and the IPC sockets and
 * directories of persistenced, fabricmanager and MPS. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver_internal.h"
#include "path.h"

#define MPS_PIPE_DEFAULT "/tmp/nvidia-mps"

static const struct {
    const char *name;
    unsigned caps;
} driver_bins[] = {
    {"nvidia-smi", NVC_CAP_UTILITY},
    {"nvidia-debugdump", NVC_CAP_UTILITY},
    {"nvidia-persistenced", NVC_CAP_UTILITY},
    {"nv-fabricmanager", NVC_CAP_UTILITY},
    {"nvidia-cuda-mps-control", NVC_CAP_COMPUTE},
    {"nvidia-cuda-mps-server", NVC_CAP_COMPUTE},
};

/* Look for name in one directory of the search path. Returns 1 and the real path when
 * a regular file is there, 0 when not, -1 on a real error. */
static int find_in_dir(int rootfd, const struct nvc_host *host, const char *dir, size_t dirlen, const char *name,
                       char *real, size_t realsz, struct nvc_error *err)
{
    char cand[PATH_MAX];
    struct nvc_error tmp;
    struct stat st;
    int n, fd, r;

    n = snprintf(cand, sizeof(cand), "%.*s/%s", (int)dirlen, dir, name);
    if (n < 0 || (size_t)n >= sizeof(cand))
        return 0;
    fd = nvc_path_open_in_root(rootfd, cand, O_PATH, &tmp);
    if (fd < 0) {
        if (nvc_drv_lookup_missing(&tmp))
            return 0;
        *err = tmp;
        return -1;
    }
    /* A directory or socket of that name is not the binary: keep searching. */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    r = nvc_path_fd_in_root(rootfd, host->root, fd, cand, real, realsz, &tmp);
    close(fd);
    if (r < 0) {
        if (nvc_drv_lookup_missing(&tmp))
            return 0;
        *err = tmp;
        return -1;
    }
    return 1;
}

/* bin_path order matters: on hosts where /usr/bin/nvidia-smi is a wrapper script the
 * real binary's directory comes first in PATH. Empty and relative entries are skipped:
 * they would mean "the current directory", which has no meaning inside the root. */
static int find_bin(int rootfd, const struct nvc_host *host, const char *name, char *real, size_t realsz,
                    struct nvc_error *err)
{
    const char *p = host->bin_path;

    while (*p != '\0') {
        const char *end = strchrnul(p, ':');
        size_t len = (size_t)(end - p);

        if (len > 0 && p[0] == '/') {
            int r = find_in_dir(rootfd, host, p, len, name, real, realsz, err);
            if (r != 0)
                return r;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

int nvc_drv_binaries(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_error *err)
{
    for (size_t i = 0; i < sizeof(driver_bins) / sizeof(driver_bins[0]); i++) {
        char real[PATH_MAX];
        int r = find_bin(rootfd, host, driver_bins[i].name, real, sizeof(real), err);

        if (r < 0)
            return -1;
        if (r > 0 && nvc_drv_add_file(&info->bins, &info->nbins, real, driver_bins[i].caps, err) < 0)
            return -1;
    }
    return 0;
}

int nvc_drv_ipcs(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_error *err)
{
    const char *mps = host->mps_pipe_dir;
    const struct {
        const char *path;
        unsigned caps;
    } ipcs[] = {
        {"/var/run/nvidia-persistenced/socket", NVC_CAP_UTILITY},
        {"/var/run/nvidia-fabricmanager/socket", NVC_CAP_UTILITY},
        {mps[0] == '/' ? mps : MPS_PIPE_DEFAULT, NVC_CAP_COMPUTE},
    };

    for (size_t i = 0; i < sizeof(ipcs) / sizeof(ipcs[0]); i++) {
        char real[PATH_MAX];
        struct nvc_error tmp;

        /* Stored resolved: /var/run -> /run gives /run/nvidia-persistenced/socket,
         * the path the container will see it at. */
        if (nvc_path_resolve_in_root(rootfd, host->root, ipcs[i].path, real, sizeof(real), &tmp) < 0) {
            if (nvc_drv_lookup_missing(&tmp))
                continue;
            *err = tmp;
            return -1;
        }
        if (nvc_drv_add_file(&info->ipcs, &info->nipcs, real, ipcs[i].caps, err) < 0)
            return -1;
    }
    return 0;
}
