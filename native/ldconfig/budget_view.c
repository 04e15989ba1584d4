#define _GNU_SOURCE
#include "ldconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The write budget, the confined child's half: ldconfig does not write into the rootfs at
 * all. Before the pivot, an overlay is mounted over the rootfs bind, with the rootfs as its
 * only lower layer and a tmpfs limited by size= and nr_inodes= as its upper layer; the
 * rootfs's submounts (volumes, the plan's library binds) are cloned on top of it, so
 * ldconfig sees the tree it would have seen. Whatever ldconfig writes lands in the tmpfs,
 * and past the budget it gets ENOSPC: neither the host's disk nor its inode table grows.
 * The supervisor, given the upper layer and the rootfs bind by fd, then copies only the
 * expected results into the rootfs (budget_apply.c). */

/* Our own names for the new mount API, so older and newer headers agree. */
#define LC_FSOPEN_CLOEXEC          0x1u
#define LC_FSCONFIG_SET_STRING     1u
#define LC_FSCONFIG_CMD_CREATE     6u
#define LC_FSMOUNT_CLOEXEC         0x1u
#define LC_MOUNT_ATTR_NOSUID       0x2u
#define LC_MOUNT_ATTR_NODEV        0x4u
#define LC_MOVE_MOUNT_F_EMPTY_PATH 0x4u
#define LC_MOVE_MOUNT_T_EMPTY_PATH 0x40u
#define LC_OPEN_TREE_CLONE         0x1u
#define LC_AT_RECURSIVE            0x8000
#define LC_STATX_MNT_ID            0x1000u
#define LC_RESOLVE_NO_SYMLINKS     0x04u
#define LC_RESOLVE_BENEATH         0x08u
#ifndef SYS_openat2
#define SYS_openat2 437 /* same number on every architecture */
#endif

struct lc_open_how {
    uint64_t flags, mode, resolve;
};

/* What has been attached so far, to take it back when the view cannot be completed. */
struct view {
    const char *rootfs;
    int real;         /* O_PATH: the rootfs bind itself */
    int upper;        /* the tmpfs's upper directory */
    int t_attached;   /* the tmpfs sits on the rootfs path (under the overlay once that is there) */
    int ovl_attached; /* the overlay sits on the rootfs path */
};

static int fail(char *why, size_t whysz, const char *fmt, const char *arg)
{
    int e = errno;
    snprintf(why, whysz, fmt, arg);
    errno = e;
    return -1;
}

static int set_string(int fs, const char *key, const char *value)
{
    return (int)syscall(SYS_fsconfig, fs, LC_FSCONFIG_SET_STRING, key, value, 0);
}

