#define _GNU_SOURCE
#include "ldconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The confined child: pid 1 of a fresh pid namespace, already in new net/ipc/uts/cgroup
 * namespaces (the supervisor unshared them before forking). Every step below either
 * succeeds or ends the child with a record on its error pipe: ldconfig never runs
 * half-confined. */

#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#endif
#ifndef MOUNT_ATTR_NODEV
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The mount_setattr(2) argument; our own name so older and newer libc headers agree. */
struct lc_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* Limits for one ldconfig run. A real cache of a large image is well under 1 MiB; the
 * file size limit stops a runaway writer, the CPU limit a spinning one. */
#define LIMIT_CPU_S  10
#define LIMIT_AS     (2ULL << 30)
#define LIMIT_NOFILE 64
#define LIMIT_FSIZE  (2ULL << 20)

static const struct lc_child_fds *g_fds;

static void __attribute__((noreturn, format(printf, 3, 4))) give_up(int kind, const char *step, const char *fmt, ...)
{
    struct lc_child_error ce;
    va_list ap;

    memset(&ce, 0, sizeof(ce));
    ce.kind = kind;
    ce.sys_errno = kind == NVC_LDCONFIG_SETUP_FAILED ? errno : 0;
    snprintf(ce.step, sizeof(ce.step), "%s", step);
    va_start(ap, fmt);
    vsnprintf(ce.msg, sizeof(ce.msg), fmt, ap);
    va_end(ap);
    /* One write below PIPE_BUF: atomic, and the supervisor reads it after reaping us. */
    if (write(g_fds->report, &ce, sizeof(ce)) < 0) {
        /* nothing left to tell anyone: the exit status still says we failed */
    }
    _exit(127);
}

#define SETUP_FAIL(step, ...) give_up(NVC_LDCONFIG_SETUP_FAILED, step, __VA_ARGS__)

static int is_plain_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* nodev and nosuid on the whole rootfs tree of our private copy: device nodes shipped in
 * an image (or left in a bind-mounted volume) must not open host devices for a process
 * running in the host's device cgroup (CVE-2024-0136 class). */
