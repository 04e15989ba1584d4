#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup_internal.h"

/* The devices.list of a cgroup: its exceptions ("c 195:* rwm"; "a *:* rwm" when it allows
 * everything), read once before rules are written so that the rules that add something
 * can be told from those already granted, and only those taken back by teardown. */
struct v1_exception {
    char type;       /* 'a', 'c', 'b' */
    long major;      /* -1: '*' */
    long minor;      /* -1: '*' */
    unsigned access; /* bits of ACC_* */
};

#define ACC_R 1u
#define ACC_W 2u
#define ACC_M 4u

static unsigned access_bits(const char *a)
{
    unsigned b = 0;
    for (; *a; a++)
        b |= *a == 'r' ? ACC_R : *a == 'w' ? ACC_W : *a == 'm' ? ACC_M : 0;
    return b;
}

static void access_text(unsigned b, char out[4])
{
    size_t k = 0;
    if (b & ACC_R)
        out[k++] = 'r';
    if (b & ACC_W)
        out[k++] = 'w';
    if (b & ACC_M)
        out[k++] = 'm';
    out[k] = '\0';
}

static long number_or_star(const char *s)
{
    char *end = NULL;
    long v;
    if (strcmp(s, "*") == 0)
        return -1;
    v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= 0 ? v : -2;
}

/* Reads devices.list into a malloc'd array. */
static int read_list(const struct nvc_cgroup_dir *dir, struct v1_exception **out, size_t *n, struct nvc_error *err)
{
    char path[sizeof(dir->path) + 16];
    struct v1_exception *ex = NULL;
    size_t cap = 0, len = 0;
    char *line = NULL;
    size_t lcap = 0;
    FILE *f;
    int fd;

    snprintf(path, sizeof(path), "%s/devices.list", dir->path);
    fd = openat(dir->fd, "devices.list", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return nvc_error_sys(err, "open", path, "cannot read the device rules of the container's cgroup");
    f = fdopen(fd, "re");
    if (f == NULL) {
        close(fd);
        return nvc_error_sys(err, "fdopen", path, "cannot read the device rules of the container's cgroup");
    }
    while (getline(&line, &lcap, f) > 0) {
        char type, mm[64], acc[8], maj[32], min[32];
        if (sscanf(line, "%c %63s %7s", &type, mm, acc) != 3 || sscanf(mm, "%31[^:]:%31s", maj, min) != 2)
            continue;
        if (len == cap) {
            size_t want = cap ? cap * 2 : 16;
            struct v1_exception *p = realloc(ex, want * sizeof(*p));
            if (p == NULL) {
                free(ex);
                free(line);
                fclose(f);
                errno = ENOMEM;
                return nvc_error_sys(err, "read", path, "cannot hold the device rules");
            }
            ex = p;
            cap = want;
        }
        ex[len].type = type;
        ex[len].major = number_or_star(maj);
        ex[len].minor = number_or_star(min);
        ex[len].access = access_bits(acc);
        if (ex[len].major >= -1 && ex[len].minor >= -1)
            len++;
    }
    free(line);
    if (ferror(f)) {
        /* A read error is not the end of the list: rules judged against half of it would be wrong. */
        int e = errno ? errno : EIO;
        free(ex);
        fclose(f);
        errno = e;
        return nvc_error_sys(err, "read", path, "cannot read the device rules of the container's cgroup");
    }
    fclose(f);
    *out = ex;
    *n = len;
    return 0;
}

/* The access bits the entry for exactly this device has. */
static unsigned exact_bits(const struct v1_exception *ex, size_t n, const struct nvc_device_rule *r)
{
    unsigned have = 0;
    for (size_t k = 0; k < n; k++) {
        if (ex[k].type == r->type && ex[k].major == (long)r->major && ex[k].minor == (long)r->minor)
            have |= ex[k].access;
    }
    return have;
}

/* Allows every device by default ("a *:* rwm" is then the whole list). */
static int allows_all(const struct v1_exception *ex, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (ex[k].type == 'a' && ex[k].major == -1 && ex[k].minor == -1 && ex[k].access == (ACC_R | ACC_W | ACC_M))
            return 1;
    }
    return 0;
}

/* The access bits of rule r to record as added: none when one exception grants them all
 * already (the kernel matches one exception per access check), else those that the
 * exception for exactly this device does not have yet (a deny must not take those away). */
