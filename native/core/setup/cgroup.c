#define _GNU_SOURCE
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cgroup_internal.h"

/* statfs f_type values: what a cgroup directory must sit on, whatever mountinfo said. */
#define CGROUP1_MAGIC 0x27e0ebUL
#define CGROUP2_MAGIC 0x63677270UL

#define NO_CGROUPS_HINT "run with --no-cgroups to leave device access to the container runtime"

int nvc_cgroup_perm_error(struct nvc_error *err, int sys_errno, const char *step, const char *path, const char *what)
{
    return nvc_error_set(err, NVC_ERR_PERMISSION, sys_errno, step, path,
                         "no permission for %s on the container's device cgroup (running rootless, or "
                         "without CAP_SYS_ADMIN?); " NO_CGROUPS_HINT,
                         what);
}

/* ---- /proc/<pid>/cgroup ---------------------------------------------------------------- */

static int has_token(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; *p;) {
        size_t l = strcspn(p, ",");
        if (l == wl && strncmp(p, word, wl) == 0)
            return 1;
        p += l;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* want 0: detect; want 1 or 2: that hierarchy's line only. Fills *version and the pid's
 * cgroup path.
 *
 * Detection prefers the hierarchy that confines the process. On a hybrid host both a v1
 * devices line and the unified "0::" line are present, and the kernel enforces both: a
 * runtime in v1 mode puts the container in a devices cgroup of its own (v1 wins), while a
 * runtime that sees only the cgroup2 mount leaves the v1 devices cgroup at the root and
 * attaches its BPF program to the unified cgroup (v2 wins). Programming the root v1 cgroup
 * in the second case would change nothing the kernel checks. */
static int read_pid_cgroup(const char *proc_root, pid_t pid, int want, int *version, char *cgpath, size_t cgsz,
                           struct nvc_error *err)
{
    char file[4096];
    char paths[3][4096]; /* [1]: the devices line's path, [2]: the unified line's */
    int have[3] = {0, 0, 0};
    char *line = NULL;
    size_t cap = 0;
    int v;
    FILE *f;

    if (snprintf(file, sizeof(file), "%s/%d/cgroup", proc_root, (int)pid) >= (int)sizeof(file))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENAMETOOLONG, "cgroup", proc_root,
                             "the proc root path is too long");
    f = fopen(file, "re");
    if (!f)
        return nvc_error_sys(err, "open", file, "cannot read the cgroups of process %d", (int)pid);

    while (getline(&line, &cap, f) > 0) {
        char *c1, *c2;
        line[strcspn(line, "\n")] = '\0';
        /* "ID:controllers:path"; the path itself may hold ':' */
        c1 = strchr(line, ':');
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c1 = *c2 = '\0';
        if (has_token(c1 + 1, "devices"))
            v = 1;
        else if (strcmp(line, "0") == 0 && c1[1] == '\0')
            v = 2;
        else
            continue;
        if (have[v])
            continue;
        if (snprintf(paths[v], sizeof(paths[v]), "%s", c2 + 1) >= (int)sizeof(paths[v])) {
            fclose(f);
            free(line);
            return nvc_error_set(err, NVC_ERR_CGROUP, ENAMETOOLONG, "cgroup", file, "cgroup path too long");
        }
        have[v] = 1;
    }
    if (ferror(f)) { /* a read error is not the end of the file: a line may be missing */
        int e = errno;
        fclose(f);
        free(line);
        errno = e;
        return nvc_error_sys(err, "read", file, "cannot read the cgroups of process %d", (int)pid);
    }
    fclose(f);
    free(line);

    if (want != 0)
        v = have[want] ? want : 0;
    else if (have[1] && (strcmp(paths[1], "/") != 0 || !have[2] || strcmp(paths[2], "/") == 0))
        v = 1;
    else
        v = have[2] ? 2 : 0;

    if (v == 0) {
        if (want == 1)
            return nvc_error_set(err, NVC_ERR_CGROUP, 0, "cgroup", file,
                                 "process %d is in no cgroup v1 hierarchy with the devices controller: the "
                                 "kernel lacks it, or it is not mounted",
                                 (int)pid);
        return nvc_error_set(err, NVC_ERR_CGROUP, 0, "cgroup", file,
                             "process %d is neither in a cgroup v1 hierarchy with the devices controller nor "
                             "in the unified (v2) hierarchy",
                             (int)pid);
    }
    if (snprintf(cgpath, cgsz, "%s", paths[v]) >= (int)cgsz)
        return nvc_error_set(err, NVC_ERR_CGROUP, ENAMETOOLONG, "cgroup", file, "cgroup path too long");
    *version = v;
    /* Relative to our cgroup namespace, a cgroup outside it reads "/../..": we could not
     * name its directory in our mounts, and must not guess. */
    if (strncmp(cgpath, "/..", 3) == 0 || cgpath[0] != '/')
        return nvc_error_set(err, NVC_ERR_CGROUP, 0, "cgroup", file,
                             "the cgroup of process %d (%s) lies outside this process's cgroup namespace", (int)pid,
                             cgpath);
    return 0;
}

