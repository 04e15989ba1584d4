/* nvc_plan_apply: run one plan through a fresh nvc-ts-exec. Spawned with posix_spawn
 * (a fork followed at once by exec: safe from Node's threads), an empty environment
 * and a socketpair at fd 3; only our own pid is ever waited for. A deadline bounds the
 * whole exchange: past it the executor is asked to stop (it rolls back and reports),
 * and killed if it does not.
 *
 * The exchange is a state machine (nvc_plan_job_*) that never blocks: the synchronous
 * nvc_plan_apply drives it with poll, the addon with libuv. */
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
#define EXIT_WAIT_MS  2000 /* after the result: time to exit */
#define KILL_WAIT_MS  1000 /* after SIGKILL; past it a detached thread reaps */

unsigned nvc_plan_apply_timeout_ms = 30000;

enum phase {
    SENDING, /* the plan, as the socket takes it */
    READING, /* the result, until EOF */
    ENDING,  /* the executor's exit (or its kill) */
    OVER,
};

struct nvc_plan_job {
    struct nvc_child c;
    enum phase phase;
    uint8_t *plan;
    size_t planlen, sent;
    size_t nedits;
    int teardown;    /* 1: a teardown request, whose answer is UNDONE */
    size_t nchanges; /* teardown: changes sent */
    uint8_t *rbuf;   /* grows as the answer comes, up to NVC_PLAN_MAX_RESULT */
    size_t rcap;
    size_t got;
    int64_t deadline;
    int stopped;    /* past the deadline, SIGTERM sent */
    int rd;         /* how reading ended: 0 EOF, 1 deadline, -1 too long or unreadable */
    int send_errno; /* why the plan could not all be sent, 0 if it was */
    int read_errno; /* why the report could not be read (the executor was then stopped), or 0 */
    struct nvc_child_end end;
    unsigned timeout_ms; /* nvc_plan_apply_timeout_ms when started */
};

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
    int fl = fcntl(c->sock, F_GETFL);
    if (fl < 0 || fcntl(c->sock, F_SETFL, fl | O_NONBLOCK) < 0)
        return nvc_error_sys(err, "fcntl", NULL, "cannot prepare the executor socket");
    return 0;
}

void nvc_plan_job_free(struct nvc_plan_job *j)
{
    if (j == NULL)
        return;
    if (j->c.pid > 0) {
        /* Abandoned while it works: ask it to stop (it rolls the plan back), and let a
         * detached thread reap it. */
        kill(j->c.pid, SIGTERM);
        nvc_child_kill(&j->c, 0, NULL);
    }
    nvc_child_close(&j->c);
    free(j->plan);
    free(j->rbuf);
    free(j);
}

/* Takes the encoded request (or NULL when encoding failed: err is set). */
static struct nvc_plan_job *job_start(const char *exec_path, struct nvc_plan_job *j, struct nvc_error *err)
{
    /* Most answers are a few KiB; a long change list grows it (read_some). */
    j->rcap = 64 * 1024;
    j->rbuf = malloc(j->rcap);
    if (j->rbuf == NULL) {
        errno = ENOMEM;
        nvc_error_sys(err, "malloc", NULL, "cannot start the container executor");
        goto fail;
    }
    if (start(&j->c, exec_path, err) < 0)
        goto fail;
    j->timeout_ms = nvc_plan_apply_timeout_ms;
    j->deadline = nvc_now_ms() + j->timeout_ms;
    j->phase = SENDING;
    return j;
fail:
    nvc_plan_job_free(j);
    return NULL;
}

static struct nvc_plan_job *job_new(const char *exec_path, struct nvc_error *err)
{
    struct nvc_plan_job *j;

    if (exec_path == NULL) {
        nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "missing executor path or result");
        return NULL;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        errno = ENOMEM;
        nvc_error_sys(err, "malloc", NULL, "cannot start the container executor");
        return NULL;
    }
    nvc_child_reset(&j->c);
    return j;
}

struct nvc_plan_job *nvc_plan_job_start(const char *exec_path, const struct nvc_plan *plan, struct nvc_error *err)
{
    struct nvc_plan_job *j = job_new(exec_path, err);

