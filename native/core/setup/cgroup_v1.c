#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup_internal.h"

/* cgroup v1: the devices controller keeps an exception list per cgroup; each line written
 * to devices.allow adds one. The kernel takes one rule per write(), so one write per rule. */
int nvc_cgroup_v1_allow(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                        struct nvc_error *err)
{
    char path[sizeof(dir->path) + 16];
    int fd;

    snprintf(path, sizeof(path), "%s/devices.allow", dir->path);
    fd = openat(dir->fd, "devices.allow", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EACCES || errno == EPERM || errno == EROFS)
            return nvc_cgroup_perm_error(err, errno, "open", path, "writing devices.allow");
        if (errno == ENOENT)
            return nvc_error_set(err, NVC_ERR_CGROUP, errno, "open", path,
                                 "this cgroup v1 hierarchy has no devices.allow: the devices controller is not "
                                 "attached to it");
        return nvc_error_sys(err, "open", path, "cannot open devices.allow");
    }
    for (size_t i = 0; i < n; i++) {
        char line[64];
        int len =
            snprintf(line, sizeof(line), "%c %u:%u %s", rules[i].type, rules[i].major, rules[i].minor, rules[i].access);
        ssize_t w = write(fd, line, (size_t)len);
        if (w == len)
            continue;
        if (w >= 0)
            errno = EIO; /* a short write of one rule: the kernel parsed a partial line */
        if (errno == EPERM) {
            int e = errno;
            close(fd);
            /* As root this means the parent cgroup does not allow the device: a child can
             * only narrow what its parent grants. Unprivileged it is the usual rootless case. */
            if (geteuid() == 0)
                return nvc_error_set(err, NVC_ERR_PERMISSION, e, "write", path,
                                     "the kernel refused \"%s\": the parent cgroup does not allow this device, or "
                                     "this process lacks CAP_SYS_ADMIN; run with --no-cgroups to leave device "
                                     "access to the container runtime",
                                     line);
            return nvc_cgroup_perm_error(err, e, "write", path, "writing devices.allow");
        }
        nvc_error_sys(err, "write", path, "the kernel refused the device rule \"%s\"", line);
        close(fd);
        return -1;
    }
    if (close(fd) < 0 && errno != EINTR)
        return nvc_error_sys(err, "close", path, "writing devices.allow failed");
    return 0;
}
