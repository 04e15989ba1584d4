/* A fault-injection shim for the helpers (LD_PRELOAD; tests only, never shipped): makes
 * the Nth call of one system call wrapper fail with a chosen errno, or records every call
 * so that a test can enumerate the call sites a run meets.
 *   NVC_FAULT_CALL=mount NVC_FAULT_ERRNO=1 NVC_FAULT_NTH=3   the third mount() fails, EPERM
 *   NVC_FAULT_LOG=/path                                          append one line per call
 * The helpers start with an empty environment (child.c): a wrapper script named by
 * NVC_TS_EXEC / NVC_TS_DRIVER sets these and LD_PRELOAD, then execs the real binary.
 * Calls made through syscall(2) (the new mount API, openat2) are named "sys_<name>". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *want;
static int want_errno;
static long want_nth = 1;
static const char *log_path;
static long seen;

__attribute__((constructor)) static void setup(void)
{
    want = getenv("NVC_FAULT_CALL");
    want_errno = getenv("NVC_FAULT_ERRNO") ? atoi(getenv("NVC_FAULT_ERRNO")) : 0;
    want_nth = getenv("NVC_FAULT_NTH") ? atol(getenv("NVC_FAULT_NTH")) : 1;
    log_path = getenv("NVC_FAULT_LOG");
}

static long (*real_syscall)(long, ...);

static void note(const char *name)
{
    if (log_path == NULL)
        return;
    if (real_syscall == NULL)
        real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    /* Raw syscalls: the helper may have closed every fd, and must not recurse into us. */
    int fd = (int)real_syscall(SYS_openat, AT_FDCWD, log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    char line[64];
    int n = snprintf(line, sizeof(line), "%s\n", name);
    real_syscall(SYS_write, fd, line, (size_t)n);
    real_syscall(SYS_close, fd);
}

/* 1 when this call must fail (errno set). */
static int fault(const char *name)
{
    note(name);
    if (want == NULL || strcmp(want, name) != 0)
        return 0;
    if (++seen != want_nth)
        return 0;
    errno = want_errno;
    return 1;
}

#define REAL(ret, name, ...)                                                                                           \
    static ret (*real)(__VA_ARGS__);                                                                                   \
    if (real == NULL)                                                                                                  \
    real = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

int mount(const char *src, const char *tgt, const char *type, unsigned long flags, const void *data)
{
    REAL(int, "mount", const char *, const char *, const char *, unsigned long, const void *);
    return fault("mount") ? -1 : real(src, tgt, type, flags, data);
}

int umount2(const char *tgt, int flags)
{
    REAL(int, "umount2", const char *, int);
    return fault("umount2") ? -1 : real(tgt, flags);
}

int mkdirat(int dfd, const char *path, mode_t mode)
{
    REAL(int, "mkdirat", int, const char *, mode_t);
    return fault("mkdirat") ? -1 : real(dfd, path, mode);
}

int symlinkat(const char *target, int dfd, const char *path)
{
    REAL(int, "symlinkat", const char *, int, const char *);
    return fault("symlinkat") ? -1 : real(target, dfd, path);
}

int openat(int dfd, const char *path, int flags, ...)
{
    REAL(int, "openat", int, const char *, int, mode_t);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
    va_end(ap);
    return fault("openat") ? -1 : real(dfd, path, flags, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(ssize_t, "write", int, const void *, size_t);
    return fault("write") ? -1 : real(fd, buf, n);
}

int fchownat(int dfd, const char *path, uid_t uid, gid_t gid, int flags)
{
    REAL(int, "fchownat", int, const char *, uid_t, gid_t, int);
    return fault("fchownat") ? -1 : real(dfd, path, uid, gid, flags);
}

int fchown(int fd, uid_t uid, gid_t gid)
{
    REAL(int, "fchown", int, uid_t, gid_t);
    return fault("fchown") ? -1 : real(fd, uid, gid);
}

int setns(int fd, int type)
{
    REAL(int, "setns", int, int);
    return fault("setns") ? -1 : real(fd, type);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    REAL(ssize_t, "recv", int, void *, size_t, int);
    return fault("recv") ? -1 : real(fd, buf, n, flags);
}

ssize_t read(int fd, void *buf, size_t n)
{
    REAL(ssize_t, "read", int, void *, size_t);
    return fault("read") ? -1 : real(fd, buf, n);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    REAL(ssize_t, "sendmsg", int, const struct msghdr *, int);
    return fault("sendmsg") ? -1 : real(fd, m, flags);
}

/* The new mount API and openat2 go through syscall(2); only those are named. */
long syscall(long nr, ...)
{
    va_list ap;
    long a[6];
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (real_syscall == NULL)
        real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    const char *name = nr == SYS_open_tree       ? "sys_open_tree"
                       : nr == SYS_move_mount    ? "sys_move_mount"
                       : nr == SYS_mount_setattr ? "sys_mount_setattr"
                       : nr == SYS_fsopen        ? "sys_fsopen"
                       : nr == SYS_fsconfig      ? "sys_fsconfig"
                       : nr == SYS_fsmount       ? "sys_fsmount"
                       : nr == SYS_openat2       ? "sys_openat2"
                                                 : NULL;
    if (name != NULL && fault(name))
        return -1;
    return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