static void restrict_rootfs(const char *rootfs, int host_binary)
{
    struct lc_mount_attr attr = {.attr_set = MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID};
    if (syscall(SYS_mount_setattr, AT_FDCWD, rootfs, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
        return;
    if (errno != ENOSYS)
        SETUP_FAIL("mount_setattr", "cannot make the rootfs bind %s nodev,nosuid", rootfs);
    /* Before Linux 5.12 only the top bind can be remounted: submounts (volumes) would keep
     * their device nodes usable. The host's ldconfig is trusted code; the image's is not,
     * so it does not run at all there. */
    if (!host_binary) {
        errno = ENOSYS;
        SETUP_FAIL("mount_setattr",
                   "this kernel cannot make every mount under %s nodev,nosuid, so the image's "
                   "own ldconfig is not run; use the host's (@/sbin/ldconfig.real or @/sbin/ldconfig)",
                   rootfs);
    }
    /* Remount the top bind only, keeping what it had. */
    struct statvfs sv;
    if (statvfs(rootfs, &sv) < 0)
        SETUP_FAIL("statvfs", "cannot inspect the rootfs bind %s", rootfs);
    unsigned long keep = 0;
    if (sv.f_flag & ST_RDONLY)
        keep |= MS_RDONLY;
    if (sv.f_flag & ST_NOEXEC)
        keep |= MS_NOEXEC;
    if (mount(NULL, rootfs, NULL, MS_BIND | MS_REMOUNT | MS_NODEV | MS_NOSUID | keep, NULL) < 0)
        SETUP_FAIL("mount", "cannot remount the rootfs bind %s nodev,nosuid", rootfs);
}

/* The write budget (budget_view.c): ldconfig writes into a limited tmpfs over the rootfs,
 * and the supervisor keeps only the expected results. Where this kernel cannot build the
 * view, the host's ldconfig (trusted code) writes into the rootfs as before; the image's
 * does not run. */
static void budget_view(const struct lc_args *a)
{
    int upper, real;
    char why[256];
    int r = lc_budget_view(a->rootfs, &upper, &real, why, sizeof(why));
    if (r < 0 && a->host_binary)
        r = 0;
    if (r < 0)
        SETUP_FAIL("budget",
                   "%s, so the image's ldconfig cannot be given a write budget and is not run; use the host's "
                   "(@/sbin/ldconfig.real or @/sbin/ldconfig)",
                   why);
    if (r > 0 && lc_budget_send(g_fds->budget, upper, real) < 0)
        SETUP_FAIL("sendmsg", "cannot hand the budget view to the supervisor");
    if (r > 0) {
        close(upper);
        close(real);
    }
    close(g_fds->budget);
}

/* Enter the container's mount namespace, make a private copy of it and pivot into the
 * rootfs there. Nothing here propagates back: the copy is made rprivate first. */
static void enter_rootfs(const struct lc_args *a)
{
    if (g_fds->mntns >= 0 && setns(g_fds->mntns, CLONE_NEWNS) < 0)
        SETUP_FAIL("setns", "cannot enter the mount namespace of pid %ld", (long)a->pid);
    if (unshare(CLONE_NEWNS) < 0)
        SETUP_FAIL("unshare", "cannot create a private mount namespace");
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        SETUP_FAIL("mount", "cannot make the private mount namespace rprivate");
    if (mount(a->rootfs, a->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
        SETUP_FAIL("mount", "cannot bind the rootfs %s on itself", a->rootfs);
    restrict_rootfs(a->rootfs, a->host_binary);
    budget_view(a);
    if (chdir(a->rootfs) < 0)
        SETUP_FAIL("chdir", "cannot enter the rootfs %s", a->rootfs);
    if (a->no_pivot) {
        /* A root on ramfs/initramfs cannot be pivoted away from: move the rootfs over /
         * and chroot into it. The old root stays below, out of reach once the
         * capabilities are dropped and the seccomp filter (no chroot) is in place. */
        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
            SETUP_FAIL("mount", "cannot move the rootfs %s onto / (--no-pivot)", a->rootfs);
        if (chroot(".") < 0)
            SETUP_FAIL("chroot", "cannot enter the rootfs %s (--no-pivot)", a->rootfs);
    } else {
        /* pivot_root(".", ".") stacks the old root on the new one; detaching it leaves no
         * path back to the host's tree (a chroot would leave it one chroot away). */
        if (syscall(SYS_pivot_root, ".", ".") < 0)
            SETUP_FAIL("pivot_root", "cannot pivot into the rootfs %s", a->rootfs);
        if (umount2(".", MNT_DETACH) < 0)
            SETUP_FAIL("umount2", "cannot detach the old root");
    }
    if (chdir("/") < 0)
        SETUP_FAIL("chdir", "cannot enter the new root");
}

/* The runtime's kernel interfaces are detached already (lc_confine_mounts, by filesystem
 * type wherever they are); what is left at /proc, /sys and /dev (the image's own nodes and
 * files) is covered with our own read-only mounts. A path that is missing or not a plain
 * directory (an image's symlink) is left alone: after the pivot any such link can only
 * lead inside the rootfs, whose kernel interfaces are gone. */
static void hide_kernel_interfaces(void)
{
    const unsigned long ro = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;

    /* A fresh proc of our own pid namespace, read-only: the process sees only itself;
     * subset=pid (Linux 5.8+) also hides the global files (sysctls, kernel state). */
    if (is_plain_dir("/proc") && mount("proc", "/proc", "proc", ro, "subset=pid") < 0 &&
        mount("proc", "/proc", "proc", ro, NULL) < 0)
        SETUP_FAIL("mount", "cannot mount a private /proc");
    if (is_plain_dir("/sys") && mount("tmpfs", "/sys", "tmpfs", ro, "size=4k,mode=555") < 0)
        SETUP_FAIL("mount", "cannot hide /sys");
    if (is_plain_dir("/dev")) {
        /* Empty, but with /dev/fd for programs that name their fds by path. */
        if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=755") < 0)
            SETUP_FAIL("mount", "cannot hide /dev");
        if (symlink("/proc/self/fd", "/dev/fd") < 0)
            SETUP_FAIL("symlink", "cannot create /dev/fd");
        if (mount(NULL, "/dev", NULL, MS_REMOUNT | ro, NULL) < 0)
            SETUP_FAIL("mount", "cannot make /dev read-only");
    }
}

/* The container's binary must exist in the pivoted tree: a missing one is the image's
 * choice (distroless, musl), reported as a warning rather than an error. */
static void check_container_binary(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP)
            give_up(NVC_LDCONFIG_MISSING, "stat", "the container has no %s", path);
        SETUP_FAIL("stat", "cannot inspect the container's %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        errno = EACCES;
        SETUP_FAIL("stat", "the container's %s is not a regular file", path);
    }
}

static void set_limits(void)
{
    static const struct {
        int resource;
        rlim_t value;
        const char *name;
    } limits[] = {
        {RLIMIT_CPU, LIMIT_CPU_S, "RLIMIT_CPU"},
        {RLIMIT_AS, LIMIT_AS, "RLIMIT_AS"},
        {RLIMIT_NOFILE, LIMIT_NOFILE, "RLIMIT_NOFILE"},
        {RLIMIT_FSIZE, LIMIT_FSIZE, "RLIMIT_FSIZE"},
        {RLIMIT_CORE, 0, "RLIMIT_CORE"},
        {RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK"},
        {RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE"},
    };
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        struct rlimit rl = {limits[i].value, limits[i].value};
        if (setrlimit(limits[i].resource, &rl) < 0)
            SETUP_FAIL("setrlimit", "cannot set %s", limits[i].name);
    }
}

/* Become the container owner with nothing else: no groups, no capabilities in any set
 * (bounding and ambient included), root without privileges (SECBIT_NOROOT, so a uid 0
 * owner gets no capabilities back at exec), no new privileges. */
static void drop_privileges(const struct lc_args *a)
{
    if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                                     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED | SECBIT_KEEP_CAPS_LOCKED) < 0)
        SETUP_FAIL("prctl", "cannot set the securebits");
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the last capability this kernel knows */
            SETUP_FAIL("prctl", "cannot drop capability %d from the bounding set", cap);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        SETUP_FAIL("prctl", "cannot clear the ambient capabilities");
    if (setgroups(0, NULL) < 0)
        SETUP_FAIL("setgroups", "cannot clear the supplementary groups");
    if (setresgid(a->gid, a->gid, a->gid) < 0)
        SETUP_FAIL("setresgid", "cannot become gid %ld", (long)a->gid);
    if (setresuid(a->uid, a->uid, a->uid) < 0)
        SETUP_FAIL("setresuid", "cannot become uid %ld", (long)a->uid);

    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) < 0)
        SETUP_FAIL("capset", "cannot clear the capability sets");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        SETUP_FAIL("prctl", "cannot set no_new_privs");

    /* Trust, but verify: a kernel that silently kept something must not run ldconfig. */
    memset(data, 0xff, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) < 0)
        SETUP_FAIL("capget", "cannot read back the capability sets");
    uid_t r, e, s;
    for (int i = 0; i < 2; i++) {
        if (data[i].effective || data[i].permitted || data[i].inheritable) {
            errno = EPERM;
            SETUP_FAIL("capget", "capabilities survived the drop");
        }
    }
    if (getresuid(&r, &e, &s) < 0 || r != a->uid || e != a->uid || s != a->uid) {
        errno = EPERM;
        SETUP_FAIL("getresuid", "the uid did not change to %ld", (long)a->uid);
    }
}

