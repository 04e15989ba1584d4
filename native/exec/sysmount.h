#ifndef NVC_EXEC_SYSMOUNT_H
#define NVC_EXEC_SYSMOUNT_H

/* Thin wrappers over the fd-based mount API (open_tree, move_mount, mount_setattr,
 * fsopen/fsconfig/fsmount) and statx, called through syscall(2) so the executor
 * builds against old headers and libcs, and so a test hook can make the kernel look
 * as if it lacked them. Plus the few facts about an fd that the executor needs. */

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Test hook (--test-no-mount-api): every new-API call fails with ENOSYS. */
extern int exec_no_mount_api;

/* 1 when open_tree, move_mount, mount_setattr, fsmount and fsopen all exist (probed with
 * invalid arguments, so nothing happens), 0 when any is missing or filtered. */
int exec_mount_api_available(void);

int sys_open_tree(int dfd, const char *path, unsigned flags);
int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags);
/* mount_setattr(dfd, path, flags, {set, clr, propagation}). */
int sys_mount_setattr(int dfd, const char *path, unsigned flags, uint64_t set, uint64_t clr, uint64_t propagation);
int sys_fsopen(const char *fsname, unsigned flags);
int sys_fsconfig_string(int fd, const char *key, const char *value);
int sys_fsconfig_create(int fd);
int sys_fsmount(int fd, unsigned flags, unsigned attr);

#define EXEC_OPEN_TREE_CLONE         1u
#define EXEC_MOVE_MOUNT_F_EMPTY_PATH 0x4u
#define EXEC_MOVE_MOUNT_T_EMPTY_PATH 0x40u
#define EXEC_MOVE_MOUNT_SET_GROUP    0x100u
#define EXEC_FSOPEN_CLOEXEC          1u
#define EXEC_FSMOUNT_CLOEXEC         1u

/* nvc_mount_flag bits to MOUNT_ATTR_* (new API) and to MS_* (mount(2)). */
uint64_t exec_flags_to_attr(unsigned nvc_flags);
unsigned long exec_flags_to_ms(unsigned nvc_flags);
/* The per-mount flags of the mount holding fd, as nvc_mount_flag bits (from statfs). */
int exec_mount_flags_of(int fd, unsigned *nvc_flags, unsigned long *ms_flags);

struct exec_fdinfo {
    dev_t dev;
    ino_t ino;
    mode_t mode;
    uint64_t mnt_id; /* the id /proc/self/mountinfo shows first on each line */
    int mount_root;  /* fd is the root of its mount */
};

/* fstat + statx(STATX_MNT_ID, STATX_ATTR_MOUNT_ROOT), with /proc/self/fdinfo and ".."
 * comparisons where statx is too old. For a non-directory whose mount root flag the
 * kernel cannot tell, parent_fd (or -1) is compared instead. */
int exec_fd_info(int fd, int parent_fd, struct exec_fdinfo *out);

/* The never-reused mount id (statx STATX_MNT_ID_UNIQUE, Linux 6.8) of the mount holding
 * fd. -1 where the kernel has none. */
int exec_mnt_unique(int fd, uint64_t *id);

/* The birth time (statx STATX_BTIME) of name in dirfd, not following a final symlink, in
 * nanoseconds; 0 where the file system or kernel does not say. */
uint64_t exec_btime(int dirfd, const char *name, int flags);

/* What the undo log keeps of an entry just created (type, dev, ino, owner, nlink in st;
 * birth time as exec_btime gives it), in one statx where the kernel has it. */
int exec_stat_new(int fd, struct stat *st, uint64_t *btime);

/* 1 when the mount holding fd (the one with the non-unique id mnt_id) is shared, 0 when
 * not, through statmount(2) (Linux 6.8), its mount point copied into where (for
 * messages); -1 where that cannot say (the caller reads /proc/self/mountinfo instead). */
int exec_mount_shared(int fd, uint64_t mnt_id, char *where, size_t wn);

/* "/proc/self/fd/<fd>" into buf (at least 32 bytes). */
const char *exec_fd_path(char *buf, size_t n, int fd);

#endif
