#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup_internal.h"

/* cgroup v1: the devices controller keeps an exception list per cgroup; each line written
 * to devices.allow adds one. The kernel takes one rule per write(), so one write per rule.
 *
 * All or nothing: a failure after some rules went in takes back exactly the access they
 * granted. In a deny-all cgroup (what runtimes make) devices.list is the exception list,
 * and an exception is matched by its exact type and numbers, in both directions: an allow
 * adds access bits to the entry, a deny removes them. So the bits to take back for a rule
 * are its bits that its exact entry did not have before; a deny of those restores the list
 * as it was. In an allow-all cgroup the exceptions are denials the kernel does not list:
 * what an allow removed there can't be known, and nothing is taken back (runtimes do not
 * leave containers there). */

#define LIST_MAX (256 * 1024)

static unsigned access_bits(const char *a)
{
    return (strchr(a, 'r') ? 1u : 0u) | (strchr(a, 'w') ? 2u : 0u) | (strchr(a, 'm') ? 4u : 0u);
}

/* devices.list as it is now; *allow_all when the cgroup allows every device by default. */
static char *read_list(const struct nvc_cgroup_dir *dir, int *allow_all, struct nvc_error *err)
{
    char path[sizeof(dir->path) + 16];
    size_t len = 0;
    char *text;
    int fd;

    snprintf(path, sizeof(path), "%s/devices.list", dir->path);
    if (!(text = malloc(LIST_MAX + 1))) {
        nvc_error_set(err, NVC_ERR_NO_MEMORY, ENOMEM, "malloc", path, "no memory for devices.list");
        return NULL;
    }
    fd = openat(dir->fd, "devices.list", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        nvc_error_sys(err, "open", path, "cannot read the device rules in force");
        free(text);
        return NULL;
    }
    for (;;) {
        ssize_t r = read(fd, text + len, LIST_MAX - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            nvc_error_sys(err, "read", path, "cannot read the device rules in force");
            close(fd);
            free(text);
            return NULL;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == LIST_MAX) {
            nvc_error_set(err, NVC_ERR_CGROUP, EFBIG, "read", path, "devices.list is larger than %d bytes", LIST_MAX);
            close(fd);
            free(text);
            return NULL;
        }
    }
    close(fd);
    text[len] = '\0';
    *allow_all = strncmp(text, "a *:* rwm", 9) == 0;
    return text;
}

/* The access bits the exact entry "type major:minor" of the list has. */
static unsigned listed_bits(const char *list, const struct nvc_device_rule *r)
{
    char want[48];
    int wl = snprintf(want, sizeof(want), "%c %u:%u ", r->type, r->major, r->minor);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, "\n");
        if (l > (size_t)wl && strncmp(p, want, (size_t)wl) == 0) {
            char acc[8];
            size_t al = l - (size_t)wl < sizeof(acc) - 1 ? l - (size_t)wl : sizeof(acc) - 1;
            memcpy(acc, p + wl, al);
            acc[al] = '\0';
            return access_bits(acc);
        }
        p += l;
        if (*p == '\n')
            p++;
    }
    return 0;
}

/* Takes back what rules[0..n) granted; 0, or -1 with what was left in *left. */
static int take_back(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n, const char *list,
                     char *left, size_t leftsz)
{
    int fd = openat(dir->fd, "devices.deny", O_WRONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
    left[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        unsigned bits = access_bits(rules[i].access) & ~listed_bits(list, &rules[i]);
        char line[64];
        if (bits == 0)
            continue;
        int len = snprintf(line, sizeof(line), "%c %u:%u %s%s%s", rules[i].type, rules[i].major, rules[i].minor,
                           bits & 1 ? "r" : "", bits & 2 ? "w" : "", bits & 4 ? "m" : "");
        ssize_t w;
        do
            w = fd < 0 ? -1 : write(fd, line, (size_t)len);
        while (w < 0 && errno == EINTR);
        if (w != len) {
            size_t l = strlen(left);
            snprintf(left + l, leftsz - l, "%s\"%s\"", l ? ", " : "", line);
            rc = -1;
        }
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* The failure in err stands; what was written before it is taken back. */
static int fail_undo(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n, const char *list,
                     int allow_all, struct nvc_error *err)
{
    char left[512];
    if (!allow_all && take_back(dir, rules, n, list, left, sizeof(left)) < 0) {
        size_t l = strlen(err->msg);
        err->code = NVC_ERR_ROLLBACK;
        snprintf(err->msg + l, sizeof(err->msg) - l, "; and these device rules could not be taken back: %s", left);
    }
    return -1;
}

int nvc_cgroup_v1_allow(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                        struct nvc_error *err)
{
    char path[sizeof(dir->path) + 16];
    int fd, allow_all = 0, rc = -1;
    char *list;

    snprintf(path, sizeof(path), "%s/devices.allow", dir->path);
    fd = openat(dir->fd, "devices.allow", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EACCES || errno == EPERM || errno == EROFS)
            return nvc_cgroup_perm_error(err, errno, "open", path, "writing devices.allow");
        if (errno == ENOENT)
            return nvc_error_set(err, NVC_ERR_CGROUP, errno, "open", path,
                                 "this cgroup v1 hierarchy has no devices.allow: the devices controller is not "
                                 "attached to it");
        return nvc_error_sys(err, "open", path, "cannot open devices.allow");
    }
    if (!(list = read_list(dir, &allow_all, err))) {
        close(fd);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char line[64];
        int len =
            snprintf(line, sizeof(line), "%c %u:%u %s", rules[i].type, rules[i].major, rules[i].minor, rules[i].access);
        ssize_t w = write(fd, line, (size_t)len);
        if (w == len)
            continue;
        if (w >= 0)
            errno = EIO; /* a short write of one rule: the kernel parsed a partial line */
        int e = errno;
        close(fd);
        /* As root EPERM means the parent cgroup does not allow the device: a child can only
         * narrow what its parent grants. Unprivileged it is the usual rootless case. */
        if (e == EPERM && geteuid() == 0)
            nvc_error_set(err, NVC_ERR_PERMISSION, e, "write", path,
                          "the kernel refused \"%s\": the parent cgroup does not allow this device, or this "
                          "process lacks CAP_SYS_ADMIN; run with --no-cgroups to leave device access to the "
                          "container runtime",
                          line);
        else if (e == EPERM)
            nvc_cgroup_perm_error(err, e, "write", path, "writing devices.allow");
        else {
            errno = e;
            nvc_error_sys(err, "write", path, "the kernel refused the device rule \"%s\"", line);
        }
        /* The failing rule too where a short write may have applied part of it; a write
         * that failed outright applied nothing, and taking back what was never given could
         * only fail (fault-injection-cgroup: a first rule refused, then the take-back
         * refused too, reported a rollback that had nothing to undo). */
        fail_undo(dir, rules, w >= 0 ? i + 1 : i, list, allow_all, err);
        goto out;
    }
    /* A failed close after every rule went in is reported: so the rules are taken back. */
    if (close(fd) < 0 && errno != EINTR) {
        nvc_error_sys(err, "close", path, "writing devices.allow failed");
        fail_undo(dir, rules, n, list, allow_all, err);
        goto out;
    }
    rc = 0;
out:
    free(list);
    return rc;
}
