#define _GNU_SOURCE
#include "service.h"

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
#define TERM_GRACE_MS 100
#define KILL_WAIT_MS 1000

void nvc_service_reset(struct nvc_service *svc)
{
    nvc_child_reset(&svc->child);
    svc->seq = 0;
    svc->timeout_ms = 10000;
    svc->calling[0] = '\0';
    svc->calling_device = NVC_PROTO_NO_DEVICE;
}

static void release(struct nvc_service *svc)
{
    nvc_child_close(&svc->child);
    unsigned timeout = svc->timeout_ms;
    nvc_service_reset(svc);
    svc->timeout_ms = timeout;
}

/* Make sure the process is gone and reaped; a process stuck in the kernel (a hung
 * driver ioctl) may outlive SIGKILL for a while: a detached thread reaps it then. */
static int kill_and_reap(struct nvc_service *svc, int *status)
{
    return nvc_child_kill(&svc->child, KILL_WAIT_MS, NVC_CHILD_REAP_DETACHED, status);
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

/* The service closed the socket without answering: find out how it died. */
static int report_death(struct nvc_service *svc, const char *what, struct nvc_error *err)
{
    int status = 0, known = 1;
    char where[160];
    if (!nvc_child_wait(&svc->child, KILL_WAIT_MS, &status))
        known = kill_and_reap(svc, &status);
    describe_call(svc, where, sizeof(where));
    if (!known)
        nvc_error_set(err, NVC_ERR_SERVICE_CRASHED, 0, svc->calling[0] ? svc->calling : what, NULL,
                      "the driver service hung up %s while answering %s and did not end (stuck in the kernel?); "
                      "it was killed", where, what);
    else if (WIFSIGNALED(status))
        nvc_error_set(err, NVC_ERR_SERVICE_CRASHED, 0, svc->calling[0] ? svc->calling : what, NULL,
                      "the driver service crashed with %s %s while answering %s", signal_name(WTERMSIG(status)),
                      where, what);
    else
        nvc_error_set(err, NVC_ERR_SERVICE_CRASHED, 0, svc->calling[0] ? svc->calling : what, NULL,
                      "the driver service exited with status %d %s while answering %s",
                      WIFEXITED(status) ? WEXITSTATUS(status) : -1, where, what);
    release(svc);
    return -1;
}

static int report_timeout(struct nvc_service *svc, const char *what, struct nvc_error *err)
{
    char where[160];
    describe_call(svc, where, sizeof(where));
    kill_and_reap(svc, NULL);
    nvc_error_set(err, NVC_ERR_SERVICE_TIMEOUT, ETIMEDOUT, svc->calling[0] ? svc->calling : what, NULL,
                  "the driver service did not answer %s within %u ms (stuck %s); it was killed",
                  what, svc->timeout_ms, where);
    release(svc);
    return -1;
}

static int protocol_error(struct nvc_service *svc, const char *what, const char *why, struct nvc_error *err)
{
    kill_and_reap(svc, NULL);
    nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, what, NULL, "malformed reply from the driver service to %s: %s",
                  what, why);
    release(svc);
    return -1;
}

/* The service's own error, as it encoded it; what only the core knows is added here:
 * the call under way (when the service left the step empty) and, for a request the
 * service could not parse, that it refused it. */
static int status_error(struct nvc_service *svc, struct nvc_rbuf *r, const char *what, struct nvc_error *err)
{
    nvc_wire_get_error(r, err);
    if (!nvc_wire_done(r))
        return protocol_error(svc, what, r->bad ? r->bad : "bytes left over after the error", err);
    if (err->step[0] == '\0')
        snprintf(err->step, sizeof(err->step), "%s", what);
    if (err->code == NVC_ERR_SERVICE_PROTOCOL) {
        char text[sizeof(err->msg)];
        snprintf(text, sizeof(text), "%s", err->msg);
        snprintf(err->msg, sizeof(err->msg), "driver service refused %s: %.900s", what, text);
    }
    return -1;
}

