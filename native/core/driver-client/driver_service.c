#define _GNU_SOURCE
#include "driver_service.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHUTDOWN_GRACE_MS 2000
#define TERM_GRACE_MS     100
#define KILL_WAIT_MS      1000

void nvc_service_reset(struct nvc_service *svc)
{
    nvc_child_reset(&svc->child);
    svc->seq = 0;
    svc->timeout_ms = 10000;
    svc->calling[0] = '\0';
    svc->calling_device = NVC_PROTO_NO_DEVICE;
    svc->phase = NVC_SVC_IDLE;
    svc->after = NVC_SVC_QUIET;
    svc->starting = svc->stopping = 0;
    svc->failed = 0;
    svc->what[0] = '\0';
}

/* The service is gone (reaped, or left to a detached reaper): forget it, keep the settings. */
static void release(struct nvc_service *svc)
{
    nvc_child_close(&svc->child);
    unsigned timeout = svc->timeout_ms;
    nvc_child_reset(&svc->child);
    svc->seq = 0;
    svc->timeout_ms = timeout;
}

static const char *signal_name(int sig)
{
    const char *abbrev = sigabbrev_np(sig);
    static __thread char buf[32];
    if (abbrev == NULL) {
        snprintf(buf, sizeof(buf), "signal %d", sig);
        return buf;
    }
    snprintf(buf, sizeof(buf), "SIG%s", abbrev);
    return buf;
}

static void describe_call(const struct nvc_service *svc, char *out, size_t n)
{
    if (svc->calling[0] == '\0')
        snprintf(out, n, "before any NVML call");
    else if (svc->calling_device != NVC_PROTO_NO_DEVICE)
        snprintf(out, n, "in %s (GPU %u)", svc->calling, svc->calling_device);
    else
        snprintf(out, n, "in %s", svc->calling);
}

static const char *failing_step(const struct nvc_service *svc)
{
    return svc->calling[0] ? svc->calling : svc->what;
}

/* Begins waiting for the service's end; `after` says what is reported once it is gone.
 * grace_ms: how long it may take to exit by itself before SIGKILL (0: kill at once). */
static void begin_ending(struct nvc_service *svc, enum nvc_service_after after, int grace_ms)
{
    svc->after = after;
    svc->phase = NVC_SVC_ENDING;
    nvc_child_end_begin(&svc->child, &svc->end, grace_ms, KILL_WAIT_MS);
}

/* The exchange ends in an error worth killing the service for (err is set already). */
static void fail_and_kill(struct nvc_service *svc)
{
    svc->failed = 1;
    begin_ending(svc, NVC_SVC_KEEP_ERROR, 0);
}

/* The service closed the socket without answering: it is dying; once it is gone, how it
 * ended is the error (a process that outlives SIGKILL is stuck in the kernel). */
static void hung_up(struct nvc_service *svc)
{
    svc->failed = 1;
    begin_ending(svc, NVC_SVC_REPORT_DEATH, KILL_WAIT_MS);
}

static void report_death(struct nvc_service *svc)
{
    int status = svc->end.status;
    char where[160];
    describe_call(svc, where, sizeof(where));
    if (!svc->end.reaped)
        nvc_error_set(&svc->err, NVC_ERR_SERVICE_CRASHED, 0, failing_step(svc), NULL,
                      "the driver service hung up %s while answering %s and did not end (stuck in the kernel?); "
                      "it was killed",
                      where, svc->what);
    else if (WIFSIGNALED(status))
        nvc_error_set(&svc->err, NVC_ERR_SERVICE_CRASHED, 0, failing_step(svc), NULL,
                      "the driver service crashed with %s %s while answering %s", signal_name(WTERMSIG(status)), where,
                      svc->what);
    else
        nvc_error_set(&svc->err, NVC_ERR_SERVICE_CRASHED, 0, failing_step(svc), NULL,
                      "the driver service exited with status %d %s while answering %s",
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1, where, svc->what);
}

