#define _GNU_SOURCE
/* GSP firmware images of the running driver version: NVML needs them inside the
 * container on GSP-based GPUs. */
#include <dirent.h>
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

#define FW_DEFAULT_DIR "/lib/firmware"
#define FW_CLASS_PARAM "/module/firmware_class/parameters/path"
#define FW_MAX_FILES   256 /* GSP images per driver: two today */

struct fw_state {
    int rootfd;
    const struct nvc_host *host;
    struct nvc_driver_info *info;
    struct nvc_witness *w;
    char **reals; /* real paths already listed, so one file reached twice counts once */
    size_t nreals;
};

static int is_gsp_image(const char *name)
{
    size_t n = strlen(name);
    return n > 7 && strncmp(name, "gsp", 3) == 0 && strcmp(name + n - 4, ".bin") == 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Names of the GSP images in dirfd (consumed), sorted. */
static int list_images(int dirfd, const char *shown, char ***out, size_t *nout, struct nvc_error *err)
{
    DIR *d = fdopendir(dirfd);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de = NULL;

    if (d == NULL) {
        close(dirfd);
        return nvc_error_sys(err, "opendir", shown, "cannot list %s", shown);
    }
    /* readdir says "end" and "failed" both with NULL; errno tells them apart. A listing cut
     * short by EIO would drop the images after it. */
    while (n < FW_MAX_FILES && (errno = 0, de = readdir(d)) != NULL) {
        char **grown;
        if (!is_gsp_image(de->d_name))
            continue;
        grown = realloc(names, (n + 1) * sizeof(*names));
        if (grown == NULL || (grown[n] = strdup(de->d_name)) == NULL) {
            int e = errno;
            free_names(grown ? grown : names, n);
            closedir(d);
            errno = e;
            return nvc_error_sys(err, "readdir", shown, "cannot list %s", shown);
        }
        names = grown;
        n++;
    }
    if (de == NULL && errno != 0) {
        int e = errno;
        free_names(names, n);
        closedir(d);
        errno = e;
        return nvc_error_sys(err, "readdir", shown, "cannot list %s", shown);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), cmp_names);
    *out = names;
    *nout = n;
    return 0;
}

static int seen(const struct fw_state *s, const char *real)
{
    for (size_t i = 0; i < s->nreals; i++)
        if (strcmp(s->reals[i], real) == 0)
            return 1;
    return 0;
}

/* Add one image if it is a regular file (links followed inside the root) not listed yet. */
static int add_image(struct fw_state *s, const char *path, struct nvc_error *err)
{
    char real[PATH_MAX];
    struct nvc_error tmp;
    struct stat st;
    char **grown;
    int fd, r;

    nvc_witness_walk(s->w, s->host->root, path, 0);
    fd = nvc_path_open_in_root(s->rootfd, path, O_PATH, &tmp);
    if (fd < 0)
        goto lookup_failed;
    if (fstat(fd, &st) < 0) {
        nvc_error_sys(err, "fstat", path, "cannot stat %s", path);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return 0;
    }
    r = nvc_path_fd_in_root(s->rootfd, s->host->root, fd, path, real, sizeof(real), &tmp);
    close(fd);
    if (r < 0)
        goto lookup_failed;
    if (seen(s, real))
        return 0;
    grown = realloc(s->reals, (s->nreals + 1) * sizeof(*grown));
    if (grown == NULL)
        return nvc_error_sys(err, "discover", path, "cannot grow the firmware list");
    s->reals = grown;
    if ((grown[s->nreals] = strdup(real)) == NULL)
        return nvc_error_sys(err, "discover", path, "cannot copy a firmware path");
    s->nreals++;
    /* Listed by the unresolved name: that is where the kernel and the container look. */
    return nvc_drv_add_file(&s->info->firmware, &s->info->nfirmware, path, NVC_CAP_ALL, err);

lookup_failed:
    if (nvc_path_lookup_missing(&tmp))
        return 0;
    *err = tmp;
    return -1;
}

static int scan_dir(struct fw_state *s, const char *base, struct nvc_error *err)
{
    char dir[PATH_MAX];
    struct nvc_error tmp;
    char **names = NULL;
    size_t n = 0;
    int fd, r = 0, len;

    len = snprintf(dir, sizeof(dir), "%s/nvidia/%s", base, s->info->nvrm_version);
    if (len < 0 || (size_t)len >= sizeof(dir))
        return 0;
    /* Listed: an image added or removed there changes the directory's times. */
    nvc_witness_walk(s->w, s->host->root, dir, 1);
    fd = nvc_path_open_in_root(s->rootfd, dir, O_RDONLY | O_DIRECTORY, &tmp);
    if (fd < 0) {
        if (nvc_path_lookup_missing(&tmp))
            return 0;
        *err = tmp;
        return -1;
    }
    if (list_images(fd, dir, &names, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && r == 0; i++) {
        char path[PATH_MAX];
        len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (len > 0 && (size_t)len < sizeof(path))
            r = add_image(s, path, err);
    }
    free_names(names, n);
    return r;
}

/* The kernel's extra firmware directory (firmware_class.path), without trailing
 * whitespace or slashes; "" when unset, unreadable or not absolute. */
static void custom_dir(const struct nvc_host *host, char *out, size_t outsz, struct nvc_witness *w)
{
    char param[PATH_MAX];
    size_t n;

    out[0] = '\0';
    if (nvc_path_join(param, sizeof(param), host->sys_root, FW_CLASS_PARAM) < 0)
        return;
    nvc_witness_content(w, param);
    if (nvc_drv_read_text(param, out, outsz) < 0)
        return;
    n = strlen(out);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\t' || out[n - 1] == '/'))
        out[--n] = '\0';
    if (out[0] != '/')
        out[0] = '\0';
}

int nvc_drv_firmware(int rootfd, const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                     struct nvc_error *err)
{
    struct fw_state s = {.rootfd = rootfd, .host = host, .info = info, .w = w};
    char custom[PATH_MAX];
    int r = 0;

    custom_dir(host, custom, sizeof(custom), w);
    if (custom[0] != '\0')
        r = scan_dir(&s, custom, err);
    if (r == 0 && strcmp(custom, FW_DEFAULT_DIR) != 0)
        r = scan_dir(&s, FW_DEFAULT_DIR, err);
    free_names(s.reals, s.nreals);
    return r;
}
