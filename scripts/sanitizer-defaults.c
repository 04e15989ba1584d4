/* Linked into the addon and every helper by npm run test:asan (scripts/test-asan.sh), never
 * shipped. The helpers start with an empty environment (child.c, on purpose) and stderr on
 * /dev/null, so ASAN_OPTIONS cannot reach them: their options are these, compiled with
 * NVC_SAN_LOGS, the directory the script checks at the end.
 *
 * A report ends the process with SIGABRT (abort_on_error), which its parent turns into an
 * error naming the signal: a helper that reports where NVC_SAN_LOGS is out of its sight (the
 * confined ldconfig child pivoted into a rootfs, the executor in a container's mount
 * namespace) still fails its test.
 *
 * LeakSanitizer stops the world through /proc/<pid>/task and ptrace, so it runs only where it
 * can: not in the confined ldconfig helper (its own pid namespace, seccomp), not in a process
 * that /proc does not show under its own pid (the CDI hook, run by runc in the container's pid
 * namespace with the host's /proc), not in a traced process (the --no-pivot test's strace). */
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef NVC_SAN_LOGS
#error "NVC_SAN_LOGS: the directory for the reports"
#endif

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

/* Called before the sanitizer and libc are set up: only raw system calls and plain loops. */

/* The index just past needle in hay[0..n), or -1. */
static long find(const char *hay, long n, const char *needle)
{
    for (long i = 0; i < n; i++) {
        long j = 0;
        while (needle[j] != '\0' && i + j < n && hay[i + j] == needle[j])
            j++;
        if (needle[j] == '\0')
            return i + j;
    }
    return -1;
}

static int is_ldconfig_helper(void)
{
    char exe[4096];
    long n = syscall(SYS_readlink, "/proc/self/exe", exe, sizeof(exe) - 1);
    return n > 0 && find(exe, n, "nvc-ts-ldconfig") >= 0;
}

static int proc_shows_us(void)
{
    char self[32];
    long n = syscall(SYS_readlink, "/proc/self", self, sizeof(self));
    long pid = syscall(SYS_getpid), seen = 0;
    if (n <= 0)
        return 0;
    for (long i = 0; i < n; i++) {
        if (self[i] < '0' || self[i] > '9')
            return 0;
        seen = seen * 10 + (self[i] - '0');
    }
    return seen == pid;
}

static int traced(void)
{
    char st[4096];
    long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    long n = syscall(SYS_read, fd, st, sizeof(st));
    syscall(SYS_close, fd);
    long at = n > 0 ? find(st, n, "TracerPid:") : -1;
    if (at < 0)
        return 1;
    while (at < n && (st[at] == ' ' || st[at] == '\t'))
        at++;
    return at < n && st[at] != '0';
}

#define COMMON "halt_on_error=1:abort_on_error=1:log_exe_name=1:log_path=" NVC_SAN_LOGS

const char *__asan_default_options(void)
{
    int leaks = !is_ldconfig_helper() && proc_shows_us() && !traced();
    return leaks ? "detect_leaks=1:" COMMON "/asan" : "detect_leaks=0:" COMMON "/asan";
}

const char *__ubsan_default_options(void)
{
    return "print_stacktrace=1:" COMMON "/ubsan";
}