static void timed_out(struct nvc_service *svc)
{
    char where[160];
    describe_call(svc, where, sizeof(where));
    nvc_error_set(&svc->err, NVC_ERR_SERVICE_TIMEOUT, ETIMEDOUT, failing_step(svc), NULL,
                  "the driver service did not answer %s within %u ms (stuck %s); it was killed", svc->what,
                  svc->timeout_ms, where);
    fail_and_kill(svc);
}

static void protocol_error(struct nvc_service *svc, const char *why)
{
    nvc_error_set(&svc->err, NVC_ERR_SERVICE_PROTOCOL, 0, svc->what, NULL,
                  "malformed reply from the driver service to %s: %s", svc->what, why);
    fail_and_kill(svc);
}

/* The reply is in: what follows depends on whose exchange it was. A failed start must not
 * leave a service behind (it reported why it cannot serve); a stop waits for the exit. */
static void answered(struct nvc_service *svc)
{
    if (svc->starting && svc->failed) {
        begin_ending(svc, NVC_SVC_KEEP_ERROR, 0);
        return;
    }
    if (svc->stopping) {
        close(svc->child.sock);
        svc->child.sock = -1;
        svc->deadline = nvc_now_ms() + TERM_GRACE_MS;
        svc->phase = NVC_SVC_LEAVING;
        return;
    }
    svc->phase = NVC_SVC_OVER;
}

/* The service's own error, as it encoded it; what only the core knows is added here:
 * the call under way (when the service left the step empty) and, for a request the
 * service could not parse, that it refused it. */
static void status_error(struct nvc_service *svc, struct nvc_rbuf *r)
{
    struct nvc_error *err = &svc->err;
    nvc_wire_get_error(r, err);
    if (!nvc_wire_done(r)) {
        protocol_error(svc, r->bad ? r->bad : "bytes left over after the error");
        return;
    }
    if (err->step[0] == '\0')
        snprintf(err->step, sizeof(err->step), "%s", svc->what);
    if (err->code == NVC_ERR_SERVICE_PROTOCOL) {
        char text[sizeof(err->msg)];
        snprintf(text, sizeof(text), "%s", err->msg);
        snprintf(err->msg, sizeof(err->msg), "driver service refused %s: %.900s", svc->what, text);
    }
    svc->failed = 1;
    answered(svc);
}

/* One record from the service: a CALLING notice (noted; the wait goes on) or the reply. */
static void take_record(struct nvc_service *svc, size_t n)
{
    struct nvc_rbuf *reply = &svc->reply;
    uint16_t rop;
    uint32_t rseq;
    const char *why = NULL;

    if (nvc_proto_open(svc->rx, n, &rop, &rseq, reply, &why) < 0) {
        protocol_error(svc, why);
        return;
    }
    if (rop == NVC_OP_CALLING) {
        nvc_wire_get_str(reply, svc->calling, sizeof(svc->calling));
        svc->calling_device = nvc_wire_get_u32(reply);
        if (!nvc_wire_done(reply))
            protocol_error(svc, "bad progress record");
        else if (nvc_now_ms() >= svc->deadline) /* records are read before the deadline is looked at: bound that */
            timed_out(svc);
        return;
    }
    if (rop != svc->op || rseq != svc->op_seq) {
        protocol_error(svc, "reply does not match the request");
        return;
    }
    uint32_t status = nvc_wire_get_u32(reply);
    if (reply->bad)
        protocol_error(svc, "empty reply");
    else if (status == NVC_STATUS_ERROR)
        status_error(svc, reply);
    else if (status != NVC_STATUS_OK)
        protocol_error(svc, "unknown reply status");
    else
        answered(svc);
}

