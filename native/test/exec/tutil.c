#define _GNU_SOURCE
#include "tutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

const char *t_exec_dir = "/tmp/nvc-exec-build";

const char *t_exec_path(enum t_variant v)
{
    static char buf[T_NVARIANTS][PATH_MAX];
    static const char *names[] = {"nvc-ts-exec", "nvc-ts-exec-walk", "nvc-ts-exec-legacy"};
    snprintf(buf[v], sizeof(buf[v]), "%s/%s", t_exec_dir, names[v]);
    return buf[v];
}

const char *t_exec_slow_path(enum t_variant v)
{
    static char buf[T_NVARIANTS][PATH_MAX];
    static const char *names[] = {"nvc-ts-exec-slow", "nvc-ts-exec-walk-slow", "nvc-ts-exec-legacy-slow"};
    snprintf(buf[v], sizeof(buf[v]), "%s/%s", t_exec_dir, names[v]);
    return buf[v];
}

const char *t_variant_name(enum t_variant v)
{
    static const char *names[] = {"openat2+mount-api", "walk+mount-api", "walk+mount(2)"};
    return names[v];
}

int t_mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

int t_write(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int t_symlink(const char *target, const char *path)
{
    unlink(path);
    return symlink(target, path);
}

static void rm_at(int dfd, const char *name)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            DIR *d = fdopendir(fd);
            struct dirent *de;
            char names[256][NAME_MAX + 1];
            for (;;) {
                int k = 0;
                rewinddir(d);
                while ((de = readdir(d)) != NULL && k < 256) {
                    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
                        snprintf(names[k++], sizeof(names[0]), "%s", de->d_name);
                }
                if (k == 0)
                    break;
                for (int j = 0; j < k; j++)
                    rm_at(dirfd(d), names[j]);
                if (k < 256)
                    break;
            }
            closedir(d);
        }
        unlinkat(dfd, name, AT_REMOVEDIR);
    } else {
        unlinkat(dfd, name, 0);
    }
}

void t_rmrf(const char *path)
{
    rm_at(AT_FDCWD, path);
}

char *t_read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            buf = realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

char *t_mountinfo(pid_t pid)
{
    char path[64];
    if (pid == 0)
        snprintf(path, sizeof(path), "/proc/self/mountinfo");
    else
        snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
    return t_read_file(path);
}

static int has_line(const char *text, const char *line, size_t len)
{
    for (const char *p = text; *p;) {
        const char *e = strchrnul(p, '\n');
        if ((size_t)(e - p) == len && memcmp(p, line, len) == 0)
            return 1;
        p = *e ? e + 1 : e;
    }
    return 0;
}

/* Field 5 (mount point) of a mountinfo line, unescaped enough for our paths. */
static void mountpoint_of(const char *line, size_t len, char *out, size_t n)
{
    int field = 0;
    size_t o = 0;
    const char *p = line, *end = line + len;
    while (p < end && field < 4) {
        if (*p++ == ' ')
            field++;
    }
    while (p < end && *p != ' ' && o + 1 < n)
        out[o++] = *p++;
    out[o] = '\0';
}

char *t_new_mounts(const char *before, const char *after)
{
    size_t cap = strlen(after) + 1;
    char *out = calloc(1, cap);
    for (const char *p = after; *p;) {
        const char *e = strchrnul(p, '\n');
        if (!has_line(before, p, (size_t)(e - p))) {
            char mp[PATH_MAX];
            mountpoint_of(p, (size_t)(e - p), mp, sizeof(mp));
            strcat(out, mp);
            strcat(out, "\n");
        }
        p = *e ? e + 1 : e;
    }
    return out;
}

int t_mount_options(pid_t pid, const char *mountpoint, char *out, size_t n)
{
    char *mi = t_mountinfo(pid);
    int found = -1;
    if (mi == NULL)
        return -1;
    for (char *p = mi; *p;) {
        char *e = strchrnul(p, '\n');
        char mp[PATH_MAX];
        mountpoint_of(p, (size_t)(e - p), mp, sizeof(mp));
        if (strcmp(mp, mountpoint) == 0) {
            /* field 6: the per-mount options; the last match is the topmost mount */
            const char *q = p;
            int field = 0;
            while (q < e && field < 5) {
                if (*q++ == ' ')
                    field++;
            }
            size_t o = 0;
            while (q < e && *q != ' ' && o + 1 < n)
                out[o++] = *q++;
            out[o] = '\0';
            found = 0;
        }
        p = *e ? e + 1 : e;
    }
    free(mi);
    return found;
}

int t_has_opt(const char *opts, const char *opt)
{
    size_t l = strlen(opt);
    for (const char *p = opts; *p;) {
        const char *e = strchrnul(p, ',');
        if ((size_t)(e - p) == l && memcmp(p, opt, l) == 0)
            return 1;
        p = *e ? e + 1 : e;
    }
    return 0;
}

