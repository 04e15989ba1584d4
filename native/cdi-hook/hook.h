#ifndef NVC_CDI_HOOK_H
#define NVC_CDI_HOOK_H

/* nvc-ts-cdi-hook internals. The hook is named by CDI specs that nvc-ts generates and run by
 * the OCI runtime (createContainer) with the container state on stdin. It works on the
 * container's rootfs as the runtime left it before pivot_root, in the container's mount
 * namespace, and resolves every container path inside the rootfs (core/util/path.h). */

#include <limits.h>
#include <sys/types.h>

#include "nvc_error.h"

struct hook_target {
    pid_t pid;
    char bundle[PATH_MAX];
    char rootfs[PATH_MAX]; /* host path, as the runtime's mount namespace shows it */
    int rootfd;            /* O_PATH on the rootfs */
};

/* One line on stderr: "nvc-ts-cdi-hook: <what>: <message>". */
void hook_say(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The directory dir inside the rootfs (missing components created 0755 when create). */
int hook_open_dir(const struct hook_target *t, const char *dir, int create, struct nvc_error *err);

/* The subcommands: 0 done or nothing to do (said on stderr), -1 with err. */
int hook_create_symlinks(const struct hook_target *t, char *const *links, int nlinks, struct nvc_error *err);
int hook_update_ldcache(const struct hook_target *t, const char *helper, const char *ldconfig,
                        const char *const *folders, int nfolders, struct nvc_error *err);
int hook_disable_device_node_modification(const struct hook_target *t, const char *params_file, struct nvc_error *err);

#endif