int nvc_cgroup_version(const char *proc_root, pid_t pid, int *version, struct nvc_error *err)
{
    char cgpath[4096];
    if (!proc_root || pid <= 0 || !version)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "cgroup", NULL,
                             "a proc root, a pid > 0 and an output are needed");
    return read_pid_cgroup(proc_root, pid, 0, version, cgpath, sizeof(cgpath), err);
}

/* ---- mountinfo ----------------------------------------------------------------------- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. In place. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 3;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
}

/* Split a mountinfo line into root, mount point, fstype and super options. */
static int split_mountinfo(char *line, char **root, char **mnt, char **fstype, char **super)
{
    char *tok[64];
    int n = 0, sep = -1;
    for (char *save = NULL, *t = strtok_r(line, " \n", &save); t && n < 64; t = strtok_r(NULL, " \n", &save))
        tok[n++] = t;
    /* id parent maj:min root mountpoint options [optional...] - fstype source super */
    for (int i = 6; i < n; i++)
        if (strcmp(tok[i], "-") == 0) {
            sep = i;
            break;
        }
    if (sep < 0 || sep + 3 >= n)
        return -1;
    *root = tok[3];
    *mnt = tok[4];
    *fstype = tok[sep + 1];
    *super = tok[sep + 3];
    unescape(*root);
    unescape(*mnt);
    return 0;
}

/* Whether a mountinfo line is a mount of hierarchy `version` that shows cgroup `cgpath`;
 * then *mnt is its mount point and *rest the cgroup's path below it. A mount whose root
 * lies above our cgroup namespace's sets *foreign: such a mount can't be mapped onto the
 * namespace-relative path we read, and trusting it could aim at another cgroup. */
static int mount_shows(char *line, int version, const char *cgpath, char **mnt, const char **rest, int *foreign)
{
    char *root, *fstype, *super;
    size_t rl;
    if (split_mountinfo(line, &root, mnt, &fstype, &super) < 0)
        return 0;
    if (version == 1 ? strcmp(fstype, "cgroup") != 0 || !has_token(super, "devices") : strcmp(fstype, "cgroup2") != 0)
        return 0;
    if (strncmp(root, "/..", 3) == 0) {
        *foreign = 1;
        return 0;
    }
    rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
    if (strncmp(cgpath, root, rl) != 0 || (cgpath[rl] != '/' && cgpath[rl] != '\0'))
        return 0; /* this mount shows another part of the tree */
    *rest = cgpath + rl;
    return 1;
}

/* The host path of cgroup `cgpath` of the hierarchy `version`, from our mountinfo: of the
 * mounts that show it, the one `skip` places before the last (a later mount can hide an
 * earlier one, as a cgroup2 mounted over a hybrid host's /sys/fs/cgroup hides its
 * /sys/fs/cgroup/unified, which mountinfo still lists). *count gets how many show it. */
