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

/* Open `path` inside the directory rootfd. Absolute paths and absolute symlinks start
 * again at rootfd, `..` never climbs above it, /proc magic links are refused (ELOOP).
 * The last component is followed unless flags has O_NOFOLLOW (then O_PATH|O_NOFOLLOW
 * yields the link itself, as openat2 does). O_CLOEXEC is always added; O_CREAT and
 * O_TMPFILE are refused (EINVAL): this resolver only finds existing files.
 * Returns the fd, or -1 with err filled (err->sys_errno tells ENOENT apart). */
int nvc_path_open_in_root(int rootfd, const char *path, int flags, struct nvc_error *err);

/* Open for reading the file that an O_PATH fd (from nvc_path_open_in_root) stands for,
 * through /proc/self/fd, after the caller has checked its type with fstat. Opening a
 * hostile tree's path directly could block on a FIFO or wake a device; this reopens
 * exactly the inode checked (verified) with O_NONBLOCK|O_NOCTTY added. */
int nvc_path_reopen(int opath_fd, int flags, const char *path_for_errors, struct nvc_error *err);

/* The path of an fd opened inside the root, as an absolute path without the root
 * prefix (read from /proc/self/fd). Fails with NVC_ERR_PATH_ESCAPE when the fd is not
 * below the root (e.g. a directory was moved out of it meanwhile). path_for_errors and
 * root_host_path only feed messages. */
int nvc_path_fd_in_root(int rootfd, const char *root_host_path, int fd, const char *path_for_errors,
                        char *out, size_t outsz, struct nvc_error *err);

/* The real path of `path` inside the root, without the root prefix: with root
 * "/tmp/h", "/usr/lib/x/libcuda.so.1" gives "/usr/lib/x/libcuda.so.580.159.04".
 * A missing file fails with NVC_ERR_SYSTEM and err->sys_errno == ENOENT. */
int nvc_path_resolve_in_root(int rootfd, const char *root_host_path, const char *path, char *out,
                             size_t outsz, struct nvc_error *err);

/* root + path as one host path ("/" + "/etc" = "/etc", "/tmp/h/" + "/etc" = "/tmp/h/etc").
 * Purely textual, for messages and for handing host paths to others.
 * Returns 0, or -1 with errno ENAMETOOLONG when out is too small. */
int nvc_path_join(char *out, size_t outsz, const char *root, const char *path);

#endif