/* Reads what the socket holds now, record by record, until the reply or nothing more. */
static int await_step(struct nvc_service *svc, struct nvc_wait *w)
{
    while (svc->phase == NVC_SVC_AWAIT) {
        ssize_t n = recv(svc->child.sock, svc->rx, sizeof(svc->rx), MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (nvc_now_ms() >= svc->deadline) {
                timed_out(svc);
                break;
            }
            *w = (struct nvc_wait){.fd = svc->child.sock, .events = POLLIN, .deadline = svc->deadline};
            return 0;
        }
        if (n <= 0)
            hung_up(svc);
        else if ((size_t)n > sizeof(svc->rx))
            protocol_error(svc, "record larger than the protocol allows");
        else
            take_record(svc, (size_t)n);
    }
    return 1;
}

int nvc_service_step(struct nvc_service *svc, struct nvc_wait *w)
{
    for (;;) {
        switch (svc->phase) {
        case NVC_SVC_IDLE:
        case NVC_SVC_OVER: return 1;
        case NVC_SVC_AWAIT:
            if (!await_step(svc, w))
                return 0;
            continue;
        case NVC_SVC_LEAVING: {
            int status;
            if (nvc_child_wait(&svc->child, 0, &status)) {
                release(svc);
                svc->phase = NVC_SVC_OVER;
                continue;
            }
            if (nvc_now_ms() < svc->deadline) {
                nvc_child_wait_for(&svc->child, svc->deadline, w);
                return 0;
            }
            nvc_child_signal(&svc->child, SIGTERM);
            begin_ending(svc, NVC_SVC_QUIET, TERM_GRACE_MS);
            continue;
        }
        case NVC_SVC_ENDING:
            if (!nvc_child_end_step(&svc->child, &svc->end, w))
                return 0;
            if (svc->after == NVC_SVC_REPORT_DEATH)
                report_death(svc);
            release(svc);
            svc->phase = NVC_SVC_OVER;
            continue;
        }
    }
}

/* Begins an exchange: the reply to op/seq is awaited until the deadline. */
static void await_reply(struct nvc_service *svc, uint16_t op, uint32_t seq, const char *what, unsigned timeout_ms)
{
    svc->op = op;
    svc->op_seq = seq;
    snprintf(svc->what, sizeof(svc->what), "%s", what);
    svc->deadline = nvc_now_ms() + timeout_ms;
    svc->failed = 0;
    svc->after = NVC_SVC_QUIET;
    svc->phase = NVC_SVC_AWAIT;
}

static int spawn_helper(struct nvc_service *svc, const struct nvc_host *host, struct nvc_error *err)
{
    char uid[24], gid[24], ppid[24];
    snprintf(uid, sizeof(uid), "%ld", (long)host->uid);
    snprintf(gid, sizeof(gid), "%ld", (long)host->gid);
    snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
    char *argv[] = {"nvc-ts-driver",
                    "--nvml",
                    (char *)host->nvml_path,
                    "--root",
                    (char *)host->root,
                    "--uid",
                    uid,
                    "--gid",
                    gid,
                    "--ppid",
                    ppid,
                    NULL};
    int rc = nvc_child_spawn(&svc->child, host->driver_path, argv, SOCK_SEQPACKET, 0, "driver service", err);
    if (rc > 0)
        return nvc_error_set(err, NVC_ERR_SERVICE_START, rc, "posix_spawn", host->driver_path,
                             "cannot start the driver service: %s", strerror(rc));
    return rc;
}

int nvc_service_start_begin(struct nvc_service *svc, const struct nvc_host *host, struct nvc_error *err)
{
    nvc_service_reset(svc);
    svc->timeout_ms = host->timeout_ms;
    if (spawn_helper(svc, host, err) < 0) {
        release(svc);
        return -1;
    }
    svc->starting = 1;
    await_reply(svc, NVC_OP_READY, 0, "driver service start-up", svc->timeout_ms);
    return 0;
}