static int find_mount(const char *proc_root, int version, const char *cgpath, int skip, int *count, char *mnt_out,
                      size_t mntsz, char *below_out, size_t belowsz, struct nvc_error *err)
{
    char file[4096];
    char *line = NULL, *mnt;
    const char *rest;
    size_t cap = 0;
    int found = 0, foreign = 0, seen = 0;
    FILE *f;

    snprintf(file, sizeof(file), "%s/self/mountinfo", proc_root);
    f = fopen(file, "re");
    if (!f)
        return nvc_error_sys(err, "open", file, "cannot read the mount table");
    *count = 0;
    while (getline(&line, &cap, f) > 0)
        *count += mount_shows(line, version, cgpath, &mnt, &rest, &foreign);
    /* A read error is not the end of the table: the mount that hides another may be missing. */
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        free(line);
        errno = e;
        return nvc_error_sys(err, "read", file, "cannot read the mount table");
    }
    rewind(f);
    while (skip < *count && !found && getline(&line, &cap, f) > 0) {
        if (!mount_shows(line, version, cgpath, &mnt, &rest, &foreign) || seen++ != *count - 1 - skip)
            continue;
        if (snprintf(mnt_out, mntsz, "%s", mnt) >= (int)mntsz ||
            snprintf(below_out, belowsz, "%s", rest) >= (int)belowsz) {
            fclose(f);
            free(line);
            return nvc_error_set(err, NVC_ERR_CGROUP, ENAMETOOLONG, "mountinfo", mnt, "cgroup path too long");
        }
        found = 1;
    }
    if (!found && ferror(f)) {
        int e = errno;
        fclose(f);
        free(line);
        errno = e;
        return nvc_error_sys(err, "read", file, "cannot read the mount table");
    }
    fclose(f);
    free(line);
    if (found)
        return 0;
    if (version == 1)
        return nvc_error_set(err, NVC_ERR_CGROUP, 0, "mountinfo", file,
                             "no cgroup v1 hierarchy with the devices controller is mounted%s (the container's "
                             "cgroup is %s)",
                             foreign ? " in this cgroup namespace" : "", cgpath);
    return nvc_error_set(err, NVC_ERR_CGROUP, 0, "mountinfo", file,
                         "no cgroup2 file system is mounted%s that shows the container's cgroup %s",
                         foreign ? " in this cgroup namespace" : "", cgpath);
}

static int check_fs(int fd, int version, const char *path, struct nvc_error *err)
{
    struct statfs sfs;
    unsigned long want = version == 1 ? CGROUP1_MAGIC : CGROUP2_MAGIC;
    if (fstatfs(fd, &sfs) < 0)
        return nvc_error_sys(err, "fstatfs", path, "cannot check the cgroup file system");
    if ((unsigned long)sfs.f_type != want)
        return nvc_error_set(err, NVC_ERR_CGROUP, 0, "fstatfs", path, "this is not a %s file system",
                             version == 1 ? "cgroup" : "cgroup2");
    return 0;
}

/* Open mount point + below, one component at a time without following links: a cgroup
 * file system has none, so one met means something is not what mountinfo promised. */
static int open_cgroup_dir(int version, const char *mnt, const char *below, struct nvc_cgroup_dir *dir,
                           struct nvc_error *err)
{
    char comp[256];
    int fd;

    if (snprintf(dir->path, sizeof(dir->path), "%s%s", mnt, below) >= (int)sizeof(dir->path))
        return nvc_error_set(err, NVC_ERR_CGROUP, ENAMETOOLONG, "open", mnt, "cgroup path too long");
    fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return nvc_error_sys(err, "open", mnt, "cannot open the cgroup mount point");
    if (check_fs(fd, version, mnt, err) < 0)
        goto fail;
    for (const char *p = below; *p;) {
        size_t l;
        int next;
        while (*p == '/')
            p++;
        l = strcspn(p, "/");
        if (l == 0)
            break;
        if (l >= sizeof(comp)) {
            nvc_error_set(err, NVC_ERR_CGROUP, ENAMETOOLONG, "openat", dir->path, "cgroup name too long");
            goto fail;
        }
        memcpy(comp, p, l);
        comp[l] = '\0';
        p += l;
        if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
            nvc_error_set(err, NVC_ERR_PATH_ESCAPE, 0, "openat", dir->path, "the cgroup path has a '%s' component",
                          comp);
            goto fail;
        }
        next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            nvc_error_sys(err, "openat", dir->path, "cannot open the container's cgroup");
            goto fail;
        }
        close(fd);
        fd = next;
    }
    if (check_fs(fd, version, dir->path, err) < 0)
        goto fail;
    dir->fd = fd;
    return 0;
fail:
    close(fd);
    return -1;
}

/* ---- rules and entry points ------------------------------------------------------------ */

