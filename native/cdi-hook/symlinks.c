/* create-symlinks: TARGET::LINK pairs, LINK a container path, TARGET written as given. An
 * existing link is replaced; anything else at LINK belongs to the image and is left alone. */
#define _GNU_SOURCE
#include "hook.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

int hook_open_dir(const struct hook_target *t, const char *dir, int create, struct nvc_error *err)
{
    char prefix[PATH_MAX];
    size_t len = strlen(dir);
    int cur;

    if (dir[0] != '/' || len >= sizeof(prefix))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "path", dir, "not an absolute container path");
    cur = fcntl(t->rootfd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0)
        return nvc_error_sys(err, "dup", dir, "cannot duplicate the rootfs fd");
    for (size_t i = 1; i <= len; i++) {
        char comp[NAME_MAX + 1];
        size_t start;
        int next;
        struct nvc_error e;

        if (i < len && dir[i] != '/')
            continue;
        memcpy(prefix, dir, i);
        prefix[i] = '\0';
        start = (size_t)(strrchr(prefix, '/') - prefix) + 1;
        if (i - start == 0)
            continue; /* "//" */
        if (i - start > NAME_MAX) {
            close(cur);
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENAMETOOLONG, "path", dir, "a name is too long");
        }
        memcpy(comp, prefix + start, i - start);
        comp[i - start] = '\0';
        next = nvc_path_open_in_root(t->rootfd, prefix, O_PATH | O_DIRECTORY, &e);
        if (next < 0 && e.sys_errno == ENOENT && create) {
            if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
                close(cur);
                return nvc_error_sys(err, "mkdirat", prefix, "cannot create directory %s in the rootfs", prefix);
            }
            next = nvc_path_open_in_root(t->rootfd, prefix, O_PATH | O_DIRECTORY, &e);
        }
        close(cur);
        if (next < 0) {
            *err = e;
            nvc_error_wrap(err, "resolving %s inside the rootfs", prefix);
            return -1;
        }
        cur = next;
    }
    return cur;
}

static int one_link(const struct hook_target *t, const char *spec, struct nvc_error *err)
{
    char dir[PATH_MAX], current[PATH_MAX], rel[PATH_MAX];
    const char *sep = strstr(spec, "::");
    const char *link, *name, *slash;
    char target[PATH_MAX];
    struct stat st;
    int dfd;
    ssize_t n;

    if (sep == NULL || sep == spec || sep[2] != '/' || (size_t)(sep - spec) >= sizeof(target))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "create-symlinks", spec,
                             "--link needs TARGET::LINK with LINK an absolute container path");
    memcpy(target, spec, (size_t)(sep - spec));
    target[sep - spec] = '\0';
    link = sep + 2;
    slash = strrchr(link, '/');
    name = slash + 1;
    if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strlen(link) >= sizeof(dir))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "create-symlinks", link, "not a link path");
    memcpy(dir, link, (size_t)(slash - link));
    dir[slash - link] = '\0';
    dfd = hook_open_dir(t, dir[0] ? dir : "/", 1, err);
    if (dfd < 0)
        return -1;
    if (nvc_path_fd_in_root(t->rootfd, t->rootfs, dfd, dir, rel, sizeof(rel), err) < 0) {
        close(dfd);
        return -1;
    }
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (!S_ISLNK(st.st_mode)) {
            hook_say("create-symlinks", "%s exists in the image and is not a link: left alone", link);
            close(dfd);
            return 0;
        }
        n = readlinkat(dfd, name, current, sizeof(current) - 1);
        if (n >= 0) {
            current[n] = '\0';
            if (strcmp(current, target) == 0) {
                close(dfd);
                return 0;
            }
        }
        if (unlinkat(dfd, name, 0) < 0) {
            close(dfd);
            return nvc_error_sys(err, "unlinkat", link, "cannot replace the link %s", link);
        }
    }
    if (symlinkat(target, dfd, name) < 0) {
        close(dfd);
        return nvc_error_sys(err, "symlinkat", link, "cannot create the link %s -> %s", link, target);
    }
    close(dfd);
    return 0;
}

int hook_create_symlinks(const struct hook_target *t, char *const *links, int nlinks, struct nvc_error *err)
{
    if (nlinks == 0)
        hook_say("create-symlinks", "no --link given: nothing to do");
    for (int i = 0; i < nlinks; i++)
        if (one_link(t, links[i], err) < 0)
            return -1;
    return 0;
}
