/* nvc_plan_apply: run one plan through a fresh nvc-ts-exec. Spawned with posix_spawn
 * (a fork followed at once by exec: safe from Node's threads), an empty environment
 * and a socketpair at fd 3; only our own pid is ever waited for. A deadline bounds the
 * whole exchange: past it the executor is asked to stop (it rolls back and reports),
 * and killed if it does not. */
#define _GNU_SOURCE
#include "nvc_plan.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plan_codec.h"

#define EXEC_FD 3
#define STOP_GRACE_MS 5000 /* after SIGTERM: time to roll back and report */
#define EXIT_WAIT_MS 2000  /* after the result: time to exit */

unsigned nvc_plan_apply_timeout_ms = 30000;

struct child {
    pid_t pid;
    int pidfd;
    int sock;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *reap_in_background(void *arg)
{
    pid_t pid = (pid_t)(intptr_t)arg;
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* Waits for our child only. Returns 1 once reaped (status filled), 0 on timeout. */
static int wait_child(struct child *c, int timeout_ms, int *status)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(c->pid, status, WNOHANG);
        if (r == c->pid || (r < 0 && errno == ECHILD)) {
            c->pid = 0;
            return 1;
        }
        int64_t left = deadline - now_ms();
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

/* A process stuck in the kernel may outlive SIGKILL for a while: a detached thread
 * reaps it then, so no zombie is left and no other child is ever waited for. */
static void kill_and_reap(struct child *c, int *status)
{
    int st = 0;
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGKILL);
    if (!wait_child(c, 1000, &st)) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &attr, reap_in_background, (void *)(intptr_t)c->pid) != 0) {
            while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
                ;
        }
        pthread_attr_destroy(&attr);
        c->pid = 0;
    }
    if (status)
        *status = st;
}

static int spawn_exec(struct child *c, const char *exec_path, int child_sock, struct nvc_error *err)
{
    char *argv[] = {"nvc-ts-exec", NULL};
    /* Nothing of the caller's environment (LD_PRELOAD, ...) reaches a root process
     * that enters a container's namespace. */
    char *envp[] = {NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int rc;

    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_adddup2(&fa, child_sock, EXEC_FD);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&c->pid, exec_path, &fa, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        c->pid = 0;
        return nvc_error_set(err, NVC_ERR_SERVICE_START, rc, "posix_spawn", exec_path,
                             "cannot start the container executor %s: %s", exec_path, strerror(rc));
    }
    c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    return 0;
}

static int start(struct child *c, const char *exec_path, struct nvc_error *err)
{
    int sv[2], rc;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return nvc_error_sys(err, "socketpair", NULL, "cannot create the executor socket");
    /* dup2 onto the same number would leave FD_CLOEXEC set: keep the child end off 3. */
    if (sv[1] == EXEC_FD) {
        int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, EXEC_FD + 1);
        if (moved < 0) {
            nvc_error_sys(err, "fcntl", NULL, "cannot prepare the executor socket");
            close(sv[0]);
            close(sv[1]);
            return -1;
        }
        close(sv[1]);
        sv[1] = moved;
    }
    rc = spawn_exec(c, exec_path, sv[1], err);
    close(sv[1]);
    if (rc < 0) {
        close(sv[0]);
        return -1;
    }
    c->sock = sv[0];
    if (fcntl(c->sock, F_SETFL, fcntl(c->sock, F_GETFL) | O_NONBLOCK) < 0)
        return nvc_error_sys(err, "fcntl", NULL, "cannot prepare the executor socket");
    return 0;
}

/* 1 when the socket is ready for events, 0 at the deadline, -1 on error. */
static int wait_ready(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = events};
        int r;
        if (left <= 0)
            return 0;
        r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r > 0)
            return 1;
    }
}

/* 0 sent, 1 deadline, -1 the executor stopped reading (it may have reported why). */
static int send_plan(struct child *c, const uint8_t *buf, size_t len, int64_t deadline)
{
    while (len > 0) {
        int r = wait_ready(c->sock, POLLOUT, deadline);
        ssize_t n;
        if (r == 0)
            return 1;
        if (r < 0)
            return -1;
        n = send(c->sock, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    shutdown(c->sock, SHUT_WR);
    return 0;
}

/* Reads until EOF into buf (at most cap bytes). 0 at EOF, 1 at the deadline, -1 when
 * the executor sent more than any result can be. */
static int read_result(struct child *c, uint8_t *buf, size_t cap, size_t *got, int64_t deadline)
{
    for (;;) {
        int r = wait_ready(c->sock, POLLIN, deadline);
        ssize_t n;
        if (r == 0)
            return 1;
        if (r < 0)
            return -1;
        if (*got == cap) {
            uint8_t extra;
            n = recv(c->sock, &extra, 1, MSG_DONTWAIT);
            if (n == 0)
                return 0;
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            return -1;
        }
        n = recv(c->sock, buf + *got, cap - *got, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0 && errno == ECONNRESET)
            return 0;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        *got += (size_t)n;
    }
}

static const char *describe_status(int status, char *buf, size_t n)
{
    if (WIFSIGNALED(status)) {
        const char *abbrev = sigabbrev_np(WTERMSIG(status));
        if (abbrev)
            snprintf(buf, n, "was killed by SIG%s", abbrev);
        else
            snprintf(buf, n, "was killed by signal %d", WTERMSIG(status));
    } else if (WIFEXITED(status)) {
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    } else {
        snprintf(buf, n, "ended");
    }
    return buf;
}

/* Interprets what was read. 0 success, -1 with err. */
static int parse_result(const uint8_t *buf, size_t got, size_t nedits, struct nvc_plan_result *result,
                        struct nvc_error *err)
{
    uint16_t type;
    uint32_t body;
    const char *why = NULL;
    int r;

    if (got < NVC_PLAN_FRAME_HEADER)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL,
                             "malformed reply from the container executor: truncated");
    if (nvc_plan_frame_header(buf, &type, &body, &why) < 0 || type == NVC_FRAME_PLAN ||
        (size_t)body != got - NVC_PLAN_FRAME_HEADER)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL,
                             "malformed reply from the container executor: %s", why ? why : "bad frame");
    r = nvc_plan_decode_result(type, buf + NVC_PLAN_FRAME_HEADER, body, nedits, result, err, &why);
    if (r < 0)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL,
                             "malformed reply from the container executor: %s", why);
    return r == 0 ? 0 : -1;
}