/* A configured filesystem context made into a detached mount, or -1. */
static int make_mount(int fs, unsigned attrs)
{
    int m = -1;
    if (syscall(SYS_fsconfig, fs, LC_FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        m = (int)syscall(SYS_fsmount, fs, LC_FSMOUNT_CLOEXEC, attrs);
    int e = errno;
    close(fs);
    errno = e;
    return m;
}

/* The tmpfs that holds everything ldconfig may write. */
static int make_budget_tmpfs(void)
{
    char size[32], inodes[32];
    snprintf(size, sizeof(size), "%u", NVC_LDCONFIG_BUDGET_BYTES);
    snprintf(inodes, sizeof(inodes), "%u", NVC_LDCONFIG_BUDGET_INODES);
    int fs = (int)syscall(SYS_fsopen, "tmpfs", LC_FSOPEN_CLOEXEC);
    if (fs < 0)
        return -1;
    if (set_string(fs, "size", size) < 0 || set_string(fs, "nr_inodes", inodes) < 0 ||
        set_string(fs, "mode", "0755") < 0) {
        int e = errno;
        close(fs);
        errno = e;
        return -1;
    }
    return make_mount(fs, LC_MOUNT_ATTR_NOSUID | LC_MOUNT_ATTR_NODEV);
}

/* The overlay, with the layers named by short paths: the process root is the tmpfs for the
 * moment (upper and work dirs at "/upper" and "/work") and the working directory the rootfs
 * bind (the lower layer, "."), so that no path of the host (with its ',' ':' or '\') is ever
 * spelled in an option. Both layers must be attached in our namespace (overlayfs clones
 * them privately); the tmpfs is, on top of the rootfs path, while this runs. */
static int make_overlay(struct view *v, int tmpfs_root, char *why, size_t whysz)
{
    int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (oldroot < 0)
        return fail(why, whysz, "cannot open the mount namespace's root%s", "");
    int ovl = -1, fs = -1, e = 0;
    if (fchdir(tmpfs_root) < 0 || chroot(".") < 0 || fchdir(v->real) < 0) {
        e = errno;
        snprintf(why, whysz, "cannot enter the budget tmpfs to build the overlay");
        goto restore;
    }
    fs = (int)syscall(SYS_fsopen, "overlay", LC_FSOPEN_CLOEXEC);
    if (fs < 0) {
        e = errno;
        snprintf(why, whysz, "this kernel has no overlayfs (fsopen overlay)");
        goto restore;
    }
    /* Every change must land in the upper layer as a whole file: no metadata-only copy-up,
     * no redirected directories, no index. */
    if (set_string(fs, "lowerdir", ".") < 0 || set_string(fs, "upperdir", "/upper") < 0 ||
        set_string(fs, "workdir", "/work") < 0 || set_string(fs, "metacopy", "off") < 0 ||
        set_string(fs, "redirect_dir", "off") < 0 || set_string(fs, "index", "off") < 0) {
        e = errno;
        close(fs);
        snprintf(why, whysz, "overlayfs refused the rootfs as its lower layer");
        goto restore;
    }
    ovl = make_mount(fs, LC_MOUNT_ATTR_NOSUID | LC_MOUNT_ATTR_NODEV);
    if (ovl < 0) {
        e = errno;
        snprintf(why, whysz, "cannot mount an overlay over the rootfs (its filesystem cannot be a lower layer?)");
    }
restore:
    /* Back to the namespace's root whatever happened: everything after this resolves there. */
    if (fchdir(oldroot) < 0 || chroot(".") < 0) {
        e = errno;
        if (ovl >= 0)
            close(ovl);
        ovl = -1;
        snprintf(why, whysz, "cannot return to the mount namespace's root");
    }
    close(oldroot);
    errno = e;
    return ovl;
}

/* The submounts of the rootfs bind (direct children; each cloned with what is below it)
 * attached at the same places on the overlay, in mount order. */
static int clone_submounts(struct view *v, char *why, size_t whysz)
{
    struct statx stx;
    if (statx(v->real, "", AT_EMPTY_PATH, LC_STATX_MNT_ID, &stx) < 0 || !(stx.stx_mask & LC_STATX_MNT_ID))
        return fail(why, whysz, "cannot read the mount id of the rootfs bind%s (needs Linux 5.8)", "");
    char *buf = lc_read_mountinfo();
    if (buf == NULL)
        return fail(why, whysz, "cannot read the mount table%s", "");
    struct lc_mount *m = NULL;
    int n = lc_parse_mountinfo(buf, &m), rc = -1;
    const char *top = NULL;
    for (int i = 0; i < n; i++)
        if ((uint64_t)m[i].id == stx.stx_mnt_id)
            top = m[i].path;
    if (n < 0 || top == NULL) {
        errno = n < 0 ? errno : ENOENT;
        fail(why, whysz, "cannot find the rootfs bind in the mount table%s", "");
        goto out;
    }
    int vroot = open(v->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (vroot < 0) {
        fail(why, whysz, "cannot open the overlay at %s", v->rootfs);
        goto out;
    }
    size_t toplen = strlen(top);
    rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        /* The overlay itself sits on the bind at the same path: not a submount. */
        if ((uint64_t)m[i].parent != stx.stx_mnt_id || strcmp(m[i].path, top) == 0)
            continue;
        const char *rel = m[i].path + toplen + 1;
        if (strncmp(m[i].path, top, toplen) != 0 || m[i].path[toplen] != '/' || *rel == '\0') {
            errno = EINVAL;
            rc = fail(why, whysz, "the submount %s is not below the rootfs bind", m[i].path);
            break;
        }
        /* The mount point is a real path of the rootfs (mountinfo has no links in it): the
         * overlay has the same path, which must resolve without any link. */
        struct lc_open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                                  .resolve = LC_RESOLVE_NO_SYMLINKS | LC_RESOLVE_BENEATH};
        int src = (int)syscall(SYS_open_tree, v->real, rel,
                               LC_OPEN_TREE_CLONE | O_CLOEXEC | LC_AT_RECURSIVE | AT_SYMLINK_NOFOLLOW);
        int dst = src < 0 ? -1 : (int)syscall(SYS_openat2, vroot, rel, &how, sizeof(how));
        if (src < 0 || dst < 0 ||
            syscall(SYS_move_mount, src, "", dst, "", LC_MOVE_MOUNT_F_EMPTY_PATH | LC_MOVE_MOUNT_T_EMPTY_PATH) < 0)
            rc = fail(why, whysz, "cannot carry the submount %s over to the overlay", m[i].path);
        int e = errno;
        if (src >= 0)
            close(src);
        if (dst >= 0)
            close(dst);
        errno = e;
    }
    close(vroot);
out:
    free(m);
    free(buf);
    return rc;
}

/* The upper directory starts as the rootfs's root looks: the overlay's root takes its
 * owner and mode from it. */
static int make_layers(int tmpfs_root, int real)
{
    struct stat st;
    if (fstat(real, &st) < 0 || mkdirat(tmpfs_root, "upper", 0755) < 0 || mkdirat(tmpfs_root, "work", 0700) < 0)
        return -1;
    int up = openat(tmpfs_root, "upper", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (up < 0)
        return -1;
    if (fchown(up, st.st_uid, st.st_gid) < 0 || fchmod(up, st.st_mode & 07777) < 0) {
        int e = errno;
        close(up);
        errno = e;
        return -1;
    }
    return up;
}

static void undo(struct view *v)
{
    if (v->ovl_attached)
        umount2(v->rootfs, MNT_DETACH);
    if (v->t_attached)
        umount2(v->rootfs, MNT_DETACH);
    if (v->upper >= 0)
        close(v->upper);
    if (v->real >= 0)
        close(v->real);
}

int lc_budget_view(const char *rootfs, int *upper, int *real, char *why, size_t whysz)
{
    struct view v = {.rootfs = rootfs, .real = -1, .upper = -1};
    int tm = -1, troot = -1, ovl = -1, e;
    struct statvfs sv;

    *upper = *real = -1;
    if (statvfs(rootfs, &sv) < 0)
        return fail(why, whysz, "cannot inspect the rootfs bind %s", rootfs);
    if (sv.f_flag & ST_RDONLY)
        return 0; /* ldconfig cannot write at all: nothing to budget */
    v.real = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (v.real < 0)
        return fail(why, whysz, "cannot open the rootfs bind %s", rootfs);
    tm = make_budget_tmpfs();
    if (tm < 0) {
        fail(why, whysz, "cannot create the budget tmpfs%s", "");
        goto bad;
    }
    if (syscall(SYS_move_mount, tm, "", AT_FDCWD, rootfs, LC_MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        fail(why, whysz, "cannot attach the budget tmpfs at %s", rootfs);
        goto bad;
    }
    v.t_attached = 1;
    troot = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (troot < 0 || (v.upper = make_layers(troot, v.real)) < 0) {
        fail(why, whysz, "cannot prepare the layers in the budget tmpfs%s", "");
        goto bad;
    }
    ovl = make_overlay(&v, troot, why, whysz);
    if (ovl < 0)
        goto bad;
    /* The overlay holds its own clones of both layers, so the tmpfs could leave the path,
     * but an unmount waits for an RCU grace period (milliseconds on a busy host): it
     * stays, under the overlay, and leaves with the old root at the pivot (or stays
     * below the chroot with the rootfs bind under --no-pivot). Nothing resolves into it:
     * the overlay covers it, and the supervisor holds the upper directory by fd. */
    if (syscall(SYS_move_mount, ovl, "", AT_FDCWD, rootfs, LC_MOVE_MOUNT_F_EMPTY_PATH) < 0) {
        fail(why, whysz, "cannot attach the overlay at %s", rootfs);
        goto bad;
    }
    v.ovl_attached = 1;
    if (clone_submounts(&v, why, whysz) < 0)
        goto bad;
    close(ovl);
    close(troot);
    close(tm);
    *upper = v.upper;
    *real = v.real;
    return 1;

bad:
    e = errno;
    if (ovl >= 0)
        close(ovl);
    if (troot >= 0)
        close(troot);
    if (tm >= 0)
        close(tm);
    undo(&v);
    errno = e;
    return -1;
}

int lc_budget_send(int sock, int upper, int real)
{
    int fds[2] = {upper, real};
    char tag = 'B';
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(fds))];
    } ctl;
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    memset(ctl.buf, 0, sizeof(ctl.buf));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    ssize_t n;
    while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return n == 1 ? 0 : -1;
}

int lc_budget_receive(int sock, int *upper, int *real)
{
    int fds[2] = {-1, -1};
    char tag = 0;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(fds))];
    } ctl;
    struct iovec iov = {.iov_base = &tag, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
    *upper = *real = -1;
    ssize_t n;
    while ((n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n != 1 || tag != 'B')
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(fds))) {
            memcpy(fds, CMSG_DATA(c), sizeof(fds));
            *upper = fds[0];
            *real = fds[1];
            return 1;
        }
    }
    return 0;
}
