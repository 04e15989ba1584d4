#define _GNU_SOURCE
/* Driver binaries (searched along bin_path inside the root, then in the bin directory
 * beside each directory of the driver's libraries) and the IPC sockets and directories
 * of persistenced, fabricmanager and MPS. */
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

/* Whether the regular file behind an O_PATH fd starts with the ELF magic: 1 or 0, -1 with
 * err filled when it cannot be read. Some hosts put shell wrappers named like the driver's
 * binaries first on PATH (/usr/bin/nvidia-smi exec'ing /usr/local/nvidia/bin/nvidia-smi);
 * mounted into a container such a wrapper only fails, so only a real executable is taken.
 * A file we may not read (EACCES, EPERM: root squashed on a network filesystem) is passed
 * over as a shell passes over a PATH entry it may not execute; one that went away since
 * the lookup is not there. Anything else (EMFILE, ENOMEM, EIO) is an error: taking it for
 * "not ELF" would drop a binary the host has. */
static int is_elf(int opath_fd, const char *path, struct nvc_error *err)
{
    static const unsigned char magic[4] = {0x7f, 'E', 'L', 'F'};
    unsigned char head[4];
    struct nvc_error tmp;
    ssize_t n;
    int fd = nvc_path_reopen(opath_fd, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, path, &tmp);

    if (fd < 0) {
        if (tmp.sys_errno == EACCES || tmp.sys_errno == EPERM || tmp.sys_errno == ENOENT)
            return 0;
        *err = tmp;
        return -1;
    }
    do
        n = pread(fd, head, sizeof(head), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        nvc_error_sys(err, "read", path, "cannot read the ELF header of %s", path);
        close(fd);
        return -1;
    }
    close(fd);
    /* Fewer bytes than the magic: a file that short is no executable. */
    return n == (ssize_t)sizeof(head) && memcmp(head, magic, sizeof(magic)) == 0;
}

/* Look for name in one directory of the search path. Returns 1 and the real path when
 * an ELF regular file is there, 0 when not, -1 on a real error. */
static int find_in_dir(int rootfd, const struct nvc_host *host, const char *dir, size_t dirlen, const char *name,
                       char *real, size_t realsz, struct nvc_witness *w, struct nvc_error *err)
{
    char cand[PATH_MAX];
    struct nvc_error tmp;
    struct stat st;
    int n, fd, r;

    n = snprintf(cand, sizeof(cand), "%.*s/%s", (int)dirlen, dir, name);
    if (n < 0 || (size_t)n >= sizeof(cand))
        return 0;
    /* Absent here is recorded too: the binary appearing in an earlier directory of the
     * search path changes the answer. */
    nvc_witness_walk(w, host->root, cand, 0);
    fd = nvc_path_open_in_root(rootfd, cand, O_PATH, &tmp);
    if (fd < 0) {
        if (nvc_path_lookup_missing(&tmp))
            return 0;
        *err = tmp;
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        nvc_error_sys(err, "fstat", cand, "cannot stat %s", cand);
        close(fd);
        return -1;
    }
    /* A directory or socket of that name, or a script, is not the binary: keep searching. */
    r = S_ISREG(st.st_mode) ? is_elf(fd, cand, err) : 0;
    if (r <= 0) {
        close(fd);
        return r;
    }
    r = nvc_path_fd_in_root(rootfd, host->root, fd, cand, real, realsz, &tmp);
    close(fd);
    if (r < 0) {
        if (nvc_path_lookup_missing(&tmp))
            return 0;
        *err = tmp;
        return -1;
    }
    return 1;
}

/* bin_path first (in its order), then <libdir>/../bin for each directory of the driver's
 * libraries: a hook run with a standard PATH (as runtimes run hooks) does not name a
 * driver tree such as /usr/local/nvidia/bin, whose binaries sit beside its lib64. Empty
 * and relative PATH entries are skipped: they would mean "the current directory", which
 * has no meaning inside the root. */
static int find_bin(int rootfd, const struct nvc_host *host, const struct nvc_driver_info *info, const char *name,
                    char *real, size_t realsz, struct nvc_witness *w, struct nvc_error *err)
{
    const char *p = host->bin_path;

    while (*p != '\0') {
        const char *end = strchrnul(p, ':');
        size_t len = (size_t)(end - p);

        if (len > 0 && p[0] == '/') {
            int r = find_in_dir(rootfd, host, p, len, name, real, realsz, w, err);
            if (r != 0)
                return r;
        }
        p = *end ? end + 1 : end;
    }
    for (size_t i = 0; i < info->nlibs; i++) {
        const char *lib = info->libs[i].path;
        const char *slash = strrchr(lib, '/');
        char dir[PATH_MAX];
        int n, seen = 0, r;

        if (slash == NULL || slash == lib)
            continue;
        /* Libraries of one directory come together: look at each directory once. */
        for (size_t j = 0; j < i && !seen; j++) {
            const char *other = info->libs[j].path;
            const char *os = strrchr(other, '/');
            seen = os != NULL && os - other == slash - lib && strncmp(other, lib, (size_t)(slash - lib)) == 0;
        }
        if (seen)
            continue;
        n = snprintf(dir, sizeof(dir), "%.*s/../bin", (int)(slash - lib), lib);
        if (n < 0 || (size_t)n >= sizeof(dir))
            continue;
        r = find_in_dir(rootfd, host, dir, (size_t)n, name, real, realsz, w, err);
        if (r != 0)
            return r;
    }
    return 0;
}

int nvc_drv_binaries(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                     struct nvc_error *err)
{
    for (size_t i = 0; i < sizeof(driver_bins) / sizeof(driver_bins[0]); i++) {
        char real[PATH_MAX];
        int r = find_bin(rootfd, host, info, driver_bins[i].name, real, sizeof(real), w, err);

        if (r < 0)
            return -1;
        if (r > 0 && nvc_drv_add_file(&info->bins, &info->nbins, real, driver_bins[i].caps, err) < 0)
            return -1;
    }
    return 0;
}

int nvc_drv_ipcs(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                 struct nvc_error *err)
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
        nvc_witness_walk(w, host->root, ipcs[i].path, 0);
        if (nvc_path_resolve_in_root(rootfd, host->root, ipcs[i].path, real, sizeof(real), &tmp) < 0) {
            if (nvc_path_lookup_missing(&tmp))
                continue;
            *err = tmp;
            return -1;
        }
        if (nvc_drv_add_file(&info->ipcs, &info->nipcs, real, ipcs[i].caps, err) < 0)
            return -1;
    }
    return 0;
}
