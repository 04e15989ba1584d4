#define _GNU_SOURCE
#include "nvc_ldconfig.h"

#include <errno.h>
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
#include "ldconfig_report.h"

/* The core's side of nvc-ts-ldconfig: check the request, spawn the helper with an empty
 * environment, wait for its one report with a deadline, reap exactly our own child, and
 * turn the report into a result or an NVC_ERR_LDCONFIG error. The helper enforces the
 * request's timeout itself; ours is a backstop for a helper that hangs. The wait is a
 * state machine (nvc_ldconfig_job_*) that never blocks: nvc_ldconfig_run drives it with
 * poll, the addon with libuv. */

#define BACKSTOP_GRACE_MS 5000
#define REAP_WAIT_MS      2000

static int bad_request(struct nvc_error *err, const char *field, const char *why)
{
    return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, field, NULL, "invalid ldconfig request: %s", why);
}

static int check_request(const char *helper_path, const struct nvc_ldconfig_request *req,
                         struct nvc_ldconfig_result *res, struct nvc_error *err)
{
    if (helper_path == NULL || helper_path[0] == '\0')
        return bad_request(err, "helper", "no path to nvc-ts-ldconfig");
    if (req == NULL || res == NULL)
        return bad_request(err, "request", "no request or result");
    if (req->pid < 0)
        return bad_request(err, "pid", "the container pid is negative");
    if (req->rootfs == NULL || req->rootfs[0] != '/')
        return bad_request(err, "rootfs", "the rootfs must be an absolute path");
    const char *bin = req->ldconfig;
    if (bin != NULL && bin[0] == '@')
        bin++;
    if (bin == NULL || bin[0] != '/')
        return bad_request(err, "ldconfig", "the ldconfig must be an absolute path, '@'-prefixed for the host's");
    if (req->ndirs > NVC_LDCONFIG_MAX_DIRS)
        return bad_request(err, "dirs", "too many library directories");
    if (req->ndirs > 0 && req->dirs == NULL)
        return bad_request(err, "dirs", "ndirs without dirs");
    for (size_t i = 0; i < req->ndirs; i++)
        if (req->dirs[i] == NULL || req->dirs[i][0] != '/')
            return bad_request(err, "dirs", "library directories must be absolute paths");
    if (req->uid == (uid_t)-1 || req->gid == (gid_t)-1)
        return bad_request(err, "uid", "the container owner uid/gid must be set");
    return 0;
}

/* Append ldconfig's output to a message, as much of its end as fits, on one line and
 * without control characters (it is the image's text when the binary is the image's). */
static void append_output(char *msg, size_t size, const char *sep, const struct nvc_ldconfig_report *rep)
{
    size_t len = rep->output_len <= sizeof(rep->output) ? rep->output_len : sizeof(rep->output);
    const char *out = rep->output;
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' ' || out[len - 1] == '\r' || out[len - 1] == '\t'))
        len--;
    while (len > 0 && (out[0] == '\n' || out[0] == ' '))
        out++, len--;
    size_t used = strlen(msg);
    size_t seplen = strlen(sep);
    if (len == 0 || used + seplen + 4 >= size)
        return;
    size_t room = size - used - seplen - 1;
    int cut = rep->output_cut != 0;
    if (len > room) {
        out += len - (room - 3);
        len = room - 3;
        cut = 1;
    } else if (cut && len + 3 > room) {
        out += 3;
        len -= 3;
    }
    char *p = msg + used;
    memcpy(p, sep, seplen);
    p += seplen;
    if (cut) {
        memcpy(p, "...", 3);
        p += 3;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)out[i];
        *p++ = c == '\n' || c == '\t' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    *p = '\0';
}

static void describe_binary(const struct nvc_ldconfig_request *req, char *out, size_t n)
{
    if (req->ldconfig[0] == '@')
        snprintf(out, n, "the host's %s", req->ldconfig + 1);
    else
        snprintf(out, n, "the container's %s", req->ldconfig);
}

static int interpret(const struct nvc_ldconfig_request *req, const struct nvc_ldconfig_report *rep,
                     struct nvc_ldconfig_result *res, struct nvc_error *err)
{
    char bin[320];
    const char *path = req->ldconfig + (req->ldconfig[0] == '@');
    describe_binary(req, bin, sizeof(bin));