static unsigned missing_access(const struct v1_exception *ex, size_t n, const struct nvc_device_rule *r)
{
    unsigned want = access_bits(r->access), exact = 0;
    for (size_t i = 0; i < n; i++) {
        const struct v1_exception *e = &ex[i];
        int type_ok = e->type == 'a' || e->type == r->type;
        if (!type_ok || (e->major != -1 && e->major != (long)r->major) ||
            (e->minor != -1 && e->minor != (long)r->minor))
            continue;
        if ((want & ~e->access) == 0)
            return 0; /* granted already */
        if (e->type == r->type && e->major == (long)r->major && e->minor == (long)r->minor)
            exact |= e->access;
    }
    return want & ~exact;
}

int nvc_cgroup_v1_granted(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                          char (*missing)[4], struct nvc_error *err)
{
    struct v1_exception *ex = NULL;
    size_t nex = 0;

    if (read_list(dir, &ex, &nex, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        access_text(missing_access(ex, nex, &rules[i]), missing[i]);
    free(ex);
    return 0;
}

int nvc_cgroup_v1_deny(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n, int *present,
                       struct nvc_error *err)
{
    char path[sizeof(dir->path) + 16];
    struct v1_exception *ex = NULL;
    size_t nex = 0;
    int fd;

    snprintf(path, sizeof(path), "%s/devices.deny", dir->path);
    if (read_list(dir, &ex, &nex, err) < 0)
        return -1;
    fd = openat(dir->fd, "devices.deny", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        free(ex);
        if (errno == EACCES || errno == EPERM || errno == EROFS)
            return nvc_cgroup_perm_error(err, errno, "open", path, "writing devices.deny");
        return nvc_error_sys(err, "open", path, "cannot open devices.deny");
    }
    for (size_t i = 0; i < n; i++) {
        /* Only what an exception for exactly this device still grants: a second teardown,
         * or a rule someone already took back, writes nothing. */
        unsigned want = access_bits(rules[i].access), have = exact_bits(ex, nex, &rules[i]);
        char line[64], acc[4];
        int len;

        present[i] = (want & have) != 0;
        if (!present[i])
            continue;
        access_text(want & have, acc);
        len = snprintf(line, sizeof(line), "%c %u:%u %s", rules[i].type, rules[i].major, rules[i].minor, acc);
        if (write(fd, line, (size_t)len) != len) {
            int e = errno;
            free(ex);
            close(fd);
            errno = e;
            return nvc_error_sys(err, "write", path, "the kernel refused \"%s\" in devices.deny", line);
        }
    }
    free(ex);
    close(fd);
    return 0;
}

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

/* Takes back what rules[0..n) granted; 0, or -1 with what was left in *left. */
static int take_back(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                     const struct v1_exception *ex, size_t nex, char *left, size_t leftsz)
{
    int fd = openat(dir->fd, "devices.deny", O_WRONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;
    left[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        unsigned bits = access_bits(rules[i].access) & ~exact_bits(ex, nex, &rules[i]);
        char line[64], acc[4];
        if (bits == 0)
            continue;
        access_text(bits, acc);
        int len = snprintf(line, sizeof(line), "%c %u:%u %s", rules[i].type, rules[i].major, rules[i].minor, acc);
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
static int fail_undo(const struct nvc_cgroup_dir *dir, const struct nvc_device_rule *rules, size_t n,
                     const struct v1_exception *ex, size_t nex, struct nvc_error *err)
{
    char left[512];
    if (!allows_all(ex, nex) && take_back(dir, rules, n, ex, nex, left, sizeof(left)) < 0) {
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
    struct v1_exception *ex = NULL;
    size_t nex = 0;
    int fd, rc = -1;

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
    if (read_list(dir, &ex, &nex, err) < 0) {
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
        fail_undo(dir, rules, w >= 0 ? i + 1 : i, ex, nex, err);
        goto out;
    }
    /* A failed close after every rule went in is reported: so the rules are taken back. */
    if (close(fd) < 0 && errno != EINTR) {
        nvc_error_sys(err, "close", path, "writing devices.allow failed");
        fail_undo(dir, rules, n, ex, nex, err);
        goto out;
    }
    rc = 0;
out:
    free(ex);
    return rc;
}
