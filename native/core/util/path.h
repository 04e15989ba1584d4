#ifndef NVC_PATH_H
#define NVC_PATH_H

/* Resolving paths inside a root directory (a driver root, later a container rootfs)
 * without ever leaving it, whatever symlinks the tree holds. The root may be hostile:
 * every lookup is done relative to a directory fd with the kernel's RESOLVE_IN_ROOT
 * semantics, never by concatenating strings and letting the kernel follow links. */

#include <stddef.h>

#include "nvc_error.h"

/* Symlinks followed in one resolution before ELOOP, as the kernel's MAXSYMLINKS. */
#define NVC_PATH_MAX_LINKS 40

/* Test hook: when non-zero the userspace walk is used even where openat2 exists, so
 * both resolvers can be exercised on one kernel. Building with -DNVC_PATH_NO_OPENAT2
 * has the same effect permanently. */
extern int nvc_path_force_fallback;

/* openat2 is used unless it is refused: ENOSYS (kernel before 5.6), EPERM (the answer of
 * older Docker seccomp profiles to syscalls they do not know), EINVAL (resolve flags not
 * understood). EPERM and EINVAL can also be a file's real answer, so the first time one
 * comes back a harmless probe call decides; either way the decision is kept for the
 * whole process and the walk is then used for every later call.
 * nvc_path_openat2_usable: 1 found usable, 0 found refused (walk in use), -1 not decided.
 * Test hooks: nvc_path_test_openat2_errno non-zero makes every openat2 call (the probe
 * too) fail with that errno without reaching the kernel; nvc_path_test_reset_openat2
 * forgets the decision; nvc_path_test_before_reopen, when set, is called by the walk
 * between checking the last component (name, in the directory dirfd) and opening it. */
int nvc_path_openat2_usable(void);
extern int nvc_path_test_openat2_errno;
void nvc_path_test_reset_openat2(void);
extern void (*nvc_path_test_before_reopen)(int dirfd, const char *name);

/* Open `path` inside the directory rootfd. Absolute paths and absolute symlinks start
 * again at rootfd, `..` never climbs above it, /proc magic links are refused (ELOOP).
 * The last component is followed unless flags has O_NOFOLLOW (then O_PATH|O_NOFOLLOW
 * yields the link itself, as openat2 does). O_CLOEXEC is always added; O_CREAT and
 * O_TMPFILE are refused (EINVAL): this resolver only finds existing files.
 * Returns the fd, or -1 with err filled (err->sys_errno tells ENOENT apart).
 *
 * Whatever the last component is gets opened with the flags given: with O_RDONLY or
 * O_WRONLY a FIFO the tree holds blocks, a device node is opened (and woken). To read a
 * file from a hostile tree use nvc_path_open_regular_in_root; otherwise open O_PATH,
 * check the type with fstat and reopen with nvc_path_reopen.
 *
 * The fd is inside the root when the lookup ends, not necessarily later: a directory
 * renamed out of the root meanwhile takes it along. Where that matters (anything
 * created or looked up by name below the fd, a path derived from it, a path handed to
 * someone else) check it again with nvc_path_fd_in_root after the lookup and before
 * trusting the result; nvc_path_resolve_in_root does so itself. */
int nvc_path_open_in_root(int rootfd, const char *path, int flags, struct nvc_error *err);

/* Whether an nvc_path_open_in_root error means only that the path leads nowhere in this
 * tree: nothing there (ENOENT), a file where a directory was needed (ENOTDIR), a link loop or too many links
 * (ELOOP), a name too long to exist (ENAMETOOLONG), a directory we may not search (EACCES:
 * the executor, also root, meets the same), a link out of the rootfs (the resolver's
 * PATH_ESCAPE). That is the answer "absent"; EMFILE, ENOMEM, EIO... are errors. */
int nvc_path_lookup_missing(const struct nvc_error *e);

/* Open for reading the file that an O_PATH fd (from nvc_path_open_in_root) stands for,
 * through /proc/self/fd, after the caller has checked its type with fstat. Opening a
 * hostile tree's path directly could block on a FIFO or wake a device; this reopens
 * exactly the inode checked (verified) with O_NONBLOCK|O_NOCTTY added. */
int nvc_path_reopen(int opath_fd, int flags, const char *path_for_errors, struct nvc_error *err);

/* nvc_path_open_regular_in_root's answer for a file that exists but is not a regular
 * file (directory, FIFO, device node, socket); err is filled as well (NVC_ERR_SYSTEM,
 * sys_errno EISDIR for a directory, EINVAL otherwise). */
#define NVC_PATH_NOT_REGULAR (-2)

/* Open the regular file `path` inside the root for reading: resolved to an O_PATH fd
 * (links followed, as nvc_path_open_in_root), checked to be a regular file, then that
 * very inode reopened O_RDONLY|O_NONBLOCK|O_NOCTTY. A FIFO, device node, socket or
 * directory is never opened for I/O, whatever gets renamed in meanwhile. Returns the
 * fd; -1 with err filled when the lookup or the reopen fails; NVC_PATH_NOT_REGULAR
 * (with err filled) for anything but a regular file. path_for_errors may be NULL. */
int nvc_path_open_regular_in_root(int rootfd, const char *path, const char *path_for_errors, struct nvc_error *err);

/* The path of an fd opened inside the root, as an absolute path without the root
 * prefix (read from /proc/self/fd). Fails with NVC_ERR_PATH_ESCAPE when the fd is not
 * below the root (e.g. a directory was moved out of it meanwhile), and with ENOENT when
 * the file was removed. This is the re-check to make on a result of
 * nvc_path_open_in_root wherever a concurrent rename could matter. path_for_errors and
 * root_host_path only feed messages. */
int nvc_path_fd_in_root(int rootfd, const char *root_host_path, int fd, const char *path_for_errors, char *out,
                        size_t outsz, struct nvc_error *err);

/* The real path of `path` inside the root, without the root prefix: with root
 * "/tmp/h", "/usr/lib/x/libcuda.so.1" gives "/usr/lib/x/libcuda.so.580.159.04".
 * A missing file fails with NVC_ERR_SYSTEM and err->sys_errno == ENOENT. The name is
 * taken from the opened fd through nvc_path_fd_in_root, so a result moved out of the
 * root by a concurrent rename fails with NVC_ERR_PATH_ESCAPE rather than be returned.
 * Still only a snapshot: whoever opens the name later must resolve it in the root again. */
int nvc_path_resolve_in_root(int rootfd, const char *root_host_path, const char *path, char *out, size_t outsz,
                             struct nvc_error *err);

/* root + path as one host path ("/" + "/etc" = "/etc", "/tmp/h/" + "/etc" = "/tmp/h/etc").
 * Purely textual, for messages and for handing host paths to others.
 * Returns 0, or -1 with errno ENAMETOOLONG when out is too small. */
int nvc_path_join(char *out, size_t outsz, const char *root, const char *path);

#endif