    switch (rep->outcome) {
    case NVC_LDCONFIG_EXITED:
        if (rep->status == 0) {
            res->ran = 1;
            append_output(res->warning, sizeof(res->warning), "ldconfig printed: ", rep);
            return 0;
        }
        nvc_error_set(err, NVC_ERR_LDCONFIG, 0, "ldconfig", path, "ldconfig (%s) failed with exit status %d", bin,
                      rep->status);
        break;
    case NVC_LDCONFIG_SIGNALED: {
        const char *abbrev = sigabbrev_np(rep->status);
        nvc_error_set(err, NVC_ERR_LDCONFIG, 0, "ldconfig", path, "ldconfig (%s) was killed by SIG%s (signal %d)%s",
                      bin, abbrev ? abbrev : "?", rep->status,
                      rep->status == SIGKILL || rep->status == SIGXCPU ? " (limits: 10 s CPU, 2 GiB memory)" : "");
        break;
    }
    case NVC_LDCONFIG_OVER_BUDGET:
        nvc_error_set(err, NVC_ERR_LDCONFIG, EDQUOT, "budget", path, "ldconfig (%s) %s", bin, rep->error.msg);
        break;
    case NVC_LDCONFIG_TIMEOUT:
        nvc_error_set(err, NVC_ERR_LDCONFIG, ETIMEDOUT, "ldconfig", path,
                      "ldconfig (%s) did not finish within %d ms and was killed", bin, rep->status);
        break;
    case NVC_LDCONFIG_MISSING:
        res->ran = 0;
        snprintf(res->warning, sizeof(res->warning), "%.440s; the container's ld.so.cache was not updated",
                 rep->error.msg);
        return 0;
    case NVC_LDCONFIG_SETUP_FAILED:
        nvc_error_set(err, NVC_ERR_LDCONFIG, rep->error.sys_errno, rep->error.step, path,
                      "cannot run ldconfig (%s): %s", bin, rep->error.msg);
        break;
    default:
        return nvc_error_set(err, NVC_ERR_LDCONFIG, 0, "ldconfig", path,
                             "nvc-ts-ldconfig sent an unknown outcome %u (a helper from another build?)", rep->outcome);
    }
    append_output(err->msg, sizeof(err->msg), "; output: ", rep);
    return -1;
}

static int spawn_helper(struct nvc_child *c, const char *helper_path, const struct nvc_ldconfig_request *req,
                        struct nvc_error *err)
{
    char spid[24], sstart[24], suid[24], sgid[24], stimeout[24];
    unsigned timeout = req->timeout_ms ? req->timeout_ms : NVC_LDCONFIG_DEFAULT_TIMEOUT_MS;
    snprintf(spid, sizeof(spid), "%ld", (long)req->pid);
    snprintf(sstart, sizeof(sstart), "%llu", (unsigned long long)req->pid_start);
    snprintf(suid, sizeof(suid), "%lu", (unsigned long)req->uid);
    snprintf(sgid, sizeof(sgid), "%lu", (unsigned long)req->gid);
    snprintf(stimeout, sizeof(stimeout), "%u", timeout);

