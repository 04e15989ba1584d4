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
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "plan_codec.h"

#define STOP_GRACE_MS 5000 /* after SIGTERM: time to roll back and report */
#define EXIT_WAIT_MS 2000  /* after the result: time to exit */
#define KILL_WAIT_MS 1000  /* after SIGKILL; past it a detached thread reaps */

unsigned nvc_plan_apply_timeout_ms = 30000;

static void kill_and_reap(struct nvc_child *c, int *status)
{
    nvc_child_kill(c, KILL_WAIT_MS, NVC_CHILD_REAP_DETACHED, status);
}

static int start(struct nvc_child *c, const char *exec_path, struct nvc_error *err)
{
    /* Nothing of the caller's environment (LD_PRELOAD, ...) reaches a root process
     * that enters a container's namespace: nvc_child_spawn passes none. */
    char *argv[] = {"nvc-ts-exec", NULL};
    int rc = nvc_child_spawn(c, exec_path, argv, SOCK_STREAM, 0, "executor", err);
    if (rc > 0)
        return nvc_error_set(err, NVC_ERR_SERVICE_START, rc, "posix_spawn", exec_path,
                             "cannot start the container executor %s: %s", exec_path, strerror(rc));
    if (rc < 0)
        return -1;
    if (fcntl(c->sock, F_SETFL, fcntl(c->sock, F_GETFL) | O_NONBLOCK) < 0)
        return nvc_error_sys(err, "fcntl", NULL, "cannot prepare the executor socket");
    return 0;
}

/* 1 when the socket is ready for events, 0 at the deadline, -1 on error. */
static int wait_ready(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - nvc_now_ms();
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
static int send_plan(struct nvc_child *c, const uint8_t *buf, size_t len, int64_t deadline)
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
static int read_result(struct nvc_child *c, uint8_t *buf, size_t cap, size_t *got, int64_t deadline)
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
    struct nvc_child c;
    uint8_t *planbuf = NULL, *rbuf = NULL;
    size_t planlen = 0, got = 0;
    int64_t deadline;
    int status = 0, rc = -1, sent, rd, stopped = 0;
    char how[64];

    nvc_child_reset(&c);
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
    deadline = nvc_now_ms() + nvc_plan_apply_timeout_ms;
    sent = send_plan(&c, planbuf, planlen, deadline);
    rd = sent == 1 ? 1 : read_result(&c, rbuf, NVC_PLAN_MAX_RESULT, &got, deadline);
    if (rd == 1) {
        /* Past the deadline: ask it to stop, which rolls the plan back and reports. */
        stopped = 1;
        kill(c.pid, SIGTERM);
        rd = read_result(&c, rbuf, NVC_PLAN_MAX_RESULT, &got, nvc_now_ms() + STOP_GRACE_MS);
    }
    if (rd != 0 || !nvc_child_wait(&c, EXIT_WAIT_MS, &status))
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
    kill_and_reap(&c, NULL); /* nothing when it was reaped already */
    nvc_child_close(&c);
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