/* ---- tree listing ---- */

struct listing {
    char **lines;
    size_t n, cap;
};

static void add_line(struct listing *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->lines = realloc(l->lines, l->cap * sizeof(char *));
    }
    l->lines[l->n++] = s;
}

static void walk(int dfd, const char *rel, dev_t dev, int times, struct listing *l)
{
    DIR *d;
    struct dirent *de;
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    d = fdopendir(fd);
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char path[PATH_MAX], link[PATH_MAX] = "", *line;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlinkat(dirfd(d), de->d_name, link, sizeof(link) - 1);
            link[n > 0 ? n : 0] = '\0';
        }
        if (times)
            asprintf(&line, "%s %o %u:%u %lld ino=%lu mtime=%lld.%09ld -> %s", path, st.st_mode, st.st_uid, st.st_gid,
                     (long long)(S_ISDIR(st.st_mode) ? 0 : st.st_size), (unsigned long)st.st_ino,
                     (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, link);
        else
            asprintf(&line, "%s %o %u:%u %lld ino=%lu -> %s", path, st.st_mode, st.st_uid, st.st_gid,
                     (long long)(S_ISDIR(st.st_mode) ? 0 : st.st_size), (unsigned long)st.st_ino, link);
        add_line(l, line);
        if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                walk(sub, path, dev, times, l);
                close(sub);
            }
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *t_tree(const char *root, int with_times)
{
    struct listing l = {0};
    struct stat st;
    size_t total = 1;
    char *out;
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0)
        return strdup("(missing)");
    walk(fd, "", st.st_dev, with_times, &l);
    close(fd);
    qsort(l.lines, l.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < l.n; i++)
        total += strlen(l.lines[i]) + 1;
    out = malloc(total);
    out[0] = '\0';
    char *p = out;
    for (size_t i = 0; i < l.n; i++) {
        p = stpcpy(p, l.lines[i]);
        *p++ = '\n';
        *p = '\0';
        free(l.lines[i]);
    }
    free(l.lines);
    return out;
}

/* ---- sandbox and containers ---- */

static int make_socket(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    unlink(path);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
        return -1;
    close(s);
    return 0;
}

int t_sandbox_init(void)
{
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        perror("# unshare");
        return -1;
    }
    t_mkdirs(T_BASE);
    if (mount("tmpfs", T_BASE, "tmpfs", 0, "mode=0755") < 0) {
        perror("# mount tmpfs");
        return -1;
    }
    if (t_mkdirs(T_SRC "/nvc-probe-share") < 0 || t_write(T_SRC "/libnvc-probe.so.1", "probe-lib\n") < 0 ||
        t_write(T_SRC "/nvc-probe-smi", "probe-bin\n") < 0 || t_write(T_SRC "/nvc-probe-share/x", "x\n") < 0 ||
        make_socket(T_SRC "/nvc-probe.sock") < 0 || t_symlink("libnvc-probe.so.1", T_SRC "/libnvc-link.so") < 0)
        return -1;
    if (t_mkdirs(T_CANARY "/etc") < 0 || t_mkdirs(T_CANARY "/usr/lib/x86_64-linux-gnu") < 0 ||
        t_mkdirs(T_CANARY "/proc/driver") < 0 || t_write(T_CANARY "/file", "canary\n") < 0 ||
        t_write(T_CANARY "/etc/passwd", "root:x:0:0::/:/bin/sh\n") < 0 ||
        t_write(T_CANARY "/usr/lib/x86_64-linux-gnu/libnvc-probe.so.1", "canary-lib\n") < 0)
        return -1;
    return 0;
}

int t_base_shared(int shared)
{
    return mount(NULL, T_BASE, NULL, shared ? MS_SHARED : MS_PRIVATE, NULL);
}

int t_container_bind_self;

