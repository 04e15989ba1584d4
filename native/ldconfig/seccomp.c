#define _GNU_SOURCE
#include "ldconfig.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The allow-list a confined ldconfig runs under. ldconfig only reads directories and
 * ELF headers and writes one cache file (plus its symlinks and aux cache); a Debian-style
 * wrapper script runs a shell that execs the real binary. So: file system calls on paths
 * and fds, memory management, the usual libc start-up, and exec. Everything that reaches
 * beyond the process (sockets, ptrace, mount, namespaces, bpf, keyrings, io_uring,
 * fork/clone, ioctl) is refused with ENOSYS, which libc treats as "not available here"
 * and falls back from where it can. */

#if defined(__x86_64__)
#define LC_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define LC_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "nvc-ts-ldconfig: no seccomp allow-list for this architecture"
#endif

static const int allowed[] = {
    /* file descriptors and files */
    __NR_read,
    __NR_write,
    __NR_readv,
    __NR_writev,
    __NR_pread64,
    __NR_pwrite64,
    __NR_close,
    __NR_lseek,
    __NR_fstat,
    __NR_newfstatat,
    __NR_statx,
    __NR_faccessat,
    __NR_readlinkat,
    __NR_getdents64,
    __NR_fcntl,
    __NR_dup,
    __NR_dup3,
    __NR_openat,
    __NR_renameat,
    __NR_renameat2,
    __NR_unlinkat,
    __NR_symlinkat,
    __NR_mkdirat,
    __NR_fchmod,
    __NR_fchmodat,
    __NR_fsync,
    __NR_fdatasync,
    __NR_ftruncate,
    __NR_chdir,
    __NR_fchdir,
    __NR_getcwd,
    __NR_umask,
    __NR_fadvise64,
#ifdef __NR_faccessat2
    __NR_faccessat2,
#endif
#ifdef __NR_close_range
    __NR_close_range,
#endif
#ifdef __NR_open
    __NR_open,
    __NR_stat,
    __NR_lstat,
    __NR_access,
    __NR_readlink,
    __NR_getdents,
    __NR_dup2,
    __NR_rename,
    __NR_unlink,
    __NR_symlink,
    __NR_mkdir,
    __NR_chmod,
#endif
    /* memory */
    __NR_brk,
    __NR_mmap,
    __NR_munmap,
    __NR_mprotect,
    __NR_mremap,
    __NR_madvise,
    /* process start-up, identity, signals to itself, time */
    __NR_execve,
    __NR_execveat,
    __NR_exit,
    __NR_exit_group,
    __NR_set_tid_address,
    __NR_set_robust_list,
    __NR_rseq,
    __NR_prlimit64,
    __NR_getrlimit,
    __NR_getpid,
    __NR_gettid,
    __NR_getppid,
    __NR_getuid,
    __NR_geteuid,
    __NR_getgid,
    __NR_getegid,
    __NR_getgroups,
    __NR_getresuid,
    __NR_getresgid,
    __NR_getpgid,
    __NR_uname,
    __NR_rt_sigaction,
    __NR_rt_sigprocmask,
    __NR_rt_sigreturn,
    __NR_sigaltstack,
    __NR_kill,
    __NR_tgkill,
    __NR_tkill,
    __NR_futex,
    __NR_getrandom,
    __NR_clock_gettime,
    __NR_clock_getres,
    __NR_gettimeofday,
    __NR_nanosleep,
    __NR_clock_nanosleep,
    __NR_sched_yield,
    __NR_sched_getaffinity,
    __NR_sysinfo,
#ifdef __NR_arch_prctl
    __NR_arch_prctl,
#endif
#ifdef __NR_getpgrp
    __NR_getpgrp,
#endif
#ifdef __NR_time
    __NR_time,
#endif
};

#define NALLOWED (sizeof(allowed) / sizeof(allowed[0]))
/* Classic BPF jump offsets are 8 bits: the list must stay short enough to jump over. */
_Static_assert(NALLOWED < 254, "the seccomp allow-list outgrew 8-bit jump offsets");
/* arch check (3) + x32 check (2) + one compare per syscall + allow + deny */
#define NPROG (5 + NALLOWED + 2)

int lc_install_seccomp(void)
{
    struct sock_filter prog[NPROG];
    size_t n = 0;

    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    /* Another ABI's numbers mean other calls (i386 via int 0x80): refuse all of them. */
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, LC_AUDIT_ARCH, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    /* x32 calls share AUDIT_ARCH_X86_64 and carry bit 30: jump straight to the refusal. */
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, (unsigned char)(NALLOWED + 1), 0);
#else
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0);
#endif
    for (size_t i = 0; i < NALLOWED; i++) {
        /* On a match jump over the remaining compares to the ALLOW. */
        unsigned char to_allow = (unsigned char)(NALLOWED - 1 - i);
        prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)allowed[i], to_allow, 0);
    }
    /* Fell through every compare: jump over the ALLOW. */
    prog[n - 1].jf = 1;
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);

    struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};
    return (int)syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog);
}