/* Read records until the reply to `op`, noting CALLING notices on the way. */
static int receive(struct nvc_service *svc, uint16_t op, uint32_t seq, const char *what, struct nvc_rbuf *reply,
                   struct nvc_error *err)
{
    int64_t deadline = nvc_now_ms() + svc->timeout_ms;
    for (;;) {
        int64_t left = deadline - nvc_now_ms();
        if (left <= 0)
            return report_timeout(svc, what, err);
        struct pollfd p = {.fd = svc->child.sock, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return nvc_error_sys(err, "poll", NULL, "waiting for the driver service");
        if (r == 0)
            continue;
        ssize_t n = recv(svc->child.sock, svc->rx, sizeof(svc->rx), MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return report_death(svc, what, err);
        if ((size_t)n > sizeof(svc->rx))
            return protocol_error(svc, what, "record larger than the protocol allows", err);

        uint16_t rop;
        uint32_t rseq;
        const char *why = NULL;
        if (nvc_proto_open(svc->rx, (size_t)n, &rop, &rseq, reply, &why) < 0)
            return protocol_error(svc, what, why, err);
        if (rop == NVC_OP_CALLING) {
            nvc_wire_get_str(reply, svc->calling, sizeof(svc->calling));
            svc->calling_device = nvc_wire_get_u32(reply);
            if (!nvc_wire_done(reply))
                return protocol_error(svc, what, "bad progress record", err);
            continue;
        }
        if (rop != op || rseq != seq)
            return protocol_error(svc, what, "reply does not match the request", err);
        uint32_t status = nvc_wire_get_u32(reply);
        if (reply->bad)
            return protocol_error(svc, what, "empty reply", err);
        if (status == NVC_STATUS_ERROR)
            return status_error(svc, reply, what, err);
        if (status != NVC_STATUS_OK)
            return protocol_error(svc, what, "unknown reply status", err);
        return 0;
    }
}

static int spawn_helper(struct nvc_service *svc, const struct nvc_host *host, struct nvc_error *err)
{
    char uid[24], gid[24], ppid[24];
    snprintf(uid, sizeof(uid), "%ld", (long)host->uid);
    snprintf(gid, sizeof(gid), "%ld", (long)host->gid);
    snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
    char *argv[] = {"nvc-ts-driver", "--nvml", (char *)host->nvml_path, "--root", (char *)host->root,
                    "--uid", uid, "--gid", gid, "--ppid", ppid, NULL};
    int rc = nvc_child_spawn(&svc->child, host->helper_path, argv, SOCK_SEQPACKET, 0, "driver service", err);
    if (rc > 0)
        return nvc_error_set(err, NVC_ERR_SERVICE_START, rc, "posix_spawn", host->helper_path,
                             "cannot start the driver service: %s", strerror(rc));
    return rc;
}

int nvc_service_start(struct nvc_service *svc, const struct nvc_host *host, struct nvc_error *err)
{
    struct nvc_rbuf reply;

    nvc_service_reset(svc);
    svc->timeout_ms = host->timeout_ms;
    if (spawn_helper(svc, host, err) < 0) {
        release(svc);
        return -1;
    }
    if (receive(svc, NVC_OP_READY, 0, "driver service start-up", &reply, err) < 0) {
        if (svc->child.pid > 0) {
            kill_and_reap(svc, NULL);
            release(svc);
        }
        return -1;
    }
    return 0;
}

int nvc_service_call(struct nvc_service *svc, uint16_t op, const uint32_t *arg, const char *what,
                     struct nvc_rbuf *reply, struct nvc_error *err)
{
    uint8_t storage[64]; /* requests are an op and at most one u32 */
    struct nvc_wbuf req;

    if (svc->child.pid <= 0)
        return nvc_error_set(err, NVC_ERR_CONTEXT_CLOSED, 0, what, NULL,
                             "the driver service is not running (the context was shut down or its service died)");
    svc->calling[0] = '\0';
    svc->calling_device = NVC_PROTO_NO_DEVICE;
    nvc_proto_begin(&req, storage, sizeof(storage), op, ++svc->seq);
    if (arg != NULL)
        nvc_wire_put_u32(&req, *arg);
    size_t n = nvc_wire_end(&req);
    if (send(svc->child.sock, req.data, n, MSG_NOSIGNAL) != (ssize_t)n) {
        if (errno == EPIPE || errno == ECONNRESET)
            return report_death(svc, what, err);
        return nvc_error_sys(err, "send", NULL, "writing to the driver service");
    }
    return receive(svc, op, svc->seq, what, reply, err);
}

int nvc_service_stop(struct nvc_service *svc, struct nvc_error *err)
{
    struct nvc_rbuf reply;
    struct nvc_error failed;
    int status = 0, rc = 0;

    if (svc->child.pid <= 0)
        return 0;
    unsigned saved = svc->timeout_ms;
    svc->timeout_ms = saved < SHUTDOWN_GRACE_MS ? saved : SHUTDOWN_GRACE_MS;
    /* Only an nvmlShutdown failure is worth reporting; a service that died or hung on the
     * way out has been reaped all the same, and success must leave err untouched. */
    if (nvc_service_call(svc, NVC_OP_SHUTDOWN, NULL, "shutdown", &reply, &failed) < 0 && failed.code == NVC_ERR_NVML) {
        *err = failed;
        rc = -1;
    }
    svc->timeout_ms = saved;
    if (svc->child.pid <= 0)
        return rc;
    close(svc->child.sock);
    svc->child.sock = -1;
    if (!nvc_child_wait(&svc->child, TERM_GRACE_MS, &status)) {
        kill(svc->child.pid, SIGTERM);
        if (!nvc_child_wait(&svc->child, TERM_GRACE_MS, &status))
            kill_and_reap(svc, &status);
    }
    release(svc);
    return rc;
}

void nvc_service_abandon(struct nvc_service *svc)
{
    if (svc->child.pid <= 0)
        return;
    /* Called from garbage-collection finalizers on the JavaScript thread: never wait. */
    nvc_child_kill(&svc->child, 0, NVC_CHILD_REAP_DETACHED, NULL);
    release(svc);
}
