#define _GNU_SOURCE
#include "sysmount.h"

#include "nvc_plan.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The mount API syscalls have one number on every architecture (they came after the
 * tables were unified), so old headers can be made up for here. */
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_statmount
#define SYS_statmount 457
#endif

#define ATTR_RDONLY             0x1u
#define ATTR_NOSUID             0x2u
#define ATTR_NODEV              0x4u
#define ATTR_NOEXEC             0x8u
#define FSCONFIG_SET_STRING_CMD 1u
#define FSCONFIG_CMD_CREATE_CMD 6u

/* The kernel's struct statx (uapi, 256 bytes), spelled out: glibc's copy lacks
 * stx_mnt_id before 2.32 and the uapi header clashes with glibc's on some systems. */
struct exec_statx {
    uint32_t mask, blksize;
    uint64_t attributes;
    uint32_t nlink, uid, gid;
    uint16_t mode, spare0;
    uint64_t ino, size, blocks, attributes_mask;
    struct {
        int64_t sec;
        uint32_t nsec;
        int32_t reserved;
    } atime, btime, ctime, mtime;
    uint32_t rdev_major, rdev_minor, dev_major, dev_minor;
    uint64_t mnt_id;
    uint64_t spare[13];
};
#define EXEC_STATX_MNT_ID          0x1000u
#define EXEC_STATX_ATTR_MOUNT_ROOT 0x2000u
#define EXEC_STATX_MNT_ID_UNIQUE   0x4000u
#define EXEC_STATX_BTIME           0x0800u
#define EXEC_STATX_TYPE            0x0001u
#define EXEC_STATX_MODE            0x0002u
#define EXEC_STATX_INO             0x0100u
#define EXEC_STATX_NLINK           0x0004u
#define EXEC_STATX_UID             0x0008u
#define EXEC_STATX_GID             0x0010u

struct exec_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

int exec_no_mount_api;

static int nosys(void)
{
    errno = ENOSYS;
    return -1;
}

int sys_open_tree(int dfd, const char *path, unsigned flags)
{
    if (exec_no_mount_api)
        return nosys();
    return (int)syscall(SYS_open_tree, dfd, path, flags);
}

int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags)
{
    if (exec_no_mount_api)
        return nosys();
    return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}

int sys_mount_setattr(int dfd, const char *path, unsigned flags, uint64_t set, uint64_t clr, uint64_t propagation)
{
    struct exec_mount_attr a = {.attr_set = set, .attr_clr = clr, .propagation = propagation};
    if (exec_no_mount_api)
        return nosys();
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, &a, sizeof(a));
}

int sys_fsopen(const char *fsname, unsigned flags)
{
    if (exec_no_mount_api)
        return nosys();
    return (int)syscall(SYS_fsopen, fsname, flags);
}

int sys_fsconfig_string(int fd, const char *key, const char *value)
{
    if (exec_no_mount_api)
        return nosys();
    return (int)syscall(SYS_fsconfig, fd, FSCONFIG_SET_STRING_CMD, key, value, 0);
}

int sys_fsconfig_create(int fd)
{
    if (exec_no_mount_api)
        return nosys();
    return (int)syscall(SYS_fsconfig, fd, FSCONFIG_CMD_CREATE_CMD, NULL, NULL, 0);
}

int sys_fsmount(int fd, unsigned flags, unsigned attr)
{
    if (exec_no_mount_api)
        return nosys();
    return (int)syscall(SYS_fsmount, fd, flags, attr);
}

/* Each probe passes an invalid fd: a kernel that has the call answers EBADF (or
 * EINVAL); ENOSYS means missing, EPERM a seccomp filter that hides it. */
static int probe_ok(int r)
{
    return r == 0 || (errno != ENOSYS && errno != EPERM);
}

int exec_mount_api_available(void)
{
    if (!probe_ok(sys_open_tree(-1, "", 0)))
        return 0;
    if (!probe_ok(sys_move_mount(-1, "", -1, "", 0)))
        return 0;
    if (!probe_ok(sys_mount_setattr(-1, "", 0, 0, 0, 0)))
        return 0;
    if (!probe_ok(sys_fsmount(-1, 0, 0)))
        return 0;
    if (!probe_ok(sys_fsopen(NULL, 0))) /* EFAULT where it exists */
        return 0;
    return 1;
}

uint64_t exec_flags_to_attr(unsigned f)
{
    uint64_t a = 0;
    if (f & NVC_MNT_RDONLY)
        a |= ATTR_RDONLY;
    if (f & NVC_MNT_NOSUID)
        a |= ATTR_NOSUID;
    if (f & NVC_MNT_NODEV)
        a |= ATTR_NODEV;
    if (f & NVC_MNT_NOEXEC)
        a |= ATTR_NOEXEC;
    return a;
}