/* Sends a request; the exchange is then awaiting its reply, or over with the error. */
static void send_request(struct nvc_service *svc, uint16_t op, const uint32_t *arg, const char *what,
                         unsigned timeout_ms)
{
    uint8_t storage[64]; /* requests are an op and at most one u32 */
    struct nvc_wbuf req;

    svc->calling[0] = '\0';
    svc->calling_device = NVC_PROTO_NO_DEVICE;
    await_reply(svc, op, ++svc->seq, what, timeout_ms);
    if (svc->child.pid <= 0) {
        nvc_error_set(&svc->err, NVC_ERR_CONTEXT_CLOSED, 0, what, NULL,
                      "the driver service is not running (the context was shut down or its service died)");
        svc->failed = 1;
        svc->phase = NVC_SVC_OVER;
        return;
    }
    nvc_proto_begin(&req, storage, sizeof(storage), op, svc->seq);
    if (arg != NULL)
        nvc_wire_put_u32(&req, *arg);
    size_t n = nvc_wire_end(&req);
    /* Never blocks in practice: one small request at a time into an idle socket. A signal
     * that lands first is no failure (fault-injection-client: send EINTR). */
    ssize_t sent;
    do
        sent = send(svc->child.sock, req.data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (sent < 0 && errno == EINTR);
    if (sent == (ssize_t)n)
        return;
    if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        hung_up(svc);
        return;
    }
    if (sent >= 0) {
        /* Part of a record went out: the service reads a truncated request, and the next
         * exchange could take its answer for another's. The channel is lost: the service is
         * ended, and the next call is told that it is not running. */
        nvc_error_set(&svc->err, NVC_ERR_SERVICE_PROTOCOL, EIO, "send", NULL,
                      "writing to the driver service: %zd of %zu bytes of the %s request went out; the service "
                      "was stopped",
                      sent, n, what);
        fail_and_kill(svc);
        return;
    }
    /* Nothing went out: the service never saw the request, and stays usable; but a stop
     * must end it all the same, or it outlives its context (fault-injection-client: send
     * of the shutdown request, ENOBUFS). */
    nvc_error_sys(&svc->err, "send", NULL, "writing to the driver service");
    if (svc->stopping) {
        fail_and_kill(svc);
        return;
    }
    svc->failed = 1;
    svc->phase = NVC_SVC_OVER;
}

void nvc_service_request(struct nvc_service *svc, uint16_t op, const uint32_t *arg, const char *what)
{
    svc->starting = svc->stopping = 0;
    send_request(svc, op, arg, what, svc->timeout_ms);
}

void nvc_service_stop_begin(struct nvc_service *svc)
{
    svc->starting = 0;
    svc->stopping = 1;
    if (svc->child.pid <= 0) {
        svc->failed = 0;
        svc->phase = NVC_SVC_OVER;
        return;
    }
    send_request(svc, NVC_OP_SHUTDOWN, NULL, "shutdown",
                 svc->timeout_ms < SHUTDOWN_GRACE_MS ? svc->timeout_ms : SHUTDOWN_GRACE_MS);
}

int nvc_service_result(struct nvc_service *svc, struct nvc_rbuf *reply, struct nvc_error *err)
{
    int stopping = svc->stopping;
    svc->phase = NVC_SVC_IDLE;
    svc->starting = svc->stopping = 0;
    /* Success must leave err untouched; a stop reports only what nvmlShutdown said. */
    if (svc->failed && (!stopping || svc->err.code == NVC_ERR_NVML)) {
        *err = svc->err;
        return -1;
    }
    if (reply != NULL)
        *reply = svc->reply;
    return 0;
}

void nvc_service_abandon(struct nvc_service *svc)
{
    svc->phase = NVC_SVC_IDLE;
    svc->starting = svc->stopping = 0;
    if (svc->child.pid <= 0) {
        nvc_child_close(&svc->child);
        return;
    }
    /* Never waits: finalizers run on the JavaScript thread, and a process stuck in the
     * kernel is left to a detached reaping thread. */
    nvc_child_kill(&svc->child, 0, NULL);
    release(svc);
}
