/* update-ldcache: the container's ld.so.cache rebuilt over the given folders, by the same
 * confined ldconfig runner configure uses (nvc-ts-ldconfig, see nvc_ldconfig.h). */
#define _GNU_SOURCE
#include "hook.h"

#include <sys/stat.h>

#include "nvc_ldconfig.h"

int hook_update_ldcache(const struct hook_target *t, const char *helper, const char *ldconfig,
                        const char *const *folders, int nfolders, struct nvc_error *err)
{
    struct nvc_ldconfig_request req = {0};
    struct nvc_ldconfig_result res = {0};
    struct stat st;

    if (nfolders > NVC_LDCONFIG_MAX_DIRS)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "update-ldcache", NULL, "more than %d --folder options",
                             NVC_LDCONFIG_MAX_DIRS);
    /* ldconfig writes the cache as whoever owns the rootfs: the container's owner. */
    if (fstat(t->rootfd, &st) < 0)
        return nvc_error_sys(err, "fstat", t->rootfs, "cannot stat the rootfs");
    req.pid = 0; /* the hook already runs in the container's mount namespace */
    req.rootfs = t->rootfs;
    req.ldconfig = ldconfig;
    req.dirs = folders;
    req.ndirs = (size_t)nfolders;
    req.uid = st.st_uid;
    req.gid = st.st_gid;
    if (nvc_ldconfig_run(helper, &req, &res, err) < 0)
        return -1;
    if (!res.ran)
        hook_say("update-ldcache", "ldconfig did not run: %s", res.warning);
    return 0;
}
