#ifndef NVC_CONTAINER_PROBE_H
#define NVC_CONTAINER_PROBE_H

/* What the planner asks about a container's tree before it plans (its library layout, its
 * /proc), answered the way the executor will see the tree: from the container process's
 * root (its mount namespace), every path resolved inside the rootfs (absolute links start
 * again at the rootfs, never at the host's /). */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nvc_error.h"

/* Most paths one call probes. */
#define NVC_PROBE_MAX_PATHS 64

struct nvc_probe_item {
    const char *path; /* in the container, e.g. "/etc/debian_version" */
    int follow;       /* follow a link in the last component (inside the rootfs) */
    /* answers */
    int exists;
    int sys_errno; /* why not, when it does not */
    int is_dir;
    int64_t fs_type; /* statfs f_type of what was found */
};

/* pid 0: the rootfs is a path of our own mount namespace. Otherwise pid (and pid_start,
 * when not 0) name the container's process, checked as pidref.h does. -1 with err when
 * the rootfs cannot be opened; a path that does not resolve (ENOENT, ENOTDIR, ELOOP,
 * ENAMETOOLONG, EACCES, a link out of the rootfs) is an answer, not an error; any other
 * failure to look (EMFILE, ENOMEM, EIO...) is an error naming the path. */
int nvc_container_probe(pid_t pid, uint64_t pid_start, const char *rootfs, struct nvc_probe_item *items, size_t n,
                        struct nvc_error *err);

#endif