    const char *argv[16 + NVC_LDCONFIG_MAX_DIRS];
    size_t n = 0;
    argv[n++] = "nvc-ts-ldconfig";
    argv[n++] = "--pid", argv[n++] = spid;
    argv[n++] = "--pid-start", argv[n++] = sstart;
    argv[n++] = "--rootfs", argv[n++] = req->rootfs;
    argv[n++] = "--ldconfig", argv[n++] = req->ldconfig;
    argv[n++] = "--uid", argv[n++] = suid;
    argv[n++] = "--gid", argv[n++] = sgid;
    argv[n++] = "--timeout-ms", argv[n++] = stimeout;
    if (req->no_pivot)
        argv[n++] = "--no-pivot", argv[n++] = "1";
    if (req->gated)
        argv[n++] = "--gate", argv[n++] = "1";
    argv[n++] = "--";
    for (size_t i = 0; i < req->ndirs; i++)
        argv[n++] = req->dirs[i];
    argv[n] = NULL;
    /* An empty environment (nvc_child_spawn passes none): nothing of the caller's
     * (LD_PRELOAD, ...) reaches a root process that is about to enter a container
     * (CVE-2025-23266). Its stdio goes to /dev/null. */
    int rc = nvc_child_spawn(c, helper_path, (char *const *)argv, SOCK_SEQPACKET, 1, "ldconfig helper's", err);
    /* ldconfig runs after the mounts, which stay when it fails (lib/apply.ts): every failure
     * of this step is ERR_NVC_LDCONFIG, so that a caller can tell "mounted, but the ld.so
     * cache is stale" from a configure that was rolled back (fault-injection-client). */
    if (rc > 0)
        return nvc_error_set(err, NVC_ERR_LDCONFIG, rc, "posix_spawn", helper_path,
                             "cannot start the ldconfig helper nvc-ts-ldconfig: %s", strerror(rc));
    if (rc < 0)
        err->code = NVC_ERR_LDCONFIG; /* the socket: its errno and words are kept */
    return rc;
}

enum phase {
    RECEIVING, /* the one report */
    ENDING,    /* the helper's exit (or its kill) */
    OVER,
};

struct nvc_ldconfig_job {
    struct nvc_child c;
    enum phase phase;
    int64_t deadline;
    unsigned timeout_ms; /* the helper's own; ours adds BACKSTOP_GRACE_MS */
    int got;             /* 1 report, 0 hung up without one, -1 deadline */
    struct nvc_child_end end;
    char helper_path[4096];
    struct nvc_ldconfig_request req; /* for messages: ldconfig is copied below */
    char ldconfig[4096];
    uint8_t rx[NVC_LDCONFIG_REPORT_MAX];
    struct nvc_ldconfig_report rep;
};

void nvc_ldconfig_job_free(struct nvc_ldconfig_job *j)
{
    if (j == NULL)
        return;
    /* A helper still waiting sees the hang-up and kills its child; reap it in the background. */
    nvc_child_close(&j->c);
    if (j->c.pid > 0)
        nvc_child_kill(&j->c, 0, NULL);
    free(j);
}

struct nvc_ldconfig_job *nvc_ldconfig_job_start(const char *helper_path, const struct nvc_ldconfig_request *req,
                                                struct nvc_error *err)
{
    struct nvc_ldconfig_result ignored;
    struct nvc_ldconfig_job *j;

    if (check_request(helper_path, req, &ignored, err) < 0)
        return NULL;
    if (strlen(helper_path) >= sizeof(j->helper_path) || strlen(req->ldconfig) >= sizeof(j->ldconfig)) {
        bad_request(err, "ldconfig", "path too long");
        return NULL;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        nvc_error_sys(err, "calloc", NULL, "cannot run ldconfig");
        return NULL;
    }
    if (spawn_helper(&j->c, helper_path, req, err) < 0) {
        free(j);
        return NULL;
    }
    snprintf(j->helper_path, sizeof(j->helper_path), "%s", helper_path);
    snprintf(j->ldconfig, sizeof(j->ldconfig), "%s", req->ldconfig);
    j->req = *req;
    j->req.ldconfig = j->ldconfig;
    j->req.rootfs = NULL; /* not kept: messages do not need it */
    j->req.dirs = NULL;
    j->req.ndirs = 0;
    j->timeout_ms = req->timeout_ms ? req->timeout_ms : NVC_LDCONFIG_DEFAULT_TIMEOUT_MS;
    j->deadline = nvc_now_ms() + j->timeout_ms + BACKSTOP_GRACE_MS;
    j->phase = RECEIVING;
    return j;
}