static int check_rules(const struct nvc_device_rule *rules, size_t n, struct nvc_error *err)
{
    if (n > 0 && !rules)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "cgroup", NULL, "no rules given");
    for (size_t i = 0; i < n; i++) {
        const struct nvc_device_rule *r = &rules[i];
        const char *a = r->access;
        if (r->type != 'c' && r->type != 'b')
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "cgroup", NULL,
                                 "device rule %zu: type must be 'c' or 'b'", i);
        /* dev_t inside the kernel: 12 bits of major, 20 of minor */
        if (r->major >= 4096 || r->minor >= (1u << 20))
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "cgroup", NULL,
                                 "device rule %zu: %u:%u is no device number", i, r->major, r->minor);
        if (!a || !*a || strlen(a) > 3 || strspn(a, "rwm") != strlen(a) || (strchr(a, 'r') != strrchr(a, 'r')) ||
            (strchr(a, 'w') != strrchr(a, 'w')) || (strchr(a, 'm') != strrchr(a, 'm')))
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "cgroup", NULL,
                                 "device rule %zu: access must be letters of \"rwm\", each at most once", i);
    }
    return 0;
}

/* The device cgroup directory of process pid in hierarchy `version`. */
static int open_pid_cgroup(const char *proc_root, pid_t pid, int version, struct nvc_cgroup_dir *dir,
                           struct nvc_error *err)
{
    char cgpath[4096], mnt[4096], below[4096];
    struct nvc_error later;
    int v;

    if (read_pid_cgroup(proc_root, pid, version, &v, cgpath, sizeof(cgpath), err) < 0)
        return -1;
    /* The newest mount that shows the cgroup first; an older one only where the newer
     * cannot be opened (hidden). The first failure is the one reported. */
    for (int skip = 0;; skip++) {
        int count = 0;
        if (find_mount(proc_root, version, cgpath, skip, &count, mnt, sizeof(mnt), below, sizeof(below),
                       skip == 0 ? err : &later) < 0)
            return -1;
        if (open_cgroup_dir(version, mnt, below, dir, skip == 0 ? err : &later) == 0)
            return 0;
        if (skip + 1 >= count)
            return -1;
    }
}

int nvc_cgroup_allow_version(const char *proc_root, pid_t pid, int version, const struct nvc_device_rule *rules,
                             size_t n, struct nvc_error *err)
{
    return nvc_cgroup_allow_report(proc_root, pid, version, rules, n, NULL, err);
}

int nvc_cgroup_allow_report(const char *proc_root, pid_t pid, int version, const struct nvc_device_rule *rules,
                            size_t n, char (*added)[4], struct nvc_error *err)
{
    struct nvc_cgroup_dir dir;
    int rc;

    if (!proc_root || pid <= 0 || (version != 1 && version != 2))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "cgroup", NULL,
                             "a proc root, a pid > 0 and cgroup version 1 or 2 are needed");
    if (check_rules(rules, n, err) < 0)
        return -1;
    if (n == 0)
        return 0;
    if (open_pid_cgroup(proc_root, pid, version, &dir, err) < 0)
        return -1;
    if (version == 1) {
        rc = added != NULL ? nvc_cgroup_v1_granted(&dir, rules, n, added, err) : 0;
        if (rc == 0)
            rc = nvc_cgroup_v1_allow(&dir, rules, n, err);
    } else {
        rc = nvc_cgroup_v2_allow(&dir, rules, n, err);
        /* A v2 program is replaced, not stacked: what it adds is not separable later. */
        for (size_t i = 0; added != NULL && rc == 0 && i < n; i++)
            snprintf(added[i], sizeof(added[i]), "%s", rules[i].access);
    }
    close(dir.fd);
    return rc;
}

int nvc_cgroup_deny_v1(const char *proc_root, pid_t pid, const struct nvc_device_rule *rules, size_t n, int *present,
                       struct nvc_error *err)
{
    struct nvc_cgroup_dir dir;
    int rc;

    if (!proc_root || pid <= 0 || (n > 0 && present == NULL))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "cgroup", NULL,
                             "a proc root, a pid > 0 and an output are needed");
    if (check_rules(rules, n, err) < 0)
        return -1;
    if (n == 0)
        return 0;
    if (open_pid_cgroup(proc_root, pid, 1, &dir, err) < 0)
        return -1;
    rc = nvc_cgroup_v1_deny(&dir, rules, n, present, err);
    close(dir.fd);
    return rc;
}

int nvc_cgroup_allow(const char *proc_root, pid_t pid, const struct nvc_device_rule *rules, size_t n,
                     struct nvc_error *err)
{
    int version;
    if (check_rules(rules, n, err) < 0)
        return -1;
    if (n == 0)
        return 0;
    if (nvc_cgroup_version(proc_root, pid, &version, err) < 0)
        return -1;
    return nvc_cgroup_allow_version(proc_root, pid, version, rules, n, err);
}
