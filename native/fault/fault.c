/* A fault-injection shim (LD_PRELOAD; tests only, never shipped): makes the Nth call of one
 * libc wrapper fail (or misbehave), or records every call so that a test can enumerate the
 * call sites a run meets and then fail each of them in turn.
 *   NVC_FAULT_CALL=mount NVC_FAULT_ERRNO=1 NVC_FAULT_NTH=3   the third mount() fails, EPERM
 *   NVC_FAULT_LOG=/path                                       append one line per call
 *   NVC_FAULT_MODULE=exe | NAME                               only calls made by the main
 *       executable, or by the loaded object whose path contains NAME (nvc_ts.node): inside
 *       Node, only the addon's calls are seen, never Node's or libuv's
 *   NVC_FAULT_SITES=1                                         log "name site", the site being
 *       object+offset of the caller (and, for a record sent on a helper socket, "/typeN" with
 *       its frame type: one send site in the service sends every kind of record)
 *   NVC_FAULT_SITE=exe+0x2a61 NVC_FAULT_NTH=2                 the second call at that site
 *   NVC_FAULT_MODE=errno | short | die | garbage | hang       what the faulted call does:
 *       errno (fail with NVC_FAULT_ERRNO); for send/sendmsg/write: short (pass on the first half
 *       and return that count), die (pass on the first half, then _exit: a peer that closes
 *       mid-message), garbage (pass on the record with its first 4 bytes inverted); hang
 *       (sleep for good before the call: a stuck peer); for recv/read: short (at most half of
 *       the length asked for)
 *   NVC_FAULT_ARMED=0                                         start disarmed: a test program
 *       arms the window that matters with nvc_fault_arm() (dlsym), leaving its set-up alone
 * The helpers start with an empty environment (child.c): a wrapper script named by
 * NVC_TS_EXEC / NVC_TS_DRIVER sets these and LD_PRELOAD, then execs the real binary.
 * Calls made through syscall(2) (the new mount API, openat2, bpf, pidfd) are named
 * "sys_<name>". */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <link.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum mode { M_ERRNO, M_SHORT, M_DIE, M_GARBAGE, M_HANG };

static const char *want;
static const char *want_site;
static int want_errno;
static long want_nth = 1;
static enum mode want_mode = M_ERRNO;
static const char *log_path;
static const char *module;
static int log_sites;
static long seen;
static int armed = 1;

static long (*real_syscall)(long, ...);

/* A second fault, met only after the first was injected: the error paths that run after a
 * first failure (rollback, undo, cleanup) fail in their turn.
 *   NVC_FAULT_CALL2=umount2 NVC_FAULT_SITE2=exe+0x1234 NVC_FAULT_NTH2=1 NVC_FAULT_ERRNO2=16
 * The log marks it "!fault2". */
static const char *want2;
static const char *want_site2;
static int want_errno2;
static long want_nth2 = 1;
static long seen2;
static int first_fired;

__attribute__((constructor)) static void setup(void)
{
    const char *m = getenv("NVC_FAULT_MODE");
    want = getenv("NVC_FAULT_CALL");
    want_site = getenv("NVC_FAULT_SITE");
    want2 = getenv("NVC_FAULT_CALL2");
    want_site2 = getenv("NVC_FAULT_SITE2");
    want_errno2 = getenv("NVC_FAULT_ERRNO2") ? atoi(getenv("NVC_FAULT_ERRNO2")) : 0;
    want_nth2 = getenv("NVC_FAULT_NTH2") ? atol(getenv("NVC_FAULT_NTH2")) : 1;
    want_errno = getenv("NVC_FAULT_ERRNO") ? atoi(getenv("NVC_FAULT_ERRNO")) : 0;
    want_nth = getenv("NVC_FAULT_NTH") ? atol(getenv("NVC_FAULT_NTH")) : 1;
    log_path = getenv("NVC_FAULT_LOG");
    module = getenv("NVC_FAULT_MODULE");
    log_sites = getenv("NVC_FAULT_SITES") != NULL;
    armed = !(getenv("NVC_FAULT_ARMED") && strcmp(getenv("NVC_FAULT_ARMED"), "0") == 0);
    if (m != NULL)
        want_mode = strcmp(m, "short") == 0     ? M_SHORT
                    : strcmp(m, "die") == 0     ? M_DIE
                    : strcmp(m, "garbage") == 0 ? M_GARBAGE
                    : strcmp(m, "hang") == 0    ? M_HANG
                                                : M_ERRNO;
    real_syscall = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
}

