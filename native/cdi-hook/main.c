/* nvc-ts-cdi-hook SUBCOMMAND [OPTIONS]   (OCI state on stdin)
 *   create-symlinks --link TARGET::LINK...
 *   update-ldcache --folder DIR... [--ldconfig-path [@]PATH]
 *   disable-device-node-modification [--params HOST_FILE]
 * A small C program, not a Node one: it runs once per container start. Its environment is
 * replaced by a fixed minimal one before anything else. An unknown subcommand or option is
 * reported and ignored (exit 0), so that specs written for a newer hook keep working. */
#define _GNU_SOURCE
#include "hook.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"

#define STATE_LIMIT  (1 << 20)
#define CONFIG_LIMIT (8 << 20)
#define MAX_ARGS     256

void hook_say(const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "nvc-ts-cdi-hook: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static char *slurp_fd(int fd, size_t limit, const char *what, struct nvc_error *err)
{
    size_t n = 0, cap = 65536;
    char *buf = malloc(cap);
    if (buf == NULL) {
        nvc_error_set(err, NVC_ERR_NO_MEMORY, ENOMEM, "malloc", what, "out of memory");
        return NULL;
    }
    for (;;) {
        ssize_t r;
        if (n + 1 >= cap) {
            char *bigger;
            if (cap >= limit) {
                free(buf);
                nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EFBIG, "read", what, "%s is larger than %zu bytes", what,
                              limit);
                return NULL;
            }
            cap *= 2;
            bigger = realloc(buf, cap);
            if (bigger == NULL) {
                free(buf);
                nvc_error_set(err, NVC_ERR_NO_MEMORY, ENOMEM, "realloc", what, "out of memory");
                return NULL;
            }
            buf = bigger;
        }
        r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            nvc_error_sys(err, "read", what, "cannot read %s", what);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return buf;
}

/* The container from the OCI state (pid, bundle) and its config (root.path). */
static int read_target(struct hook_target *t, struct nvc_error *err)
{
    static const char *const k_pid[] = {"pid", NULL}, *const k_bundle[] = {"bundle", NULL},
                             *const k_root[] = {"root", "path", NULL};
    char config[PATH_MAX], root[PATH_MAX];
    char *state, *text;
    long pid = 0;
    int fd, r;

    state = slurp_fd(0, STATE_LIMIT, "the OCI state on stdin", err);
    if (state == NULL)
        return -1;
    r = hook_json_long(state, k_pid, &pid);
    if (r == 0)
        r = hook_json_string(state, k_bundle, t->bundle, sizeof(t->bundle));
    free(state);
    if (r < 0 || pid <= 0 || t->bundle[0] != '/')
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "state", NULL,
                             "the OCI state on stdin has no container pid and absolute bundle path");
    t->pid = (pid_t)pid;
    if (snprintf(config, sizeof(config), "%s/config.json", t->bundle) >= (int)sizeof(config))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENAMETOOLONG, "state", t->bundle, "bundle path too long");
    fd = open(config, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nvc_error_sys(err, "open", config, "cannot read the bundle's config");
    text = slurp_fd(fd, CONFIG_LIMIT, config, err);
    close(fd);
    if (text == NULL)
        return -1;
    r = hook_json_string(text, k_root, root, sizeof(root));
    free(text);
    if (r < 0 || root[0] == '\0')
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "config", config, "the config has no root.path");
    if (root[0] == '/')
        r = snprintf(t->rootfs, sizeof(t->rootfs), "%s", root);
    else
        r = snprintf(t->rootfs, sizeof(t->rootfs), "%s/%s", t->bundle, root);
    if (r >= (int)sizeof(t->rootfs))
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENAMETOOLONG, "config", config, "root.path too long");
    return 0;
}

/* createContainer hooks already run in the container's mount namespace; a createRuntime
 * hook (or a test) runs outside it: enter it then, so that the rootfs is seen as the
 * container sees it before pivot_root. */