    if (j == NULL)
        return NULL;
    if (nvc_plan_encode(plan, &j->plan, &j->planlen, err) < 0) {
        nvc_plan_job_free(j);
        return NULL;
    }
    j->nedits = plan->nedits;
    return job_start(exec_path, j, err);
}

struct nvc_plan_job *nvc_teardown_job_start(const char *exec_path, const struct nvc_teardown *req,
                                            struct nvc_error *err)
{
    struct nvc_plan_job *j = job_new(exec_path, err);

    if (j == NULL)
        return NULL;
    if (nvc_teardown_encode(req, &j->plan, &j->planlen, err) < 0) {
        nvc_plan_job_free(j);
        return NULL;
    }
    j->teardown = 1;
    j->nchanges = req->nchanges;
    return job_start(exec_path, j, err);
}

/* As much of the plan as the socket takes now. 0 all sent, 1 more to send, -1 the
 * executor stopped reading (it may have reported why). */
static int send_some(struct nvc_plan_job *j)
{
    while (j->sent < j->planlen) {
        ssize_t n = send(j->c.sock, j->plan + j->sent, j->planlen - j->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 1;
        if (n <= 0) {
            /* The executor may still be waiting for the rest (ENOBUFS, ENOMEM...): our end is
             * shut so that it reads a truncated plan, refuses it and ends, instead of both
             * sides waiting until the deadline (fault-injection-client: send ENOBUFS). */
            j->send_errno = n < 0 ? errno : EIO;
            shutdown(j->c.sock, SHUT_WR);
            return -1;
        }
        j->sent += (size_t)n;
    }
    shutdown(j->c.sock, SHUT_WR);
    return 0;
}

/* As much of the result as there is now. 0 at EOF, 1 more to come, -1 when the
 * executor sent more than any result can be or the socket failed. */
static int read_some(struct nvc_plan_job *j)
{
    for (;;) {
        ssize_t n;
        if (j->got == j->rcap && j->rcap < NVC_PLAN_MAX_RESULT) {
            size_t want = j->rcap * 2 < NVC_PLAN_MAX_RESULT ? j->rcap * 2 : NVC_PLAN_MAX_RESULT;
            uint8_t *p = realloc(j->rbuf, want);
            if (p == NULL)
                return -1;
            j->rbuf = p;
            j->rcap = want;
        }
        if (j->got == NVC_PLAN_MAX_RESULT) {
            uint8_t extra;
            n = recv(j->c.sock, &extra, 1, MSG_DONTWAIT);
            if (n == 0)
                return 0;
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return 1;
            return -1;
        }
        n = recv(j->c.sock, j->rbuf + j->got, j->rcap - j->got, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 1;
        if (n < 0 && errno == ECONNRESET)
            return 0;
        if (n < 0) {
            j->read_errno = errno;
            return 2;
        }
        if (n == 0)
            return 0;
        j->got += (size_t)n;
    }
}

/* Past the deadline, or the report could not be read: the executor is asked to stop, which
 * rolls the plan back and reports; reading goes on for a while. */
static void ask_to_stop(struct nvc_plan_job *j)
{
    j->stopped = 1;
    kill(j->c.pid, SIGTERM);
    j->phase = READING;
    j->deadline = nvc_now_ms() + STOP_GRACE_MS;
}

static void begin_ending(struct nvc_plan_job *j, int rd)
{
    j->rd = rd;
    j->phase = ENDING;
    /* A clean EOF gives it time to exit; anything else ends it at once. */
    nvc_child_end_begin(&j->c, &j->end, rd == 0 ? EXIT_WAIT_MS : 0, KILL_WAIT_MS);
}

void nvc_plan_job_set_timeout(struct nvc_plan_job *j, unsigned timeout_ms)
{
    if (j == NULL || timeout_ms == 0)
        return;
    j->timeout_ms = timeout_ms;
    j->deadline = nvc_now_ms() + timeout_ms;
}

int nvc_plan_job_step(struct nvc_plan_job *j, struct nvc_wait *w)
{
    for (;;) {
        switch (j->phase) {
        case SENDING: {
            int r = send_some(j);
            if (r != 1) {
                j->phase = READING; /* sent, or it stopped reading: either way, hear what it says */
                continue;
            }
            if (nvc_now_ms() >= j->deadline)
                break; /* to the deadline handling below */
            *w = (struct nvc_wait){.fd = j->c.sock, .events = POLLOUT, .deadline = j->deadline};
            return 0;
        }
        case READING: {
            int r = read_some(j);
            if (r == 2 && !j->stopped) {
                /* Killing it now would leave the container half configured (fault-injection-
                 * client: recv ENOMEM): it is asked to stop and roll back instead, and its
                 * report is read again. */
                ask_to_stop(j);
                continue;
            }
            if (r != 1) {
                begin_ending(j, r == 2 ? -1 : r);
                continue;
            }
            if (nvc_now_ms() >= j->deadline)
                break;
            *w = (struct nvc_wait){.fd = j->c.sock, .events = POLLIN, .deadline = j->deadline};
            return 0;
        }
        case ENDING:
            if (!nvc_child_end_step(&j->c, &j->end, w))
                return 0;
            j->phase = OVER;
            continue;
        case OVER: return 1;
        }
        /* Past the deadline while sending or reading. */
        if (!j->stopped) {
            ask_to_stop(j);
            continue;
        }
        begin_ending(j, 1);
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

/* The decoded answer of either request. */
union job_result {
    struct nvc_plan_result plan;
    struct nvc_teardown_result teardown;
};

/* Interprets what was read. 0 success, -1 with err. */
static int parse_result(const struct nvc_plan_job *j, union job_result *result, struct nvc_error *err)
{
    const uint8_t *buf = j->rbuf;
    size_t got = j->got;
    uint16_t type;
    uint32_t body;
    const char *why = NULL;
    int r;

    if (got < NVC_PLAN_FRAME_HEADER)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL,
                             "malformed reply from the container executor: truncated");
    if (nvc_plan_frame_header(buf, &type, &body, &why) < 0 || type == NVC_FRAME_PLAN || type == NVC_FRAME_TEARDOWN ||
        (size_t)body != got - NVC_PLAN_FRAME_HEADER)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL,
                             "malformed reply from the container executor: %s", why ? why : "bad frame");
    if (j->teardown)
        r = nvc_teardown_decode_result(type, buf + NVC_PLAN_FRAME_HEADER, body, j->nchanges, &result->teardown, err,
                                       &why);
    else if (type == NVC_FRAME_UNDONE)
        r = -1, why = "unexpected frame type";
    else
        r = nvc_plan_decode_result(type, buf + NVC_PLAN_FRAME_HEADER, body, j->nedits, &result->plan, err, &why);
    if (r < 0)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL,
                             "malformed reply from the container executor: %s", why);
    return r == 0 ? 0 : -1;
}

static int job_finish(struct nvc_plan_job *j, union job_result *result, struct nvc_error *err)
{
    int status = j->end.status;
    char how[64];

    if (j->phase != OVER)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "the executor has not finished");
    if (j->stopped && j->read_errno != 0) {
        if (j->rd == 0 && j->got > 0) {
            struct nvc_error reported;
            if (parse_result(j, result, &reported) == 0)
                return 0; /* it finished before it was told to stop */
            if (reported.code != NVC_ERR_SERVICE_PROTOCOL)
                return nvc_error_set(err, reported.code == NVC_ERR_ROLLBACK ? NVC_ERR_ROLLBACK : NVC_ERR_SYSTEM,
                                     j->read_errno, reported.step, reported.path,
                                     "cannot read the container executor's report (%s); it was stopped: %.800s",
                                     strerror(j->read_errno), reported.msg);
        }
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, j->read_errno, "recv", NULL,
                             "cannot read the container executor's report (%s); it was stopped, and the container "
                             "may be half configured and should be discarded",
                             strerror(j->read_errno));
    }
    if (j->stopped) {
        if (j->rd == 0 && j->got > 0) {
            struct nvc_error reported;
            if (parse_result(j, result, &reported) == 0)
                return 0; /* it finished just as it was told to stop */
            if (reported.code != NVC_ERR_SERVICE_PROTOCOL)
                /* It stopped and rolled back, or says what it could not undo. */
                return nvc_error_set(err,
                                     reported.code == NVC_ERR_ROLLBACK ? NVC_ERR_ROLLBACK : NVC_ERR_SERVICE_TIMEOUT,
                                     ETIMEDOUT, reported.step, reported.path,
                                     "the container executor did not finish within %u ms and was stopped: %.800s",
                                     j->timeout_ms, reported.msg);
        }
        return nvc_error_set(err, NVC_ERR_SERVICE_TIMEOUT, ETIMEDOUT, "apply", NULL,
                             j->teardown ? "the container executor did not finish the teardown within %u ms and was "
                                           "killed; the teardown may be partial (run it again)"
                                         : "the container executor did not finish within %u ms and was killed; the "
                                           "container may be half configured and should be discarded",
                             j->timeout_ms);
    }
    /* A peer that closed before taking the whole plan (EPIPE, ECONNRESET) did so for a reason
     * of its own: what it reported, or else its exit status, is the cause, and is read below.
     * Any other failed write is ours, and the cause. */
    if (j->send_errno != 0 && !j->stopped && j->send_errno != EPIPE && j->send_errno != ECONNRESET) {
        /* Whatever the executor made of a truncated plan, the cause is the failed write; it
         * applied nothing (the plan is read whole before any change). */
        struct nvc_error reported;
        if (j->got > 0 && parse_result(j, result, &reported) == 0)
            return 0;
        errno = j->send_errno;
        return nvc_error_sys(err, "send", NULL, "cannot send the plan to the container executor");
    }
    if (j->rd < 0)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL,
                             "malformed reply from the container executor: too long or unreadable");
    if (j->got == 0)
        return nvc_error_set(err, NVC_ERR_SERVICE_CRASHED, 0, "apply", NULL,
                             "the container executor %s without reporting; the container may be half %s",
                             describe_status(status, how, sizeof(how)), j->teardown ? "torn down" : "configured");
    return parse_result(j, result, err);
}