/* Die with the supervisor: it enforces the deadline. The setting is made after the
 * uid change (which clears it), then the supervisor is checked once for the window
 * before it: its end of the lifeline closes when it dies. */
static void tie_to_supervisor(void)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        SETUP_FAIL("prctl", "cannot set the parent-death signal");
    struct pollfd p = {.fd = g_fds->lifeline, .events = POLLIN};
    if (poll(&p, 1, 0) != 0)
        _exit(127);
}

void lc_confined_child(const struct lc_args *a, const struct lc_child_fds *fds)
{
    g_fds = fds;
    for (size_t i = 0; i < sizeof(fds->drop) / sizeof(fds->drop[0]); i++)
        if (fds->drop[i] >= 0)
            close(fds->drop[i]);
    umask(022);

    enter_rootfs(a);
    char why[256];
    if (lc_confine_mounts(a->host_binary, why, sizeof(why)) < 0)
        SETUP_FAIL("mountinfo", "%s; ldconfig is not run", why);
    hide_kernel_interfaces();
    if (!a->host_binary)
        check_container_binary(a->ldconfig);
    set_limits();
    drop_privileges(a);
    tie_to_supervisor();

    if (dup2(fds->out, STDOUT_FILENO) < 0 || dup2(fds->out, STDERR_FILENO) < 0)
        SETUP_FAIL("dup2", "cannot connect the output pipe");
    /* Everything else we hold is close-on-exec already; this covers what we do not know of. */
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);

    const char *argv[6 + NVC_LDCONFIG_MAX_DIRS + 1];
    size_t n = 0;
    argv[n++] = a->ldconfig;
    argv[n++] = "-f";
    argv[n++] = "/etc/ld.so.conf";
    argv[n++] = "-C";
    argv[n++] = "/etc/ld.so.cache";
    for (size_t i = 0; i < a->ndirs && i < NVC_LDCONFIG_MAX_DIRS; i++)
        argv[n++] = a->dirs[i];
    argv[n] = NULL;
    char *envp[] = {NULL};

    if (lc_install_seccomp() < 0)
        SETUP_FAIL("seccomp", "cannot install the system call filter");
    if (a->host_binary) {
        syscall(SYS_execveat, fds->exe, "", (char *const *)argv, envp, AT_EMPTY_PATH);
        SETUP_FAIL("execveat", "cannot execute the sealed copy of the host %s", a->ldconfig);
    }
    execve(a->ldconfig, (char *const *)argv, envp);
    if (errno == ENOENT)
        SETUP_FAIL("execve", "cannot execute the container's %s: its interpreter or loader is missing", a->ldconfig);
    SETUP_FAIL("execve", "cannot execute the container's %s", a->ldconfig);
}
