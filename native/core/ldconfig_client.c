#define _GNU_SOURCE
#include "nvc_ldconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"

/* The core's side of nvc-ts-ldconfig: check the request, spawn the helper with an empty
 * environment, wait for its one report with a deadline, reap exactly our own child, and
 * turn the report into a result or an NVC_ERR_LDCONFIG error. The helper enforces the
 * request's timeout itself; ours is a backstop for a helper that hangs. */

#define BACKSTOP_GRACE_MS 5000
#define REAP_WAIT_MS 2000

static void kill_and_reap(struct nvc_child *c, int *status)
{
    /* Plain blocking wait: the helper does not sit in the kernel for long, and its
     * confined child dies with it (parent-death signal). */
    nvc_child_kill(c, REAP_WAIT_MS, NVC_CHILD_REAP_BLOCKING, status);
}

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
    case NVC_LDCONFIG_TIMEOUT:
        nvc_error_set(err, NVC_ERR_LDCONFIG, ETIMEDOUT, "ldconfig", path,
                      "ldconfig (%s) did not finish within %d ms and was killed", bin, rep->status);
        break;
    case NVC_LDCONFIG_MISSING:
        res->ran = 0;
        snprintf(res->warning, sizeof(res->warning), "%.440s; the container's ld.so.cache was not updated", rep->msg);
        return 0;
    case NVC_LDCONFIG_SETUP_FAILED:
        nvc_error_set(err, NVC_ERR_LDCONFIG, rep->sys_errno, rep->step, path, "cannot run ldconfig (%s): %s", bin,
                      rep->msg);
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
    char spid[24], suid[24], sgid[24], stimeout[24];
    unsigned timeout = req->timeout_ms ? req->timeout_ms : NVC_LDCONFIG_DEFAULT_TIMEOUT_MS;
    snprintf(spid, sizeof(spid), "%ld", (long)req->pid);
    snprintf(suid, sizeof(suid), "%lu", (unsigned long)req->uid);
    snprintf(sgid, sizeof(sgid), "%lu", (unsigned long)req->gid);
    snprintf(stimeout, sizeof(stimeout), "%u", timeout);

    const char *argv[16 + NVC_LDCONFIG_MAX_DIRS];
    size_t n = 0;
    argv[n++] = "nvc-ts-ldconfig";
    argv[n++] = "--pid", argv[n++] = spid;
    argv[n++] = "--rootfs", argv[n++] = req->rootfs;
    argv[n++] = "--ldconfig", argv[n++] = req->ldconfig;
    argv[n++] = "--uid", argv[n++] = suid;
    argv[n++] = "--gid", argv[n++] = sgid;
    argv[n++] = "--timeout-ms", argv[n++] = stimeout;
    argv[n++] = "--";
    for (size_t i = 0; i < req->ndirs; i++)
        argv[n++] = req->dirs[i];
    argv[n] = NULL;
    /* An empty environment (nvc_child_spawn passes none): nothing of the caller's
     * (LD_PRELOAD, ...) reaches a root process that is about to enter a container
     * (CVE-2025-23266). Its stdio goes to /dev/null. */
    int rc = nvc_child_spawn(c, helper_path, (char *const *)argv, SOCK_SEQPACKET, 1, "ldconfig helper's", err);
    if (rc > 0)
        return nvc_error_set(err, NVC_ERR_SYSTEM, rc, "posix_spawn", helper_path,
                             "cannot start the ldconfig helper nvc-ts-ldconfig");
    return rc;
}

/* Wait for the one report. 1: got it; 0: the helper hung up without one; -1: deadline. */
static int receive_report(int sock, unsigned timeout_ms, struct nvc_ldconfig_report *rep)
{
    int64_t deadline = nvc_now_ms() + timeout_ms + BACKSTOP_GRACE_MS;
    for (;;) {
        int64_t left = deadline - nvc_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {.fd = sock, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r <= 0)
            continue; /* EINTR or a spurious wake-up: the loop re-checks the deadline */
        ssize_t n = recv(sock, rep, sizeof(*rep), MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n == (ssize_t)sizeof(*rep) && rep->magic == NVC_LDCONFIG_REPORT_MAGIC)
            return 1;
        return 0;
    }
}

int nvc_ldconfig_run(const char *helper_path, const struct nvc_ldconfig_request *req,
                     struct nvc_ldconfig_result *res, struct nvc_error *err)
{
    static __thread struct nvc_ldconfig_report rep; /* 4.7 KiB: off the caller's stack */
    struct nvc_child c;
    int status = 0;

    if (check_request(helper_path, req, res, err) < 0)
        return -1;
    memset(res, 0, sizeof(*res));
    memset(&rep, 0, sizeof(rep));
    if (spawn_helper(&c, helper_path, req, err) < 0)
        return -1;
    unsigned timeout = req->timeout_ms ? req->timeout_ms : NVC_LDCONFIG_DEFAULT_TIMEOUT_MS;
    int got = receive_report(c.sock, timeout, &rep);
    close(c.sock); /* a helper still waiting sees the hang-up and kills its child */
    c.sock = -1;
    if (got < 0)
        kill_and_reap(&c, &status);
    else if (!nvc_child_wait(&c, REAP_WAIT_MS, &status))
        kill_and_reap(&c, &status);
    nvc_child_close(&c);

    if (got < 0)
        return nvc_error_set(err, NVC_ERR_LDCONFIG, ETIMEDOUT, "ldconfig", helper_path,
                             "the ldconfig helper did not report within %u ms; it was killed",
                             timeout + BACKSTOP_GRACE_MS);
    if (got == 0) {
        if (WIFSIGNALED(status))
            return nvc_error_set(err, NVC_ERR_LDCONFIG, 0, "ldconfig", helper_path,
                                 "the ldconfig helper died with signal %d before reporting", WTERMSIG(status));
        return nvc_error_set(err, NVC_ERR_LDCONFIG, 0, "ldconfig", helper_path,
                             "the ldconfig helper exited with status %d before reporting (not nvc-ts-ldconfig?)",
                             WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    rep.step[sizeof(rep.step) - 1] = '\0';
    rep.msg[sizeof(rep.msg) - 1] = '\0';
    return interpret(req, &rep, res, err);
}