int nvc_plan_job_finish(struct nvc_plan_job *j, struct nvc_plan_result *result, struct nvc_error *err)
{
    union job_result r;
    int rc;

    memset(result, 0, sizeof(*result));
    result->edits_us = NVC_PLAN_NO_TIME;
    if (j->teardown)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "this job is a teardown");
    memset(&r, 0, sizeof(r));
    rc = job_finish(j, &r, err);
    if (rc == 0)
        *result = r.plan;
    return rc;
}

int nvc_teardown_job_finish(struct nvc_plan_job *j, struct nvc_teardown_result *result, struct nvc_error *err)
{
    union job_result r;
    int rc;

    memset(result, 0, sizeof(*result));
    if (!j->teardown)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", NULL, "this job applies a plan");
    memset(&r, 0, sizeof(r));
    rc = job_finish(j, &r, err);
    if (rc == 0)
        *result = r.teardown;
    return rc;
}

int nvc_teardown(const char *exec_path, const struct nvc_teardown *req, struct nvc_teardown_result *result,
                 struct nvc_error *err)
{
    struct nvc_plan_job *j;
    struct nvc_wait w;
    int rc;

    if (result == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", NULL, "missing result");
    memset(result, 0, sizeof(*result));
    j = nvc_teardown_job_start(exec_path, req, err);
    if (j == NULL)
        return -1;
    while (!nvc_plan_job_step(j, &w))
        nvc_wait_block(&w);
    rc = nvc_teardown_job_finish(j, result, err);
    nvc_plan_job_free(j);
    return rc;
}

void nvc_teardown_result_free(struct nvc_teardown_result *result)
{
    if (result == NULL)
        return;
    free(result->reports);
    result->reports = NULL;
    result->nchanges = 0;
}

int nvc_plan_apply(const char *exec_path, const struct nvc_plan *plan, struct nvc_plan_result *result,
                   struct nvc_error *err)
{
    struct nvc_plan_job *j;
    struct nvc_wait w;
    int rc;

    if (result != NULL)
        memset(result, 0, sizeof(*result));
    if (exec_path == NULL || result == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "missing executor path or result");
    j = nvc_plan_job_start(exec_path, plan, err);
    if (j == NULL)
        return -1;
    while (!nvc_plan_job_step(j, &w))
        nvc_wait_block(&w);
    rc = nvc_plan_job_finish(j, result, err);
    nvc_plan_job_free(j);
    return rc;
}

void nvc_plan_result_free(struct nvc_plan_result *result)
{
    if (result == NULL)
        return;
    free(result->outcomes);
    nvc_changes_free(result->changes, result->nchanges);
    memset(result, 0, sizeof(*result));
}
