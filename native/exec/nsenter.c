/* Entering the container's mount namespace, and finding the rootfs there. */
#define _GNU_SOURCE
#include "exec.h"
#include "pidref.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define PROC_SUPER_MAGIC_ 0x9fa0

int exec_ns_open(pid_t pid, uint64_t pid_start, int *nsfd, struct nvc_error *err)
{
    char path[64];
    struct stat theirs, ours;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", (long)pid);
    /* The namespace of the process the caller named, not of a recycled pid (pidref.h). */
    if (nvc_pid_ns_open(pid, pid_start, "mnt", &fd, err) < 0)
        return -1;
    if (fstat(fd, &theirs) < 0 || stat("/proc/self/ns/mnt", &ours) < 0) {
        int e = errno;
        close(fd);
        return nvc_error_set(err, NVC_ERR_NAMESPACE, e, "stat", path, "cannot identify mount namespaces: %s",
                             strerror(e));
    }
    /* A process sharing our namespace is not a container (or one that never unshared
     * its mounts): every mount would land in the host's namespace. */
    if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino) {
        close(fd);
        return nvc_error_set(err, NVC_ERR_NAMESPACE, 0, "setns", path,
                             "process %ld shares the caller's mount namespace; refusing to change the host's mounts "
                             "(pid 0 means \"our own namespace\" on purpose)",
                             (long)pid);
    }
    *nsfd = fd;
    return 0;
}

int exec_ns_enter(int nsfd, pid_t pid, struct nvc_error *err)
{
    /* setns(CLONE_NEWNS) needs a process whose fs_struct nobody shares: this one is
     * single-threaded, which is why this is a separate executable. */
    if (setns(nsfd, CLONE_NEWNS) < 0)
        return nvc_error_set(err, NVC_ERR_NAMESPACE, errno, "setns", NULL,
                             "cannot enter the mount namespace of process %ld: %s", (long)pid, strerror(errno));
    return 0;
}

/* The executor names its own fds as /proc/self/fd/N (mount(2) fallback, the in-root
 * checks): that needs a procfs at /proc in this namespace which knows us. */
static int check_proc(struct nvc_error *err)
{
    struct statfs s;
    char self[32], want[32];
    ssize_t n;

    if (statfs("/proc", &s) < 0 || s.f_type != PROC_SUPER_MAGIC_)
        return nvc_error_set(err, NVC_ERR_NAMESPACE, errno, "statfs", "/proc",
                             "the container's mount namespace has no procfs at /proc");
    n = readlink("/proc/self", self, sizeof(self) - 1);
    snprintf(want, sizeof(want), "%ld", (long)getpid());
    if (n < 0 || (self[n] = '\0', strcmp(self, want) != 0))
        return nvc_error_set(err, NVC_ERR_NAMESPACE, n < 0 ? errno : 0, "readlink", "/proc/self",
                             "the procfs at /proc in the container's mount namespace does not show this process");
    return 0;
}

int exec_open_rootfs(struct exec_ctx *ctx, struct nvc_error *err)
{
    const char *rootfs = ctx->plan->rootfs;
    char link[32], real[8];
    ssize_t n;

    if (check_proc(err) < 0)
        return -1;
    /* The rootfs path itself is the runtime's, not the image's: following links in it
     * is fine. Everything below it is resolved through rootfd. */
    ctx->rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ctx->rootfd < 0)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, errno, "open", rootfs,
                             "cannot open the container rootfs %s: %s", rootfs, strerror(errno));
    /* A plan for "/" would edit the namespace's own root: never what a caller means. */
    snprintf(link, sizeof(link), "/proc/self/fd/%d", ctx->rootfd);
    n = readlink(link, real, sizeof(real));
    if (n == 1 && real[0] == '/')
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "open", rootfs,
                             "the rootfs %s is the root of the mount namespace; refusing", rootfs);
    return 0;
}