/* For a test program: only calls made while armed count or fail. */
void nvc_fault_arm(int on)
{
    __atomic_store_n(&armed, on, __ATOMIC_SEQ_CST);
}

/* Where a caller lies: its object's load base, name and whether it is the main program.
 * dladdr() would also look for the nearest symbol, a linear scan of the object's symbol
 * table: inside Node (a hundred thousand symbols), with the shim on every read and write
 * of the process, that made a run take seconds instead of milliseconds. The executable
 * segments of the objects met are cached instead; a miss walks the loaded objects once
 * (dl_iterate_phdr, no symbols). An object is never unloaded in the programs the shim
 * runs under (Node keeps its addons), so an entry never goes stale. */
struct object {
    uintptr_t start, end, base;
    int is_exe;
    char name[96];
};

#define MAX_OBJECTS 256
static struct object objects[MAX_OBJECTS];
static int objects_published; /* entries [0, n) are complete and never change */
static int objects_lock;      /* a spin lock around adding: no pthread in a preload */

static const struct object *cached(uintptr_t ra)
{
    int n = __atomic_load_n(&objects_published, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; i++)
        if (ra >= objects[i].start && ra < objects[i].end)
            return &objects[i];
    return NULL;
}

struct lookup {
    uintptr_t ra;
    struct object found;
    int ok;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *p)
{
    struct lookup *l = p;
    (void)size;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (l->ra < start || l->ra >= start + ph->p_memsz)
            continue;
        l->found.start = start;
        l->found.end = start + ph->p_memsz;
        l->found.base = info->dlpi_addr;
        l->found.is_exe = (uintptr_t)info->dlpi_phdr == (uintptr_t)getauxval(AT_PHDR);
        /* The end of a long path: the file name is what NVC_FAULT_MODULE and sites use. */
        const char *name = info->dlpi_name ? info->dlpi_name : "";
        size_t len = strlen(name);
        snprintf(l->found.name, sizeof(l->found.name), "%s",
                 len >= sizeof(l->found.name) ? name + len - (sizeof(l->found.name) - 1) : name);
        l->ok = 1;
        return 1;
    }
    return 0;
}