static int enter_mount_ns(pid_t pid, struct nvc_error *err)
{
    char path[64];
    struct stat ours, theirs;
    int fd;

    snprintf(path, sizeof(path), "/proc/%ld/ns/mnt", (long)pid);
    /* From inside the container's namespaces (runc runs createContainer hooks there, where
     * the state's pid may not be visible or accessible), the namespace is already ours. */
    if (stat("/proc/self/ns/mnt", &ours) < 0 || stat(path, &theirs) < 0)
        return 0;
    if (ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev)
        return 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nvc_error_sys(err, "open", path, "cannot open the container's mount namespace");
    if (setns(fd, CLONE_NEWNS) < 0) {
        close(fd);
        return nvc_error_sys(err, "setns", path, "cannot enter the container's mount namespace");
    }
    close(fd);
    return 0;
}

static int fail(const char *sub, const struct nvc_error *err)
{
    fprintf(stderr, "nvc-ts-cdi-hook: %s: error: %s", sub, err->msg);
    if (err->path[0])
        fprintf(stderr, " (%s)", err->path);
    if (err->sys_errno)
        fprintf(stderr, ": %s", strerror(err->sys_errno));
    fputc('\n', stderr);
    return 1;
}

int main(int argc, char **argv)
{
    char helper[PATH_MAX], self[PATH_MAX];
    char *links[MAX_ARGS];
    const char *folders[MAX_ARGS];
    const char *ldconfig = NULL, *params = NULL;
    int nlinks = 0, nfolders = 0, r;
    struct hook_target t = {.rootfd = -1};
    struct nvc_error err;
    const char *sub = argc > 1 ? argv[1] : "";
    ssize_t n;

    /* Nothing from the runtime's environment reaches ldconfig or the mounts. */
    clearenv();
    setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);
    setenv("LC_ALL", "C", 1);

    if (strcmp(sub, "create-symlinks") != 0 && strcmp(sub, "update-ldcache") != 0 &&
        strcmp(sub, "disable-device-node-modification") != 0) {
        hook_say(sub[0] ? sub : "(none)", "unknown subcommand, ignored (this hook knows create-symlinks, "
                                          "update-ldcache, disable-device-node-modification)");
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--link") == 0 && val != NULL && nlinks < MAX_ARGS)
            links[nlinks++] = argv[++i];
        else if (strcmp(opt, "--folder") == 0 && val != NULL && nfolders < MAX_ARGS)
            folders[nfolders++] = argv[++i];
        else if (strcmp(opt, "--ldconfig-path") == 0 && val != NULL)
            ldconfig = argv[++i];
        else if (strcmp(opt, "--params") == 0 && val != NULL && val[0] == '/')
            params = argv[++i];
        else
            hook_say(sub, "unknown or incomplete option %s, ignored", opt);
    }

    /* The ldconfig runner is installed beside this executable. */
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        n = 0;
    self[n] = '\0';
    snprintf(helper, sizeof(helper), "%s/nvc-ts-ldconfig", dirname(self));
    if (ldconfig == NULL)
        ldconfig = access("/sbin/ldconfig.real", X_OK) == 0 ? "@/sbin/ldconfig.real" : "@/sbin/ldconfig";

    if (read_target(&t, &err) < 0 || enter_mount_ns(t.pid, &err) < 0)
        return fail(sub, &err);
    t.rootfd = open(t.rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (t.rootfd < 0) {
        nvc_error_sys(&err, "open", t.rootfs, "cannot open the container rootfs");
        return fail(sub, &err);
    }
    if (strcmp(sub, "create-symlinks") == 0)
        r = hook_create_symlinks(&t, links, nlinks, &err);
    else if (strcmp(sub, "update-ldcache") == 0)
        r = hook_update_ldcache(&t, helper, ldconfig, folders, nfolders, &err);
    else
        r = hook_disable_device_node_modification(&t, params, &err);
    close(t.rootfd);
    return r < 0 ? fail(sub, &err) : 0;
}