int t_container_start(struct t_container *c, const char *rootfs, int private_, int proc)
{
    int p[2];
    char ok;
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    c->pid = fork();
    if (c->pid < 0)
        return -1;
    if (c->pid == 0) {
        char procdir[PATH_MAX];
        struct stat st;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(p[0]);
        if (unshare(CLONE_NEWNS) < 0)
            _exit(1);
        if (private_ && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(1);
        if (t_container_bind_self && mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
            _exit(1);
        if (t_container_bind_self == 2) {
            if (mount(NULL, rootfs, NULL, MS_SHARED, NULL) < 0 || t_mkdirs(T_BASE "/peer") < 0 ||
                mount(rootfs, T_BASE "/peer", NULL, MS_BIND, NULL) < 0)
                _exit(1);
        }
        snprintf(procdir, sizeof(procdir), "%s/proc", rootfs);
        if (proc && lstat(procdir, &st) == 0 && S_ISDIR(st.st_mode) &&
            mount("proc", procdir, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            _exit(1);
        if (write(p[1], "r", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    if (read(p[0], &ok, 1) != 1) {
        close(p[0]);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
        return -1;
    }
    close(p[0]);
    return 0;
}

void t_container_stop(struct t_container *c)
{
    if (c->pid > 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
    }
}

int t_rootfs(const char *name, char *out, size_t n)
{
    static const char *dirs[] = {
        "usr/lib/x86_64-linux-gnu", "usr/bin", "usr/share", "dev", "etc", "run", "proc", "tmp", "lib"};
    snprintf(out, n, "%s/%s", T_BASE, name);
    t_rmrf(out);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", out, dirs[i]);
        if (t_mkdirs(p) < 0)
            return -1;
    }
    char f[PATH_MAX];
    snprintf(f, sizeof(f), "%s/etc/os-release", out);
    return t_write(f, "ID=test\n");
}

void t_std_plan(struct nvc_plan *plan, struct nvc_edit *e, pid_t pid, const char *rootfs)
{
    static const char params[] = "ModifyDeviceFiles: 0\n";
    memset(e, 0, sizeof(*e) * T_STD_EDITS);
    e[0] = (struct nvc_edit){.kind = NVC_EDIT_TMPFS,
                             .target = "/proc/driver",
                             .mode = 0555,
                             .flags = NVC_MNT_NOSUID | NVC_MNT_NODEV | NVC_MNT_NOEXEC};
    e[1] = (struct nvc_edit){.kind = NVC_EDIT_WRITE,
                             .target = "/proc/driver/params",
                             .data = params,
                             .data_len = sizeof(params) - 1,
                             .mode = 0444};
    e[2] = (struct nvc_edit){.kind = NVC_EDIT_REMOUNT,
                             .target = "/proc/driver",
                             .flags = NVC_MNT_RDONLY | NVC_MNT_NOSUID | NVC_MNT_NODEV | NVC_MNT_NOEXEC};
    e[3] = (struct nvc_edit){.kind = NVC_EDIT_BIND,
                             .target = "/usr/lib/x86_64-linux-gnu/libnvc-probe.so.1",
                             .source = T_SRC "/libnvc-probe.so.1",
                             .source_kind = NVC_SRC_FILE,
                             .flags = NVC_MNT_RDONLY | NVC_MNT_NOSUID | NVC_MNT_NODEV};
    e[4] = (struct nvc_edit){
        .kind = NVC_EDIT_SYMLINK, .target = "/usr/lib/x86_64-linux-gnu/libnvc-probe.so", .link = "libnvc-probe.so.1"};
    e[5] = (struct nvc_edit){.kind = NVC_EDIT_BIND,
                             .target = "/usr/bin/nvc-probe-smi",
                             .source = T_SRC "/nvc-probe-smi",
                             .source_kind = NVC_SRC_FILE,
                             .flags = NVC_MNT_RDONLY | NVC_MNT_NOSUID | NVC_MNT_NODEV};
    e[6] = (struct nvc_edit){.kind = NVC_EDIT_BIND,
                             .target = "/dev/nvc-probe0",
                             .source = "/dev/null",
                             .source_kind = NVC_SRC_CHAR,
                             .major = 1,
                             .minor = 3,
                             .flags = NVC_MNT_RDONLY | NVC_MNT_NOSUID | NVC_MNT_NOEXEC};
    e[7] = (struct nvc_edit){.kind = NVC_EDIT_BIND,
                             .target = "/usr/share/nvc-probe",
                             .source = T_SRC "/nvc-probe-share",
                             .source_kind = NVC_SRC_DIR,
                             .flags = NVC_MNT_RDONLY | NVC_MNT_NOSUID | NVC_MNT_NODEV};
    e[8] = (struct nvc_edit){.kind = NVC_EDIT_BIND,
                             .target = "/etc/nvc-probe.d",
                             .source = T_SRC "/nvc-probe-share",
                             .source_kind = NVC_SRC_DIR,
                             .flags = NVC_MNT_RDONLY | NVC_MNT_NOSUID | NVC_MNT_NODEV};
    e[9] = (struct nvc_edit){.kind = NVC_EDIT_BIND,
                             .target = "/run/nvc-probe/socket",
                             .source = T_SRC "/nvc-probe.sock",
                             .source_kind = NVC_SRC_SOCKET,
                             .flags = NVC_MNT_NOSUID | NVC_MNT_NODEV | NVC_MNT_NOEXEC};
    *plan =
        (struct nvc_plan){.pid = pid, .rootfs = rootfs, .uid = 1000, .gid = 1000, .edits = e, .nedits = T_STD_EDITS};
}

int t_host_clean(void)
{
    static const char *paths[] = {
        "/usr/lib/x86_64-linux-gnu/libnvc-probe.so.1",
        "/usr/lib/x86_64-linux-gnu/libnvc-probe.so",
        "/usr/lib/libnvc-probe.so.1",
        "/lib/libnvc-probe.so.1",
        "/libnvc-probe.so.1",
        "/usr/bin/nvc-probe-smi",
        "/dev/nvc-probe0",
        "/usr/share/nvc-probe",
        "/etc/nvc-probe.d",
        "/run/nvc-probe",
        "/proc/driver/params",
        "/params",
        "/nvc-probe-smi",
        "/nvc-probe0",
        "/etc/libnvc-probe.so.1",
        "/tmp/libnvc-probe.so.1",
        T_BASE "/libnvc-probe.so.1",
        T_CANARY "/libnvc-probe.so.1",
        T_CANARY "/libnvc-probe.so",
        T_CANARY "/nvc-probe0",
        T_CANARY "/params",
        T_CANARY "/nvc-probe-smi",
        T_CANARY "/nvc-probe.d",
    };
    int clean = 0;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct stat st;
        if (lstat(paths[i], &st) == 0) {
            fprintf(stderr, "# ESCAPE: %s exists on the host\n", paths[i]);
            clean = -1;
        }
    }
    return clean;
}

/* ---- checked runs ---- */

int t_run_plan(struct t_run *r)
{
    char *host_before, *host_after, *canary_before, *canary_after, *tree_before, *tree_after, *fresh;
    char prefix[PATH_MAX];
    int ok = 0;

    memset(&r->res, 0, sizeof(r->res));
    nvc_error_clear(&r->err);
    r->cmi_before = r->cmi_after = NULL;
    if (t_container_start(&r->c, r->rootfs, r->private_, r->proc) < 0) {
        fprintf(stderr, "# cannot start the container\n");
        return -1;
    }
    r->plan->pid = r->c.pid;
    r->plan->rootfs = r->rootfs;
    host_before = t_mountinfo(0);
    canary_before = t_tree(T_CANARY, 1);
    tree_before = t_tree(r->rootfs, 0);
    r->cmi_before = t_mountinfo(r->c.pid);

    r->rc = nvc_plan_apply(r->exec, r->plan, &r->res, &r->err);

    host_after = t_mountinfo(0);
    canary_after = t_tree(T_CANARY, 1);
    tree_after = t_tree(r->rootfs, 0);
    r->cmi_after = t_mountinfo(r->c.pid);

    if (strcmp(host_before, host_after) != 0) {
        fprintf(stderr, "# the host mount table changed:\n# before:\n%s# after:\n%s", host_before, host_after);
        ok = -1;
    }
    if (strcmp(canary_before, canary_after) != 0) {
        fprintf(stderr, "# the canary tree changed:\n# before:\n%s# after:\n%s", canary_before, canary_after);
        ok = -1;
    }
    if (t_host_clean() < 0)
        ok = -1;
    fresh = t_new_mounts(r->cmi_before, r->cmi_after);
    snprintf(prefix, sizeof(prefix), "%s/", r->rootfs);
    for (char *p = fresh; *p;) {
        char *e = strchrnul(p, '\n');
        if (strncmp(p, prefix, strlen(prefix)) != 0) {
            fprintf(stderr, "# a mount landed outside the rootfs: %.*s\n", (int)(e - p), p);
            ok = -1;
        }
        p = *e ? e + 1 : e;
    }
    if (r->rc < 0) {
        if (strcmp(r->cmi_before, r->cmi_after) != 0) {
            fprintf(stderr, "# failed (%s) but the container's mounts changed:\n# new: %s\n", r->err.msg, fresh);
            ok = -1;
        }
        if (!r->skip_tree && strcmp(tree_before, tree_after) != 0) {
            fprintf(stderr, "# failed (%s) but the rootfs tree changed:\n# before:\n%s# after:\n%s", r->err.msg,
                    tree_before, tree_after);
            ok = -1;
        }
        if (r->err.msg[0] == '\0') {
            fprintf(stderr, "# failed without a message\n");
            ok = -1;
        }
    }
    free(fresh);
    free(host_before);
    free(host_after);
    free(canary_before);
    free(canary_after);
    free(tree_before);
    free(tree_after);
    return ok;
}

void t_run_end(struct t_run *r)
{
    t_container_stop(&r->c);
    nvc_plan_result_free(&r->res);
    free(r->cmi_before);
    free(r->cmi_after);
    r->cmi_before = r->cmi_after = NULL;
}
