#define _GNU_SOURCE
/* Device nodes shared by all GPUs, and the nvidia-caps numbers read from procfs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "discovery.h"
#include "driver_internal.h"
#include "path.h"

#define NVIDIACTL_MINOR 255
#define MODESET_MINOR   254
#define PROC_TEXT_MAX   16384 /* /proc/devices and the caps files are far smaller */
#define MINOR_KEY       "DeviceFileMinor:"

/* A character device under dev_root, not followed if it is a symlink: a node that only
 * points elsewhere is not the node the driver created. 1 when it is one (st filled), 0 when
 * nothing is there (ENOENT) or something else is, -1 with err filled when it could not be
 * looked at (EACCES, ENOMEM, EIO...): a node the host has must not go missing from a
 * container because of a transient failure. */
static int char_dev_at(int devfd, const char *dev_root, const char *name, struct stat *st, struct nvc_witness *w,
                       struct nvc_error *err)
{
    char shown[PATH_MAX];

    if (devfd < 0)
        return 0;
    /* The node created, removed or replaced later changes the witness. */
    nvc_witness_walk(w, dev_root, name, 0);
    if (fstatat(devfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
        return S_ISCHR(st->st_mode);
    if (errno == ENOENT)
        return 0;
    if (nvc_path_join(shown, sizeof(shown), dev_root, name) < 0)
        snprintf(shown, sizeof(shown), "%s", name);
    return nvc_error_sys(err, "fstatat", shown, "cannot look at the device node %s", shown);
}

static void add_dev(struct nvc_driver_info *info, const char *path, unsigned major, unsigned minor, int exists)
{
    struct nvc_device_node *d = &info->devs[info->ndevs++];
    snprintf(d->path, sizeof(d->path), "%s", path);
    d->major = major;
    d->minor = minor;
    d->exists = exists;
}

/* The dev root as an O_PATH fd; -2 when there is none (a host without a /dev: every node
 * is absent), -1 with err filled when it could not be opened. */
static int open_dev_root(const char *dev_root, struct nvc_error *err)
{
    int fd;

    do
        fd = open(dev_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT || errno == ENOTDIR)
        return -2;
    return nvc_error_sys(err, "open", dev_root, "cannot open the device directory %s", dev_root);
}

/* nvidiactl and modeset have fixed numbers and are listed even when absent (the
 * reference synthesises them); the uvm nodes get a dynamic major, so only a node that
 * is there can be listed. */
static int device_nodes(const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                        struct nvc_error *err)
{
    static const char *const names[] = {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"};
    struct stat st[4];
    int is[4];
    int devfd, r = 0;

    nvc_witness_walk(w, "/", host->dev_root, 0);
    devfd = open_dev_root(host->dev_root, err);

    if (devfd == -1)
        return -1;
    for (size_t i = 0; i < 4 && r == 0; i++) {
        is[i] = char_dev_at(devfd, host->dev_root, names[i], &st[i], w, err);
        r = is[i] < 0 ? -1 : 0;
    }
    if (devfd >= 0)
        close(devfd);
    if (r < 0)
        return -1;
    info->devs = calloc(4, sizeof(*info->devs));
    if (info->devs == NULL)
        return nvc_error_sys(err, "discover", NULL, "cannot allocate the device node list");
    add_dev(info, "/dev/nvidiactl", NVC_NVIDIA_MAJOR, NVIDIACTL_MINOR,
            is[0] && st[0].st_rdev == makedev(NVC_NVIDIA_MAJOR, NVIDIACTL_MINOR));
    if (is[1])
        add_dev(info, "/dev/nvidia-uvm", major(st[1].st_rdev), minor(st[1].st_rdev), 1);
    if (is[2])
        add_dev(info, "/dev/nvidia-uvm-tools", major(st[2].st_rdev), minor(st[2].st_rdev), 1);
    add_dev(info, "/dev/nvidia-modeset", NVC_NVIDIA_MAJOR, MODESET_MINOR,
            is[3] && st[3].st_rdev == makedev(NVC_NVIDIA_MAJOR, MODESET_MINOR));
    return 0;
}

/* Major of a character driver registered under exactly `name` in /proc/devices
 * ("Character devices:" section, lines "%3d name"), -1 if absent. */
static int char_major(const char *text, const char *name)
{
    const char *p = strstr(text, "Character devices:");

    if (p == NULL)
        return -1;
    p = strchr(p, '\n');
    while (p != NULL && *++p != '\0' && *p != '\n') { /* a blank line ends the section */
        const char *eol = strchrnul(p, '\n');
        char *end;
        long major = strtol(p, &end, 10);
        size_t nl = strlen(name);

        if (end != p && major >= 0 && major <= INT_MAX) {
            while (*end == ' ' || *end == '\t')
                end++;
            if ((size_t)(eol - end) == nl && strncmp(end, name, nl) == 0)
                return (int)major;
        }
        if (strncmp(p, "Block devices:", 14) == 0)
            break;
        p = *eol ? eol : NULL;
    }
    return -1;
}

/* The value of the "DeviceFileMinor: N" line of an nvidia-caps proc file, -1 if none. */
static int read_minor_file(const char *host_path)
{
    char text[PROC_TEXT_MAX];
    const char *p = text;

    if (nvc_drv_read_text(host_path, text, sizeof(text)) < 0)
        return -1;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, MINOR_KEY, strlen(MINOR_KEY)) == 0) {
            char *end;
            long v;
            p += strlen(MINOR_KEY);
            errno = 0;
            v = strtol(p, &end, 10);
            if (end == p || errno != 0 || v < 0 || v > INT_MAX || (*end != '\n' && *end != '\0' && *end != ' '))
                return -1;
            return (int)v;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

/* Only "/proc/..." paths, without "." or ".." components: the result is joined onto
 * proc_root and must stay below it. */
static int proc_path_ok(const char *p)
{
    if (strncmp(p, "/proc", 5) != 0 || (p[5] != '/' && p[5] != '\0'))
        return 0;
    for (const char *c = p + 5; *c != '\0';) {
        const char *end;
        while (*c == '/')
            c++;
        end = strchrnul(c, '/');
        if ((end - c == 1 && c[0] == '.') || (end - c == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c = end;
    }
    return 1;
}

/* procfs: recorded by content (a directory reads as EISDIR, which is recorded as such). */
static int cap_minor(const struct nvc_host *host, const char *proc_path, struct nvc_witness *w)
{
    char file[PATH_MAX];
    struct stat st;

    if (host == NULL || proc_path == NULL || !proc_path_ok(proc_path))
        return -1;
    if (nvc_path_join(file, sizeof(file), host->proc_root, proc_path[5] ? proc_path + 5 : "/") < 0)
        return -1;
    nvc_witness_content(w, file);
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(file);
        if (n + sizeof("/access") > sizeof(file))
            return -1;
        memcpy(file + n, "/access", sizeof("/access"));
        nvc_witness_content(w, file);
    }
    return read_minor_file(file);
}

int nvc_read_cap_minor(const struct nvc_host *host, const char *proc_path)
{
    return cap_minor(host, proc_path, NULL);
}

int nvc_drv_devices(const struct nvc_host *host, struct nvc_driver_info *info, struct nvc_witness *w,
                    struct nvc_error *err)
{
    char path[PATH_MAX];
    char text[PROC_TEXT_MAX];

    if (device_nodes(host, info, w, err) < 0)
        return -1;
    if (nvc_path_join(path, sizeof(path), host->proc_root, "/devices") == 0) {
        nvc_witness_content(w, path);
        if (nvc_drv_read_text(path, text, sizeof(text)) >= 0) {
            info->nvcaps_major = char_major(text, "nvidia-caps");
            info->imex_major = char_major(text, "nvidia-caps-imex-channels");
        }
    }
    info->mig_config_minor = cap_minor(host, "/proc/driver/nvidia/capabilities/mig/config", w);
    info->mig_monitor_minor = cap_minor(host, "/proc/driver/nvidia/capabilities/mig/monitor", w);
    return 0;
}
