/* disable-device-node-modification: a copy of the driver's params with ModifyDeviceFiles: 0
 * bound over the container's /proc/driver/nvidia/params, so that NVML inside never tries to
 * create device nodes. Nothing to do (and said so) where the rootfs has no procfs mounted
 * (gVisor runs hooks in its gofer, and serves /proc itself), where the procfs shows no NVIDIA
 * driver, or where the driver already says 0. */
#define _GNU_SOURCE
#include "hook.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "path.h"
#include "sysmount.h"

#define PROC_MAGIC   0x9fa0
#define PARAMS       "/proc/driver/nvidia/params"
#define PARAMS_LIMIT 65536

static int read_all(int fd, char *buf, size_t cap, const char *what, struct nvc_error *err)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return nvc_error_sys(err, "read", what, "cannot read %s", what);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap - 1)
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EFBIG, "read", what, "%s is too large", what);
    }
    buf[n] = '\0';
    return (int)n;
}

/* Binds the file src over the O_PATH fd target: the fd-based API where the kernel has it. */
static int bind_over(const char *src, int target, struct nvc_error *err)
{
    char where[64];
    int tree = sys_open_tree(AT_FDCWD, src, EXEC_OPEN_TREE_CLONE | O_CLOEXEC);
    if (tree >= 0) {
        /* Read-only as well; a kernel without mount_setattr keeps the 0444 mode only. */
        (void)sys_mount_setattr(tree, "", AT_EMPTY_PATH,
                                MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, 0, 0);
        int r = sys_move_mount(tree, "", target, "", EXEC_MOVE_MOUNT_F_EMPTY_PATH | EXEC_MOVE_MOUNT_T_EMPTY_PATH);
        int e = errno;
        close(tree);
        if (r == 0)
            return 0;
        if (e != ENOSYS && e != EPERM) {
            errno = e;
            return nvc_error_sys(err, "move_mount", PARAMS, "cannot mount the params copy");
        }
    }
    if (mount(src, exec_fd_path(where, sizeof(where), target), NULL, MS_BIND, NULL) < 0)
        return nvc_error_sys(err, "mount", PARAMS, "cannot mount the params copy");
    return 0;
}

int hook_disable_device_node_modification(const struct hook_target *t, const char *params_file, struct nvc_error *err)
{
    static const char what[] = "disable-device-node-modification";
    static char text[PARAMS_LIMIT];
    char dir[] = "/tmp/nvc-ts-cdi-hook-XXXXXX", file[64];
    struct nvc_error e;
    struct statfs sfs;
    char *line;
    int procfd, target, src, out, r = -1;

    procfd = nvc_path_open_in_root(t->rootfd, "/proc", O_PATH | O_DIRECTORY, &e);
    if (procfd < 0 || fstatfs(procfd, &sfs) < 0 || sfs.f_type != PROC_MAGIC) {
        if (procfd >= 0)
            close(procfd);
        hook_say(what, "the rootfs has no procfs at /proc (a sandbox that serves /proc itself?): nothing to do");
        return 0;
    }
    close(procfd);
    target = nvc_path_open_in_root(t->rootfd, PARAMS, O_PATH | O_NOFOLLOW, &e);
    if (target < 0) {
        if (e.sys_errno == ENOENT) {
            hook_say(what, "the container's procfs shows no NVIDIA driver (%s): nothing to do", PARAMS);
            return 0;
        }
        *err = e;
        nvc_error_wrap(err, "resolving %s inside the rootfs", PARAMS);
        return -1;
    }
    if (params_file != NULL)
        src = open(params_file, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    else
        src = nvc_path_reopen(target, O_RDONLY, PARAMS, &e);
    if (src < 0) {
        if (params_file != NULL)
            nvc_error_sys(err, "open", params_file, "cannot read the driver's params");
        else
            *err = e;
        close(target);
        return -1;
    }
    r = read_all(src, text, sizeof(text), params_file != NULL ? params_file : PARAMS, err);
    close(src);
    if (r < 0) {
        close(target);
        return -1;
    }
    line = strstr(text, "ModifyDeviceFiles: 1");
    if (line == NULL || (line != text && line[-1] != '\n') || (line[20] != '\n' && line[20] != '\0')) {
        hook_say(what, "the driver does not modify device files (ModifyDeviceFiles is not 1): nothing to do");
        close(target);
        return 0;
    }
    line[19] = '0';

    /* The copy lives on a private tmpfs, detached again once bound (the bind keeps it). */
    if (mkdtemp(dir) == NULL) {
        close(target);
        return nvc_error_sys(err, "mkdtemp", dir, "cannot make a directory for the params copy");
    }
    r = -1;
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0) {
        nvc_error_sys(err, "mount", dir, "cannot mount a tmpfs for the params copy");
        goto out_dir;
    }
    snprintf(file, sizeof(file), "%s/params", dir);
    out = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (out < 0) {
        nvc_error_sys(err, "open", file, "cannot create the params copy");
        goto out_mount;
    }
    if (write(out, text, strlen(text)) != (ssize_t)strlen(text)) {
        nvc_error_sys(err, "write", file, "cannot write the params copy");
        close(out);
        goto out_mount;
    }
    close(out);
    r = bind_over(file, target, err);
out_mount:
    umount2(dir, MNT_DETACH);
out_dir:
    rmdir(dir);
    close(target);
    return r;
}
