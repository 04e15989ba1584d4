#define _GNU_SOURCE
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int64_t nvc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_pid(struct nvc_child *c, pid_t pid)
{
    __atomic_store_n(&c->pid, pid, __ATOMIC_SEQ_CST);
}

void nvc_child_signal_pid(pid_t pid, int sig)
{
    if (pid <= 0)
        return;
    /* The group first: its id is the helper's pid, which stays ours until we reap the
     * helper, and no stranger can take a group id while a member of ours holds it. */
    kill(-pid, sig);
    kill(pid, sig);
}

void nvc_child_signal(const struct nvc_child *c, int sig)
{
    nvc_child_signal_pid(__atomic_load_n(&c->pid, __ATOMIC_SEQ_CST), sig);
}

void nvc_child_reset(struct nvc_child *c)
{
    set_pid(c, 0);
    c->pidfd = -1;
    c->sock = -1;
}

static int spawn(pid_t *pid, const char *path, char *const argv[], int child_sock, int null_stdio)
{
    /* An empty environment: nothing of the caller's (LD_PRELOAD, ...) reaches a process
     * that starts as root (CVE-2025-23266). */
    char *envp[] = {NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* The socket first: it may sit on 0-2 if the caller closed its stdio. */
    posix_spawn_file_actions_adddup2(&fa, child_sock, NVC_CHILD_FD);
    if (null_stdio) {
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    }
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    /* Its own session, so its own process group: whatever it forks (a driver library's
     * helper, started as root before the privilege drop) is ended with it. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    int rc = posix_spawn(pid, path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return rc;
}

int nvc_child_spawn(struct nvc_child *c, const char *path, char *const argv[], int sock_type, int null_stdio,
                    const char *what, struct nvc_error *err)
{
    int sv[2];
    pid_t pid = 0;

    nvc_child_reset(c);
    if (socketpair(AF_UNIX, sock_type | SOCK_CLOEXEC, 0, sv) < 0)
        return nvc_error_sys(err, "socketpair", NULL, "cannot create the %s socket", what);
    /* dup2 onto the same number would leave FD_CLOEXEC set: keep the child end off fd 3. */
    if (sv[1] == NVC_CHILD_FD) {
        int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, NVC_CHILD_FD + 1);
        if (moved < 0) {
            nvc_error_sys(err, "fcntl", NULL, "cannot prepare the %s socket", what);
            close(sv[0]);
            close(sv[1]);
            return -1;
        }
        close(sv[1]);
        sv[1] = moved;
    }
    int rc = spawn(&pid, path, argv, sv[1], null_stdio);
    close(sv[1]);
    if (rc != 0) {
        close(sv[0]);
        return rc;
    }
    set_pid(c, pid);
    c->sock = sv[0];
    c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    return 0;
}

int nvc_child_wait(struct nvc_child *c, int timeout_ms, int *status)
{
    if (c->pid <= 0)
        return 1; /* never waitpid(0) or (-1): those would reap libuv's children */
    int64_t deadline = nvc_now_ms() + timeout_ms;
    for (;;) {
        /* Look without reaping, clear the pid, then reap: until the reap the pid cannot be
         * recycled, so nvc_context_kill (which reads it unlocked) never signals a stranger. */
        siginfo_t info;
        memset(&info, 0, sizeof(info));
        int r = waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOHANG | WNOWAIT);
        if ((r == 0 && info.si_pid == c->pid) || (r < 0 && errno == ECHILD)) {
            pid_t pid = c->pid;
            /* Gone but not reaped: its group id is still ours, so what it left behind
             * (a forked child outliving it) is ended now, before the id can be reused. */
            if (r == 0)
                kill(-pid, SIGKILL);
            set_pid(c, 0);
            if (r == 0)
                while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                    ;
            return 1;
        }
        int64_t left = deadline - nvc_now_ms();
        if (left <= 0)
            return 0;
        if (c->pidfd >= 0) {
            struct pollfd p = {.fd = c->pidfd, .events = POLLIN};
            poll(&p, 1, (int)(left < 50 ? left : 50));
        } else {
            struct timespec ts = {0, 2 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

static void *reap_in_background(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* A process stuck in the kernel (a hung driver ioctl) may outlive SIGKILL for a while. */
int nvc_child_kill(struct nvc_child *c, int wait_ms, int *status)
{
    int st = 0, reaped = 1;
    pid_t pid = c->pid;
    if (pid <= 0)
        return 0;
    nvc_child_signal_pid(pid, SIGKILL);
    if (!nvc_child_wait(c, wait_ms, &st)) {
        pthread_t t;
        pthread_attr_t attr;
        int detached;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        detached = pthread_create(&t, &attr, reap_in_background, (void *)(intptr_t)pid) == 0;
        pthread_attr_destroy(&attr);
        if (!detached)
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        reaped = !detached;
        set_pid(c, 0);
    }
    if (status)
        *status = st;
    return reaped;
}

void nvc_child_close(struct nvc_child *c)
{
    if (c->sock >= 0)
        close(c->sock);
    if (c->pidfd >= 0)
        close(c->pidfd);
    c->sock = -1;
    c->pidfd = -1;
}

void nvc_wait_block(const struct nvc_wait *w)
{
    int64_t left = w->deadline - nvc_now_ms();
    struct pollfd p = {.fd = w->fd, .events = w->events};
    if (left <= 0)
        return;
    /* EINTR and the rest: the caller's next step looks again. */
    poll(&p, w->fd >= 0 ? 1 : 0, left > INT32_MAX ? INT32_MAX : (int)left);
}

/* Where there is no pidfd (before Linux 5.3) an exit is looked for in short steps. */
#define NO_PIDFD_STEP_MS 20

void nvc_child_wait_for(const struct nvc_child *c, int64_t deadline, struct nvc_wait *w)
{
    w->fd = c->pidfd;
    w->events = POLLIN;
    w->deadline = deadline;
    if (c->pidfd < 0 && deadline - nvc_now_ms() > NO_PIDFD_STEP_MS)
        w->deadline = nvc_now_ms() + NO_PIDFD_STEP_MS;
}

static void send_kill(struct nvc_child *c, struct nvc_child_end *e)
{
    nvc_child_signal(c, SIGKILL);
    e->killed = 1;
    e->deadline = nvc_now_ms() + e->kill_ms;
}

void nvc_child_end_begin(struct nvc_child *c, struct nvc_child_end *e, int grace_ms, int kill_ms)
{
    e->kill_ms = kill_ms;
    e->killed = 0;
    e->status = 0;
    e->reaped = 0;
    e->deadline = nvc_now_ms() + grace_ms;
    if (grace_ms <= 0)
        send_kill(c, e);
}

int nvc_child_end_step(struct nvc_child *c, struct nvc_child_end *e, struct nvc_wait *w)
{
    for (;;) {
        if (nvc_child_wait(c, 0, &e->status)) {
            e->reaped = 1;
            return 1;
        }
        if (nvc_now_ms() < e->deadline) {
            nvc_child_wait_for(c, e->deadline, w);
            return 0;
        }
        if (!e->killed) {
            send_kill(c, e);
            continue;
        }
        /* Killed and still there: stuck in the kernel. Do not hold the caller for it. */
        nvc_child_kill(c, 0, NULL);
        e->status = SIGKILL; /* the wait status of a process killed by SIGKILL */
        return 1;
    }
}