int nvc_plan_apply(const char *exec_path, const struct nvc_plan *plan, struct nvc_plan_result *result,
                   struct nvc_error *err)
{
    struct child c = {.pid = 0, .pidfd = -1, .sock = -1};
    uint8_t *planbuf = NULL, *rbuf = NULL;
    size_t planlen = 0, got = 0;
    int64_t deadline;
    int status = 0, rc = -1, sent, rd, stopped = 0;
    char how[64];

    if (result != NULL) {
        result->outcomes = NULL;
        result->nedits = 0;
    }
    if (exec_path == NULL || result == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "missing executor path or result");
    if (nvc_plan_encode(plan, &planbuf, &planlen, err) < 0)
        return -1;
    rbuf = malloc(NVC_PLAN_MAX_RESULT);
    if (rbuf == NULL) {
        free(planbuf);
        errno = ENOMEM;
        return nvc_error_sys(err, "malloc", NULL, "cannot apply the plan");
    }
    if (start(&c, exec_path, err) < 0)
        goto out;
    deadline = now_ms() + nvc_plan_apply_timeout_ms;
    sent = send_plan(&c, planbuf, planlen, deadline);
    rd = sent == 1 ? 1 : read_result(&c, rbuf, NVC_PLAN_MAX_RESULT, &got, deadline);
    if (rd == 1) {
        /* Past the deadline: ask it to stop, which rolls the plan back and reports. */
        stopped = 1;
        kill(c.pid, SIGTERM);
        rd = read_result(&c, rbuf, NVC_PLAN_MAX_RESULT, &got, now_ms() + STOP_GRACE_MS);
    }
    if (rd != 0 || !wait_child(&c, EXIT_WAIT_MS, &status))
        kill_and_reap(&c, &status);
    if (stopped) {
        if (rd == 0 && got > 0) {
            struct nvc_error reported;
            if (parse_result(rbuf, got, plan->nedits, result, &reported) == 0) {
                rc = 0; /* it finished just as it was told to stop */
                goto out;
            }
            if (reported.code != NVC_ERR_SERVICE_PROTOCOL) {
                /* It stopped and rolled back, or says what it could not undo. */
                nvc_error_set(err, reported.code == NVC_ERR_ROLLBACK ? NVC_ERR_ROLLBACK : NVC_ERR_SERVICE_TIMEOUT,
                              ETIMEDOUT, reported.step, reported.path,
                              "the container executor did not finish within %u ms and was stopped: %.800s",
                              nvc_plan_apply_timeout_ms, reported.msg);
                goto out;
            }
        }
        nvc_error_set(err, NVC_ERR_SERVICE_TIMEOUT, ETIMEDOUT, "apply", NULL,
                      "the container executor did not finish within %u ms and was killed; the container may be "
                      "half configured and should be discarded",
                      nvc_plan_apply_timeout_ms);
        goto out;
    }
    if (rd < 0) {
        nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL,
                      "malformed reply from the container executor: too long or unreadable");
        goto out;
    }
    if (got == 0) {
        nvc_error_set(err, NVC_ERR_SERVICE_CRASHED, 0, "apply", NULL,
                      "the container executor %s without reporting; the container may be half configured",
                      describe_status(status, how, sizeof(how)));
        goto out;
    }
    rc = parse_result(rbuf, got, plan->nedits, result, err);
out:
    if (c.pid > 0)
        kill_and_reap(&c, NULL);
    if (c.sock >= 0)
        close(c.sock);
    if (c.pidfd >= 0)
        close(c.pidfd);
    free(planbuf);
    free(rbuf);
    return rc;
}

void nvc_plan_result_free(struct nvc_plan_result *result)
{
    if (result == NULL)
        return;
    free(result->outcomes);
    result->outcomes = NULL;
    result->nedits = 0;
}