int nvc_ldconfig_job_release(struct nvc_ldconfig_job *j, unsigned timeout_ms, struct nvc_error *err)
{
    /* The helper's wire (native/ldconfig/ldconfig.h): 'G', then the limit in host order. */
    uint8_t go[5] = {'G'};
    uint32_t limit = timeout_ms;
    memcpy(go + 1, &limit, sizeof(limit));
    if (timeout_ms > 0)
        j->timeout_ms = timeout_ms;
    /* The backstop counts from now: the wait before the go was the mounts', not ldconfig's. */
    j->deadline = nvc_now_ms() + j->timeout_ms + BACKSTOP_GRACE_MS;
    ssize_t n;
    while ((n = send(j->c.sock, go, sizeof(go), MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR)
        ;
    if (n == (ssize_t)sizeof(go))
        return 0;
    return nvc_error_set(err, NVC_ERR_LDCONFIG, n < 0 ? errno : EIO, "send", j->helper_path,
                         "cannot tell the ldconfig helper to go on: %s", n < 0 ? strerror(errno) : "short send");
}

/* The one report, if it is there. 1 got it, 0 the helper hung up without one (or sent
 * something else), -1 nothing yet. */
static int receive_report(struct nvc_ldconfig_job *j)
{
    for (;;) {
        const char *why = NULL;
        ssize_t n = recv(j->c.sock, j->rx, sizeof(j->rx), MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return -1;
        if (n <= 0 || (size_t)n > sizeof(j->rx))
            return 0;
        return nvc_ldconfig_report_decode(j->rx, (size_t)n, &j->rep, &why) == 0 ? 1 : 0;
    }
}

int nvc_ldconfig_job_step(struct nvc_ldconfig_job *j, struct nvc_wait *w)
{
    for (;;) {
        switch (j->phase) {
        case RECEIVING: {
            int r = receive_report(j);
            if (r < 0 && nvc_now_ms() < j->deadline) {
                *w = (struct nvc_wait){.fd = j->c.sock, .events = POLLIN, .deadline = j->deadline};
                return 0;
            }
            j->got = r;
            close(j->c.sock); /* a helper still waiting sees the hang-up and kills its child */
            j->c.sock = -1;
            j->phase = ENDING;
            nvc_child_end_begin(&j->c, &j->end, r < 0 ? 0 : REAP_WAIT_MS, REAP_WAIT_MS);
            continue;
        }
        case ENDING:
            if (!nvc_child_end_step(&j->c, &j->end, w))
                return 0;
            j->phase = OVER;
            continue;
        case OVER: return 1;
        }
    }
}

int nvc_ldconfig_job_finish(struct nvc_ldconfig_job *j, struct nvc_ldconfig_result *res, struct nvc_error *err)
{
    int status = j->end.status;

    memset(res, 0, sizeof(*res));
    if (j->phase != OVER)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "ldconfig", NULL, "the helper has not finished");
    if (j->got < 0)
        return nvc_error_set(err, NVC_ERR_LDCONFIG, ETIMEDOUT, "ldconfig", j->helper_path,
                             "the ldconfig helper did not report within %u ms; it was killed",
                             j->timeout_ms + BACKSTOP_GRACE_MS);
    if (j->got == 0) {
        if (WIFSIGNALED(status))
            return nvc_error_set(err, NVC_ERR_LDCONFIG, 0, "ldconfig", j->helper_path,
                                 "the ldconfig helper died with signal %d before reporting", WTERMSIG(status));
        return nvc_error_set(err, NVC_ERR_LDCONFIG, 0, "ldconfig", j->helper_path,
                             "the ldconfig helper exited with status %d before reporting (not nvc-ts-ldconfig?)",
                             WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return interpret(&j->req, &j->rep, res, err);
}

int nvc_ldconfig_run(const char *helper_path, const struct nvc_ldconfig_request *req, struct nvc_ldconfig_result *res,
                     struct nvc_error *err)
{
    struct nvc_ldconfig_job *j;
    struct nvc_wait w;
    int rc;

    if (res == NULL)
        return bad_request(err, "request", "no request or result");
    if (req != NULL && req->gated)
        return bad_request(err, "gated", "a gated run is released through the job API");
    j = nvc_ldconfig_job_start(helper_path, req, err);
    if (j == NULL)
        return -1;
    while (!nvc_ldconfig_job_step(j, &w))
        nvc_wait_block(&w);
    rc = nvc_ldconfig_job_finish(j, res, err);
    nvc_ldconfig_job_free(j);
    return rc;
}
