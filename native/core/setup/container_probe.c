#define _GNU_SOURCE
#include "container_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "path.h"
#include "pidref.h"

static int open_rootfs(pid_t pid, uint64_t pid_start, const char *rootfs, struct nvc_error *err)
{
    if (pid == 0) {
        int fd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, errno, "open", rootfs, "cannot open the container rootfs: %s",
                          strerror(errno));
        return fd;
    }
    /* The process's root: below it the walk crosses the mounts of its namespace. The
     * rootfs path is the runtime's; it is resolved from that root, not from ours. */
    int croot;
    if (nvc_pid_open(pid, pid_start, "root", O_PATH | O_DIRECTORY, &croot, err) < 0)
        return -1;
    int fd = nvc_path_open_in_root(croot, rootfs, O_PATH | O_DIRECTORY, err);
    close(croot);
    if (fd < 0)
        nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, err->sys_errno, "open", rootfs,
                      "cannot open the container rootfs in the mount namespace of process %ld: %s", (long)pid,
                      strerror(err->sys_errno));
    return fd;
}

int nvc_container_probe(pid_t pid, uint64_t pid_start, const char *rootfs, struct nvc_probe_item *items, size_t n,
                        struct nvc_error *err)
{
    if (rootfs == NULL || rootfs[0] != '/' || n > NVC_PROBE_MAX_PATHS)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "probe", NULL,
                             "a probe needs an absolute rootfs and at most %d paths", NVC_PROBE_MAX_PATHS);
    int rootfd = open_rootfs(pid, pid_start, rootfs, err);
    if (rootfd < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct nvc_probe_item *it = &items[i];
        struct nvc_error e;
        struct stat st;
        struct statfs sf;
        it->exists = it->is_dir = 0;
        it->sys_errno = 0;
        it->fs_type = 0;
        int fd = nvc_path_open_in_root(rootfd, it->path, O_PATH | (it->follow ? 0 : O_NOFOLLOW), &e);
        if (fd < 0) {
            if (!nvc_path_lookup_missing(&e)) {
                *err = e;
                close(rootfd);
                return -1;
            }
            it->sys_errno = e.sys_errno;
            continue;
        }
        it->exists = 1;
        /* What was found decides the plan (a procfs or not, a directory or not): a failure
         * to say is an error, not a guess. */
        const char *step = fstat(fd, &st) < 0 ? "fstat" : fstatfs(fd, &sf) < 0 ? "fstatfs" : NULL;
        if (step != NULL) {
            nvc_error_sys(err, step, it->path, "cannot look at %s in the container rootfs %s", it->path, rootfs);
            close(fd);
            close(rootfd);
            return -1;
        }
        it->is_dir = S_ISDIR(st.st_mode);
        it->fs_type = (int64_t)sf.f_type;
        close(fd);
    }
    close(rootfd);
    return 0;
}