unsigned long exec_flags_to_ms(unsigned f)
{
    unsigned long m = 0;
    if (f & NVC_MNT_RDONLY)
        m |= MS_RDONLY;
    if (f & NVC_MNT_NOSUID)
        m |= MS_NOSUID;
    if (f & NVC_MNT_NODEV)
        m |= MS_NODEV;
    if (f & NVC_MNT_NOEXEC)
        m |= MS_NOEXEC;
    return m;
}

int exec_mount_flags_of(int fd, unsigned *nvc_flags, unsigned long *ms_flags)
{
    struct statfs s;
    unsigned f = 0;
    unsigned long m = 0;

    if (fstatfs(fd, &s) < 0)
        return -1;
    if (s.f_flags & ST_RDONLY)
        f |= NVC_MNT_RDONLY;
    if (s.f_flags & ST_NOSUID)
        f |= NVC_MNT_NOSUID;
    if (s.f_flags & ST_NODEV)
        f |= NVC_MNT_NODEV;
    if (s.f_flags & ST_NOEXEC)
        f |= NVC_MNT_NOEXEC;
    /* A bind remount replaces every per-mount flag, atime ones included: keep them. */
    m = exec_flags_to_ms(f);
    if (s.f_flags & ST_NOATIME)
        m |= MS_NOATIME;
    if (s.f_flags & ST_NODIRATIME)
        m |= MS_NODIRATIME;
    if (s.f_flags & ST_RELATIME)
        m |= MS_RELATIME;
    *nvc_flags = f;
    if (ms_flags)
        *ms_flags = m;
    return 0;
}

const char *exec_fd_path(char *buf, size_t n, int fd)
{
    snprintf(buf, n, "/proc/self/fd/%d", fd);
    return buf;
}

static int fdinfo_mnt_id(int fd, uint64_t *id)
{
    char path[64], line[256];
    FILE *f;
    int found = -1;

    snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
    f = fopen(path, "re");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "mnt_id: %" SCNu64, id) == 1) {
            found = 0;
            break;
        }
    }
    fclose(f);
    if (found < 0)
        errno = ENOTSUP;
    return found;
}

static int raw_statx(int fd, struct exec_statx *sx)
{
#ifdef SYS_statx
    memset(sx, 0, sizeof(*sx));
    return (int)syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW,
                        EXEC_STATX_MNT_ID | EXEC_STATX_TYPE | EXEC_STATX_MODE | EXEC_STATX_INO, sx);
#else
    (void)fd;
    (void)sx;
    errno = ENOSYS;
    return -1;
#endif
}

static int mnt_id_of(int fd, uint64_t *id)
{
    struct exec_statx sx;
    if (raw_statx(fd, &sx) == 0 && (sx.mask & EXEC_STATX_MNT_ID)) {
        *id = sx.mnt_id;
        return 0;
    }
    return fdinfo_mnt_id(fd, id);
}

int exec_fd_info(int fd, int parent_fd, struct exec_fdinfo *out)
{
    struct stat st;
    struct exec_statx sx;
    int have_root_attr = 0;

    out->mount_root = 0;
    /* One statx answers everything where it has the mount id (Linux 5.8, which also
     * has the mount-root attribute): the common case costs one call, not two. */
    if (raw_statx(fd, &sx) == 0 && (sx.mask & EXEC_STATX_MNT_ID) &&
        (sx.mask & (EXEC_STATX_TYPE | EXEC_STATX_INO)) == (EXEC_STATX_TYPE | EXEC_STATX_INO) &&
        (sx.attributes_mask & EXEC_STATX_ATTR_MOUNT_ROOT)) {
        out->dev = makedev(sx.dev_major, sx.dev_minor);
        out->ino = (ino_t)sx.ino;
        out->mode = sx.mode;
        out->mnt_id = sx.mnt_id;
        out->mount_root = (sx.attributes & EXEC_STATX_ATTR_MOUNT_ROOT) != 0;
        return 0;
    }
    if (fstat(fd, &st) < 0)
        return -1;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    out->mode = st.st_mode;
    if (raw_statx(fd, &sx) == 0 && (sx.mask & EXEC_STATX_MNT_ID)) {
        out->mnt_id = sx.mnt_id;
        if (sx.attributes_mask & EXEC_STATX_ATTR_MOUNT_ROOT) {
            have_root_attr = 1;
            out->mount_root = (sx.attributes & EXEC_STATX_ATTR_MOUNT_ROOT) != 0;
        }
    } else if (fdinfo_mnt_id(fd, &out->mnt_id) < 0) {
        return -1;
    }
    if (have_root_attr)
        return 0;
    /* Kernels before 5.8: a mount root is where the mount id changes going up. */
    if (S_ISDIR(st.st_mode)) {
        struct stat up;
        uint64_t up_id;
        int upfd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (upfd < 0)
            return -1;
        if (fstat(upfd, &up) < 0 || mnt_id_of(upfd, &up_id) < 0) {
            close(upfd);
            return -1;
        }
        close(upfd);
        out->mount_root = up_id != out->mnt_id || (up.st_dev == st.st_dev && up.st_ino == st.st_ino);
    } else if (parent_fd >= 0) {
        uint64_t pid;
        if (mnt_id_of(parent_fd, &pid) < 0)
            return -1;
        out->mount_root = pid != out->mnt_id;
    }
    return 0;
}

