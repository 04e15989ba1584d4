#define _GNU_SOURCE
#include "pidref.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int nvc_pid_start_time(const char *proc, pid_t pid, uint64_t *start)
{
    char path[96], buf[1024];
    snprintf(path, sizeof(path), "%s/%ld/stat", proc, (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n <= 0) {
        errno = n < 0 ? e : ESRCH;
        return -1;
    }
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: count fields after the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* After ')': field 3 (state) ... field 22 (starttime), i.e. 20 fields on. */
    for (int field = 2; field < 22 && p != NULL; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL) {
        errno = EINVAL;
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p + 1, &end, 10);
    if (errno != 0 || end == p + 1) {
        errno = EINVAL;
        return -1;
    }
    *start = (uint64_t)v;
    return 0;
}

static int same_start(pid_t pid, uint64_t expected, struct nvc_error *err)
{
    uint64_t now;
    if (expected == 0)
        return 0;
    if (nvc_pid_start_time("/proc", pid, &now) < 0) {
        /* Only ENOENT/ESRCH say that it is gone: EMFILE or EIO say nothing about it. */
        if (errno != ENOENT && errno != ESRCH)
            return nvc_error_sys(err, "stat", NULL, "cannot read the start time of the container process %ld",
                                 (long)pid);
        return nvc_error_set(err, NVC_ERR_NAMESPACE, errno, "stat", NULL, "the container process %ld is gone",
                             (long)pid);
    }
    if (now != expected)
        return nvc_error_set(err, NVC_ERR_NAMESPACE, ESRCH, "stat", NULL,
                             "the container process %ld exited and its pid now names another process (started at "
                             "%" PRIu64 ", not %" PRIu64 ")",
                             (long)pid, now, expected);
    return 0;
}

int nvc_pid_ns_open(pid_t pid, uint64_t expected_start, const char *ns, int *fd, struct nvc_error *err)
{
    char entry[32];
    snprintf(entry, sizeof(entry), "ns/%s", ns);
    return nvc_pid_open(pid, expected_start, entry, O_RDONLY, fd, err);
}

int nvc_pid_open(pid_t pid, uint64_t expected_start, const char *entry, int flags, int *fd, struct nvc_error *err)
{
    char path[64];
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    /* Only ESRCH says that it is not running; without a pidfd otherwise (ENOSYS before Linux
     * 5.3, EMFILE, ENOMEM), the start time is checked after the open instead. */
    if (pidfd < 0 && errno == ESRCH)
        return nvc_error_set(err, NVC_ERR_NAMESPACE, errno, "pidfd_open", NULL,
                             "the container process %ld is not running", (long)pid);
    if (same_start(pid, expected_start, err) < 0)
        goto fail;
    snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, entry);
    *fd = open(path, flags | O_CLOEXEC);
    if (*fd < 0) {
        nvc_error_set(err, NVC_ERR_NAMESPACE, errno, "open", path, "cannot open %s of process %ld: %s", entry,
                      (long)pid, strerror(errno));
        goto fail;
    }
    if (pidfd >= 0) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        int r;
        do
            r = poll(&p, 1, 0);
        while (r < 0 && errno == EINTR);
        if (r < 0) {
            nvc_error_sys(err, "poll", NULL, "cannot tell whether the container process %ld is running", (long)pid);
            close(*fd);
            goto fail;
        }
        if (r != 0) {
            nvc_error_set(err, NVC_ERR_NAMESPACE, ESRCH, "pidfd_open", NULL,
                          "the container process %ld exited while its %s was opened", (long)pid, entry);
            close(*fd);
            goto fail;
        }
        close(pidfd);
    } else if (same_start(pid, expected_start, err) < 0) {
        close(*fd);
        return -1;
    }
    return 0;
fail:
    if (pidfd >= 0)
        close(pidfd);
    *fd = -1;
    return -1;
}
