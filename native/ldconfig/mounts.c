#define _GNU_SOURCE
#include "ldconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The mount table of the confined child's private namespace, after the pivot, is made
 * safe whatever paths the image chose: every kernel interface (procfs, sysfs, debugfs,
 * ...) mounted anywhere in the rootfs is detached, found by its filesystem type rather
 * than by a path such as /sys that the image may have turned into a link, and every
 * other mount but the rootfs itself (volumes, the runtime's binds of host directories
 * such as the MPS pipe directory) is made read-only, so that ldconfig writes only into
 * the rootfs's own filesystem. A check of the resulting table decides: what could not
 * be detached or made read-only stops ldconfig from running. */

/* Our own names for the new mount API, so older and newer headers agree. */
#define LC_FSOPEN_CLOEXEC      0x1
#define LC_FSCONFIG_CMD_CREATE 6
#define LC_FSMOUNT_CLOEXEC     0x1
#define LC_MOUNT_ATTR_RDONLY   0x1

struct lc_mount_attr_ro {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* Filesystems that are interfaces to the kernel (or to the host), not storage. */
static const char *const KERNEL_FS[] = {
    "proc",      "sysfs",  "devtmpfs", "devpts",     "debugfs",   "tracefs", "securityfs", "configfs",
    "bpf",       "cgroup", "cgroup2",  "pstore",     "efivarfs",  "fusectl", "mqueue",     "binfmt_misc",
    "hugetlbfs", "autofs", "nsfs",     "rpc_pipefs", "selinuxfs", "nfsd",    "resctrl",    NULL,
};

/* The most mountinfo we read: a container with thousands of mounts is still well below. */
#define MOUNTINFO_MAX (8u << 20)

static int is_kernel_fs(const char *type)
{
    for (size_t i = 0; KERNEL_FS[i] != NULL; i++)
        if (strcmp(type, KERNEL_FS[i]) == 0)
            return 1;
    return 0;
}

/* /proc/self/mountinfo of a procfs of our own, made with the new mount API and never
 * attached: the tree may have no usable /proc (a link, a runtime's procfs of another pid
 * namespace), and mounting one would need a place to put it. */
static int open_mountinfo(void)
{
    int fs = (int)syscall(SYS_fsopen, "proc", LC_FSOPEN_CLOEXEC);
    if (fs < 0)
        return -1;
    if (syscall(SYS_fsconfig, fs, LC_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        int e = errno;
        close(fs);
        errno = e;
        return -1;
    }
    int mnt = (int)syscall(SYS_fsmount, fs, LC_FSMOUNT_CLOEXEC, 0);
    int e = errno;
    close(fs);
    if (mnt < 0) {
        errno = e;
        return -1;
    }
    int fd = openat(mnt, "self/mountinfo", O_RDONLY | O_CLOEXEC);
    e = errno;
    close(mnt);
    errno = e;
    return fd;
}

char *lc_read_mountinfo(void)
{
    int fd = open_mountinfo();
    if (fd < 0)
        return NULL;
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (len + 1 >= cap) {
            char *bigger = cap >= MOUNTINFO_MAX ? NULL : realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                errno = E2BIG;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(buf);
            buf = NULL;
            break;
        }
        if (n == 0) {
            buf[len] = '\0';
            break;
        }
        len += (size_t)n;
    }
    int e = errno;
    close(fd);
    errno = e;
    return buf;
}

/* mountinfo writes space, tab, newline and backslash in paths as \ooo. */
static void unescape(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
            r += 3;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

int lc_parse_mountinfo(char *buf, struct lc_mount **out)
{
    size_t n = 0, cap = 0;
    struct lc_mount *v = NULL;
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *field[6], *save = NULL, *tok = strtok_r(line, " ", &save);
        int nf = 0;
        for (; tok && nf < 6; tok = strtok_r(NULL, " ", &save))
            field[nf++] = tok;
        /* After the optional fields: "-", then the filesystem type. */
        while (tok && strcmp(tok, "-") != 0)
            tok = strtok_r(NULL, " ", &save);
        char *type = tok ? strtok_r(NULL, " ", &save) : NULL;
        if (nf < 6 || type == NULL) {
            free(v);
            errno = EINVAL;
            return -1;
        }
        unescape(field[4]);
        if (strcmp(field[4], "/") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            struct lc_mount *bigger = realloc(v, cap * sizeof(*v));
            if (bigger == NULL) {
                free(v);
                return -1;
            }
            v = bigger;
        }
        struct lc_mount *m = &v[n++];
        m->id = atoi(field[0]);
        m->parent = atoi(field[1]);
        m->path = field[4];
        m->type = type;
        m->ro = strncmp(field[5], "ro", 2) == 0 && (field[5][2] == ',' || field[5][2] == '\0');
        m->depth = 0;
        for (const char *c = m->path; *c; c++)
            m->depth += *c == '/';
    }
    *out = v;
    return (int)n;
}

static int deeper_first(const void *a, const void *b)
{
    return ((const struct lc_mount *)b)->depth - ((const struct lc_mount *)a)->depth;
}

static int make_read_only(const char *path)
{
    struct lc_mount_attr_ro attr = {.attr_set = LC_MOUNT_ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, &attr, sizeof(attr)) == 0)
        return 0;
    if (errno != ENOSYS)
        return -1;
    /* nodev,nosuid hold for the whole tree already (restrict_rootfs); keep them. */
    return mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

/* One pass over the table: detach kernel interfaces, make the rest read-only. Failures are
 * left to the check that follows. */
static void apply(struct lc_mount *m, int n)
{
    /* A rootfs with no mount below it has an empty table (m NULL): qsort's base must not be
     * NULL even for no elements (UBSan in npm run test:asan, copy mode). */
    if (n > 1)
        qsort(m, (size_t)n, sizeof(*m), deeper_first);
    for (int i = 0; i < n; i++) {
        if (is_kernel_fs(m[i].type))
            umount2(m[i].path, MNT_DETACH | UMOUNT_NOFOLLOW);
        else if (!m[i].ro)
            make_read_only(m[i].path);
    }
}

/* What is left after the pass: the first kernel interface still mounted or the first
 * writable mount, described in why; 0 when there is none. */
static int check(struct lc_mount *m, int n, char *why, size_t whysz)
{
    for (int i = 0; i < n; i++) {
        if (is_kernel_fs(m[i].type)) {
            snprintf(why, whysz, "cannot hide the %s mounted at %s in the rootfs", m[i].type, m[i].path);
            errno = EBUSY;
            return -1;
        }
        if (!m[i].ro) {
            snprintf(why, whysz, "cannot make the mount at %s in the rootfs read-only", m[i].path);
            errno = EROFS;
            return -1;
        }
    }
    return 0;
}

int lc_confine_mounts(int host_binary, char *why, size_t whysz)
{
    for (int pass = 0; pass < 2; pass++) {
        char *buf = lc_read_mountinfo();
        if (buf == NULL) {
            /* Before Linux 5.2 there is no fsopen: the host's ldconfig (trusted code) keeps
             * the path-based covers; the image's does not run. */
            if (errno == ENOSYS && host_binary)
                return 0;
            snprintf(why, whysz,
                     "cannot read the mount table of the rootfs, so the image's mounts cannot be confined "
                     "(needs Linux 5.2 or later)");
            return -1;
        }
        struct lc_mount *m = NULL;
        int n = lc_parse_mountinfo(buf, &m);
        if (n < 0) {
            int e = errno;
            free(buf);
            errno = e;
            snprintf(why, whysz, "cannot parse the mount table of the rootfs");
            return -1;
        }
        int rc = 0;
        if (pass == 0)
            apply(m, n);
        else
            rc = check(m, n, why, whysz);
        free(m);
        free(buf);
        if (rc < 0)
            return -1;
    }
    return 0;
}