int exec_mnt_unique(int fd, uint64_t *id)
{
#ifdef SYS_statx
    struct exec_statx sx;
    memset(&sx, 0, sizeof(sx));
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, EXEC_STATX_MNT_ID_UNIQUE, &sx) == 0 &&
        (sx.mask & EXEC_STATX_MNT_ID_UNIQUE)) {
        *id = sx.mnt_id;
        return 0;
    }
#else
    (void)fd;
#endif
    *id = 0;
    errno = ENOSYS;
    return -1;
}

#ifdef SYS_statx
/* The birth time in ns, or 0 where the filesystem does not keep one. */
static uint64_t btime_of(const struct exec_statx *sx)
{
    return (sx->mask & EXEC_STATX_BTIME) && sx->btime.sec > 0 ? (uint64_t)sx->btime.sec * 1000000000u + sx->btime.nsec
                                                              : 0;
}
#endif

int exec_stat_new(int fd, struct stat *st, uint64_t *btime)
{
#ifdef SYS_statx
    struct exec_statx sx;
    const uint32_t want =
        EXEC_STATX_TYPE | EXEC_STATX_MODE | EXEC_STATX_INO | EXEC_STATX_UID | EXEC_STATX_GID | EXEC_STATX_NLINK;
    memset(&sx, 0, sizeof(sx));
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, want | EXEC_STATX_BTIME, &sx) == 0 &&
        (sx.mask & want) == want) {
        memset(st, 0, sizeof(*st));
        st->st_dev = makedev(sx.dev_major, sx.dev_minor);
        st->st_ino = (ino_t)sx.ino;
        st->st_mode = sx.mode;
        st->st_nlink = sx.nlink;
        st->st_uid = sx.uid;
        st->st_gid = sx.gid;
        *btime = btime_of(&sx);
        return 0;
    }
#endif
    if (fstat(fd, st) < 0)
        return -1;
    *btime = exec_btime(fd, "", AT_EMPTY_PATH);
    return 0;
}

uint64_t exec_btime(int dirfd, const char *name, int flags)
{
#ifdef SYS_statx
    struct exec_statx sx;
    memset(&sx, 0, sizeof(sx));
    if (syscall(SYS_statx, dirfd, name, flags | AT_SYMLINK_NOFOLLOW, EXEC_STATX_BTIME, &sx) == 0)
        return btime_of(&sx);
#else
    (void)dirfd;
    (void)name;
    (void)flags;
#endif
    return 0;
}

/* statmount(2) (Linux 6.8), spelled out for the same reason as struct exec_statx: the
 * request and the fixed head of the answer, as far as mnt_propagation. */
struct exec_mnt_id_req {
    uint32_t size, spare;
    uint64_t mnt_id, param;
};
struct exec_statmount {
    uint32_t size, mnt_opts;
    uint64_t mask;
    uint32_t sb_dev_major, sb_dev_minor;
    uint64_t sb_magic;
    uint32_t sb_flags, fs_type;
    uint64_t mnt_id, mnt_parent_id;
    uint32_t mnt_id_old, mnt_parent_id_old;
    uint64_t mnt_attr, mnt_propagation, mnt_peer_group, mnt_master, propagate_from;
    uint32_t mnt_root, mnt_point;
    uint64_t spare[50];
};
#define EXEC_STATMOUNT_MNT_BASIC 0x2u
#define EXEC_STATMOUNT_MNT_POINT 0x8u

int exec_mount_shared(int fd, uint64_t mnt_id, char *where, size_t wn)
{
    struct exec_mnt_id_req req = {.size = 24, .param = EXEC_STATMOUNT_MNT_BASIC | EXEC_STATMOUNT_MNT_POINT};
    struct {
        struct exec_statmount sm;
        char str[4096]; /* the mount point, for messages */
    } a;

    if (exec_no_mount_api || exec_mnt_unique(fd, &req.mnt_id) < 0)
        return nosys();
    memset(&a.sm, 0, sizeof(a.sm));
    if (syscall(SYS_statmount, &req, &a, sizeof(a), 0) < 0)
        return -1;
    /* The unique id names the mount fd is on now; the old one is what the caller looked
     * at: if they differ, fd moved to another mount in between and the caller asks again
     * the slow way. */
    if (!(a.sm.mask & EXEC_STATMOUNT_MNT_BASIC) || a.sm.mnt_id_old != mnt_id) {
        errno = ESTALE;
        return -1;
    }
    if ((a.sm.mask & EXEC_STATMOUNT_MNT_POINT) && a.sm.mnt_point < sizeof(a.str))
        snprintf(where, wn, "%.250s", a.str + a.sm.mnt_point);
    return (a.sm.mnt_propagation & MS_SHARED) != 0;
}