static const struct object *object_of(uintptr_t ra)
{
    const struct object *o = cached(ra);
    if (o != NULL)
        return o;
    struct lookup l = {ra, {0}, 0};
    dl_iterate_phdr(find_object, &l);
    if (!l.ok)
        return NULL; /* the vDSO, or code not in any object */
    while (__atomic_exchange_n(&objects_lock, 1, __ATOMIC_ACQUIRE))
        ;
    o = cached(ra); /* another thread may have added it meanwhile */
    if (o == NULL && objects_published < MAX_OBJECTS) {
        objects[objects_published] = l.found;
        o = &objects[objects_published];
        __atomic_store_n(&objects_published, objects_published + 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&objects_lock, 0, __ATOMIC_RELEASE);
    if (o == NULL) { /* the table is full: answer from the walk, uncached */
        static __thread struct object spare;
        spare = l.found;
        o = &spare;
    }
    return o;
}

/* Whether the caller at `ra` is one the test looks at; its site in *site. */
static int ours(void *ra, char *site, size_t n)
{
    if (module == NULL && !log_sites && want_site == NULL)
        return 1;
    const struct object *o = object_of((uintptr_t)ra);
    if (o == NULL)
        return module == NULL;
    const char *base = strrchr(o->name, '/');
    base = base ? base + 1 : o->name;
    if (module != NULL && !(strcmp(module, "exe") == 0 ? o->is_exe : strstr(o->name, module) != NULL))
        return 0;
    snprintf(site, n, "%s+0x%lx", o->is_exe ? "exe" : base, (unsigned long)((uintptr_t)ra - o->base));
    return 1;
}

/* The log stays open on a high fd, reopened by path when the program closed it: a helper
 * closes every fd at its start, and may then chroot where the path does not resolve. */
static int log_fd = -1;

static void note(const char *name, const char *key)
{
    if (log_path == NULL)
        return;
    /* Raw syscalls: the helper may have closed every fd, and must not recurse into us. */
    if (log_fd >= 0 && real_syscall(SYS_fcntl, log_fd, F_GETFD) < 0)
        log_fd = -1;
    if (log_fd < 0) {
        int fd = (int)real_syscall(SYS_openat, AT_FDCWD, log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return;
        log_fd = (int)real_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 900);
        real_syscall(SYS_close, fd);
        if (log_fd < 0)
            return;
    }
    char line[192];
    int n = log_sites ? snprintf(line, sizeof(line), "%s %s\n", name, key) : snprintf(line, sizeof(line), "%s\n", name);
    real_syscall(SYS_write, log_fd, line, (size_t)n);
}

/* The frame type of a helper-protocol record ("NVC?" magic, u16 version, u16 type), or -1. */
static int frame_type_of(const void *buf, size_t n)
{
    const unsigned char *b = buf;
    if (buf == NULL || n < 8 || b[0] != 'N' || b[1] != 'V' || b[2] != 'C')
        return -1;
    return b[6] | b[7] << 8;
}

/* 1 when this call must be faulted (errno set for the errno mode). A call is chosen by its
 * name and its rank among the calls of that name, or, with NVC_FAULT_SITE, by its site and
 * its rank among that site's calls (a forked child's sites are its own, unlike its counts). */
static int fault_at(const char *name, void *ra, int frame_type, const char *tag)
{
    char site[128] = "", key[160];
    int saved = errno;
    if (!__atomic_load_n(&armed, __ATOMIC_SEQ_CST) || !ours(ra, site, sizeof(site))) {
        errno = saved;
        return 0;
    }
    if (frame_type >= 0)
        snprintf(key, sizeof(key), "%s/%s%d", site, tag, frame_type);
    else
        snprintf(key, sizeof(key), "%s", site);
    note(name, key);
    errno = saved;
    if (want2 != NULL && __atomic_load_n(&first_fired, __ATOMIC_SEQ_CST) && strcmp(want2, name) == 0 &&
        (want_site2 == NULL || strcmp(want_site2, key) == 0) &&
        __atomic_add_fetch(&seen2, 1, __ATOMIC_SEQ_CST) == want_nth2) {
        note("!fault2", key);
        errno = want_errno2;
        return 1;
    }
    if (want == NULL || strcmp(want, name) != 0 || (want_site != NULL && strcmp(want_site, key) != 0))
        return 0;
    if (__atomic_add_fetch(&seen, 1, __ATOMIC_SEQ_CST) != want_nth)
        return 0;
    note("!fault", key); /* so that a test knows when (and that) the fault was met */
    __atomic_store_n(&first_fired, 1, __ATOMIC_SEQ_CST);
    if (want_mode == M_HANG) {
        for (;;)
            pause();
    }
    errno = want_errno;
    return 1;
}

#define fault(name) fault_at(name, __builtin_return_address(0), -1, "")

#define REAL(ret, name, ...)                                                                                           \
    static ret (*real)(__VA_ARGS__);                                                                                   \
    if (real == NULL)                                                                                                  \
    real = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

/* A faulted transmission in a mode other than errno: what reaches the peer, and the count
 * returned. `send_fn` passes bytes on unfaulted. */
static ssize_t misbehave(const void *buf, size_t n, ssize_t (*send_fn)(const void *, size_t, void *), void *ctx)
{
    if (want_mode == M_GARBAGE) {
        unsigned char copy[65536];
        size_t m = n < sizeof(copy) ? n : sizeof(copy);
        memcpy(copy, buf, m);
        for (size_t i = 0; i < 4 && i < m; i++)
            copy[i] = (unsigned char)~copy[i];
        ssize_t r = send_fn(copy, m, ctx);
        return r == (ssize_t)m ? (ssize_t)n : r;
    }
    ssize_t r = send_fn(buf, n / 2, ctx);
    if (want_mode == M_DIE)
        _exit(1);
    return r;
}

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

int open(const char *path, int flags, ...)
{
    REAL(int, "open", const char *, int, mode_t);
    va_list ap;
    va_start(ap, flags);
    mode_t mode = (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
    va_end(ap);
    return fault("open") ? -1 : real(path, flags, mode);
}

/* The names a program built with _FILE_OFFSET_BITS=64 or _FORTIFY_SOURCE links against:
 * without them its calls go straight to libc and the shim never sees them. */
int open64(const char *path, int flags, ...) __attribute__((alias("open")));
int openat64(int dfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int __open_2(const char *path, int flags)
{
    REAL(int, "open", const char *, int, mode_t);
    return fault("open") ? -1 : real(path, flags, 0);
}
int __open64_2(const char *path, int flags) __attribute__((alias("__open_2")));

int __openat_2(int dfd, const char *path, int flags)
{
    REAL(int, "openat", int, const char *, int, mode_t);
    return fault("openat") ? -1 : real(dfd, path, flags, 0);
}
int __openat64_2(int dfd, const char *path, int flags) __attribute__((alias("__openat_2")));

FILE *fopen(const char *path, const char *m)
{
    REAL(FILE *, "fopen", const char *, const char *);
    return fault("fopen") ? NULL : real(path, m);
}
FILE *fopen64(const char *path, const char *m) __attribute__((alias("fopen")));

DIR *fdopendir(int fd)
{
    REAL(DIR *, "fdopendir", int);
    return fault("fdopendir") ? NULL : real(fd);
}

/* A read error in the middle of a file: the stream's error flag is set, as glibc does.
 * getline() is inlined to __getdelim() when optimising: all three are "getline". */
#define GETDELIM(fn, ...)                                                                                              \
    REAL(ssize_t, fn, char **, size_t *, int, FILE *);                                                                 \
    if (fault("getline")) {                                                                                            \
        f->_flags |= _IO_ERR_SEEN;                                                                                     \
        return -1;                                                                                                     \
    }                                                                                                                  \
    return real(__VA_ARGS__)

ssize_t getline(char **line, size_t *cap, FILE *f)
{
    GETDELIM("getdelim", line, cap, '\n', f);
}
ssize_t getdelim(char **line, size_t *cap, int delim, FILE *f)
{
    GETDELIM("getdelim", line, cap, delim, f);
}
ssize_t __getdelim(char **line, size_t *cap, int delim, FILE *f)
{
    GETDELIM("__getdelim", line, cap, delim, f);
}

/* What a faulted transmission passes on unfaulted. */
struct pass {
    int kind; /* 0 write, 1 send, 2 sendmsg */
    int fd, flags;
    const struct msghdr *m;
    void *real;
};

static ssize_t pass_on(const void *b, size_t len, void *p)
{
    struct pass *x = p;
    if (x->kind == 0)
        return ((ssize_t(*)(int, const void *, size_t))x->real)(x->fd, b, len);
    if (x->kind == 1)
        return ((ssize_t(*)(int, const void *, size_t, int))x->real)(x->fd, b, len, x->flags);
    struct iovec iov = {(void *)b, len};
    struct msghdr h = *x->m;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    return ((ssize_t(*)(int, const struct msghdr *, int))x->real)(x->fd, &h, x->flags);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(ssize_t, "write", int, const void *, size_t);
    if (!fault_at("write", __builtin_return_address(0), frame_type_of(buf, n), "type"))
        return real(fd, buf, n);
    if (want_mode == M_ERRNO)
        return -1;
    struct pass c = {0, fd, 0, NULL, (void *)real};
    return misbehave(buf, n, pass_on, &c);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    REAL(ssize_t, "send", int, const void *, size_t, int);
    if (!fault_at("send", __builtin_return_address(0), frame_type_of(buf, n), "type"))
        return real(fd, buf, n, flags);
    if (want_mode == M_ERRNO)
        return -1;
    struct pass c = {1, fd, flags, NULL, (void *)real};
    return misbehave(buf, n, pass_on, &c);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    REAL(ssize_t, "sendmsg", int, const struct msghdr *, int);
    const void *first = m->msg_iovlen > 0 ? m->msg_iov[0].iov_base : NULL;
    size_t first_len = m->msg_iovlen > 0 ? m->msg_iov[0].iov_len : 0;
    if (!fault_at("sendmsg", __builtin_return_address(0), frame_type_of(first, first_len), "type"))
        return real(fd, m, flags);
    if (want_mode == M_ERRNO || m->msg_iovlen != 1)
        return -1;
    struct pass c = {2, fd, flags, m, (void *)real};
    return misbehave(first, first_len, pass_on, &c);
}

/* A short read (mode short) takes at most half of what was asked for: on a stream the rest
 * waits for the next read, on a datagram or seqpacket socket the rest of the record is lost,
 * as when a peer sends a truncated record (MSG_TRUNC is dropped: it would report the whole
 * length). */
static size_t short_len(size_t n)
{
    return n > 1 ? n / 2 : n;
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    REAL(ssize_t, "recv", int, void *, size_t, int);
    if (!fault("recv"))
        return real(fd, buf, n, flags);
    return want_mode == M_SHORT ? real(fd, buf, short_len(n), flags & ~MSG_TRUNC) : -1;
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    REAL(ssize_t, "recvmsg", int, struct msghdr *, int);
    return fault("recvmsg") ? -1 : real(fd, m, flags);
}

ssize_t read(int fd, void *buf, size_t n)
{
    REAL(ssize_t, "read", int, void *, size_t);
    if (!fault("read"))
        return real(fd, buf, n);
    return want_mode == M_SHORT ? real(fd, buf, short_len(n)) : -1;
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    REAL(ssize_t, "pread", int, void *, size_t, off_t);
    return fault("pread") ? -1 : real(fd, buf, n, off);
}
ssize_t pread64(int fd, void *buf, size_t n, off_t off) __attribute__((alias("pread")));

/* A wait for a helper's socket or pidfd: EINTR when a signal comes, ENOMEM. */
int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    REAL(int, "poll", struct pollfd *, nfds_t, int);
    return fault("poll") ? -1 : real(fds, n, timeout);
}

int close(int fd)
{
    REAL(int, "close", int);
    if (fault("close")) {
        int e = errno;
        real(fd); /* Linux: the fd is gone whatever close() returns */
        errno = e;
        return -1;
    }
    return real(fd);
}

int fstatfs(int fd, struct statfs *s)
{
    REAL(int, "fstatfs", int, struct statfs *);
    return fault("fstatfs") ? -1 : real(fd, s);
}
int fstatfs64(int fd, struct statfs64 *s)
{
    REAL(int, "fstatfs64", int, struct statfs64 *);
    return fault("fstatfs") ? -1 : real(fd, s);
}

int fstat(int fd, struct stat *s)
{
    REAL(int, "fstat", int, struct stat *);
    return fault("fstat") ? -1 : real(fd, s);
}
int fstat64(int fd, struct stat64 *s)
{
    REAL(int, "fstat64", int, struct stat64 *);
    return fault("fstat") ? -1 : real(fd, s);
}

int fstatat(int dfd, const char *path, struct stat *s, int flags)
{
    REAL(int, "fstatat", int, const char *, struct stat *, int);
    return fault("fstatat") ? -1 : real(dfd, path, s, flags);
}
int fstatat64(int dfd, const char *path, struct stat64 *s, int flags)
{
    REAL(int, "fstatat64", int, const char *, struct stat64 *, int);
    return fault("fstatat") ? -1 : real(dfd, path, s, flags);
}

int unlinkat(int dfd, const char *path, int flags)
{
    REAL(int, "unlinkat", int, const char *, int);
    return fault("unlinkat") ? -1 : real(dfd, path, flags);
}

int unlink(const char *path)
{
    REAL(int, "unlink", const char *);
    return fault("unlink") ? -1 : real(path);
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

int socketpair(int domain, int type, int protocol, int sv[2])
{
    REAL(int, "socketpair", int, int, int, int *);
    return fault("socketpair") ? -1 : real(domain, type, protocol, sv);
}

int fcntl(int fd, int cmd, ...)
{
    REAL(int, "fcntl", int, int, long);
    va_list ap;
    va_start(ap, cmd);
    long arg = va_arg(ap, long);
    va_end(ap);
    return fault("fcntl") ? -1 : real(fd, cmd, arg);
}
int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

/* posix_spawn reports an error as its result, not in errno. */
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *attr,
                char *const argv[], char *const envp[])
{
    REAL(int, "posix_spawn", pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
         char *const *, char *const *);
    return fault("posix_spawn") ? errno : real(pid, path, fa, attr, argv, envp);
}

pid_t waitpid(pid_t pid, int *status, int options)
{
    REAL(pid_t, "waitpid", pid_t, int *, int);
    return fault("waitpid") ? -1 : real(pid, status, options);
}

int waitid(idtype_t type, id_t id, siginfo_t *info, int options)
{
    REAL(int, "waitid", idtype_t, id_t, siginfo_t *, int);
    return fault("waitid") ? -1 : real(type, id, info, options);
}

int kill(pid_t pid, int sig)
{
    REAL(int, "kill", pid_t, int);
    return fault("kill") ? -1 : real(pid, sig);
}

pid_t fork(void)
{
    REAL(pid_t, "fork", void);
    return fault("fork") ? -1 : real();
}

int unshare(int flags)
{
    REAL(int, "unshare", int);
    return fault("unshare") ? -1 : real(flags);
}

int chroot(const char *path)
{
    REAL(int, "chroot", const char *);
    return fault("chroot") ? -1 : real(path);
}

int chdir(const char *path)
{
    REAL(int, "chdir", const char *);
    return fault("chdir") ? -1 : real(path);
}

int setgroups(size_t n, const gid_t *list)
{
    REAL(int, "setgroups", size_t, const gid_t *);
    return fault("setgroups") ? -1 : real(n, list);
}

int setresuid(uid_t r, uid_t e, uid_t s)
{
    REAL(int, "setresuid", uid_t, uid_t, uid_t);
    return fault("setresuid") ? -1 : real(r, e, s);
}

int setresgid(gid_t r, gid_t e, gid_t s)
{
    REAL(int, "setresgid", gid_t, gid_t, gid_t);
    return fault("setresgid") ? -1 : real(r, e, s);
}

int prctl(int option, ...)
{
    REAL(int, "prctl", int, unsigned long, unsigned long, unsigned long, unsigned long);
    va_list ap;
    unsigned long a[4];
    va_start(ap, option);
    for (int i = 0; i < 4; i++)
        a[i] = va_arg(ap, unsigned long);
    va_end(ap);
    return fault("prctl") ? -1 : real(option, a[0], a[1], a[2], a[3]);
}

/* dlopen has no errno: a faulted one fails as a missing library would. */
void *dlopen(const char *file, int flags)
{
    REAL(void *, "dlopen", const char *, int);
    return fault("dlopen") ? NULL : real(file, flags);
}

/* The new mount API, openat2, bpf and the pidfd calls go through syscall(2); only those are
 * named. */
long syscall(long nr, ...)
{
    va_list ap;
    long a[6];
    va_start(ap, nr);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    const char *name = nr == SYS_open_tree           ? "sys_open_tree"
                       : nr == SYS_move_mount        ? "sys_move_mount"
                       : nr == SYS_mount_setattr     ? "sys_mount_setattr"
                       : nr == SYS_fsopen            ? "sys_fsopen"
                       : nr == SYS_fsconfig          ? "sys_fsconfig"
                       : nr == SYS_fsmount           ? "sys_fsmount"
                       : nr == SYS_openat2           ? "sys_openat2"
                       : nr == SYS_bpf               ? "sys_bpf"
                       : nr == SYS_pidfd_open        ? "sys_pidfd_open"
                       : nr == SYS_pidfd_send_signal ? "sys_pidfd_send_signal"
                                                     : NULL;
    /* One bpf() site serves every command: the command is part of the site. */
    if (name != NULL && fault_at(name, __builtin_return_address(0), nr == SYS_bpf ? (int)a[0] : -1, "cmd"))
        return -1;
    return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
