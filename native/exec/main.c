/* nvc-ts-exec: the container-side executor. nvc_plan_apply starts it with posix_spawn
 * (empty environment, a socket at fd 3), sends one plan, reads one result. It enters
 * the container's mount namespace, applies the plan inside the rootfs, all or nothing,
 * reports, and exits. A separate single-threaded process because setns(CLONE_NEWNS) is
 * refused to any thread of a multi-threaded process such as Node.
 *
 *   nvc-ts-exec [--test-no-mount-api] [--test-no-openat2] [--test-delay-us N]
 *
 * The --test-* switches only take features away (fallback paths) or slow it down;
 * the core never passes them. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exec.h"
#include "fdutil.h"
#include "path.h"
#include "plan_codec.h"
#include "sysmount.h"

/* fds one edit may hold until the plan is over: a source clone, and for a mount its
 * root, mount point and parent, plus a created entry's parent. */
#define FDS_PER_EDIT 5
#define FDS_SPARE    64

struct options {
    unsigned delay_us;
};

static int parse_args(int argc, char **argv, struct options *o)
{
    o->delay_us = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--test-no-mount-api") == 0) {
            exec_no_mount_api = 1;
        } else if (strcmp(argv[i], "--test-no-openat2") == 0) {
            nvc_path_force_fallback = 1;
        } else if (strcmp(argv[i], "--test-delay-us") == 0 && i + 1 < argc) {
            char *end = NULL;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0' || v > 1000000)
                return -1;
            o->delay_us = (unsigned)v;
        } else {
            return -1;
        }
    }
    return 0;
}

static void on_stop(int sig)
{
    (void)sig;
    exec_cancelled = 1;
}

/* Whatever the spawner left us: default dispositions, nothing blocked, /dev/null on
 * 0-2, no fd but the socket. Then a stop request sets a flag (no SA_RESTART, so a
 * blocking call returns EINTR) instead of killing: the plan is rolled back first. */
static int reset_process_state(void)
{
    struct sigaction sa;
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    nvc_fd_stdio_to_null();
    nvc_fd_close_above(EXEC_SOCKET_FD);
    umask(0); /* modes in the plan are exact */
    prctl(PR_SET_NAME, "nvc-ts-exec");
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return fcntl(EXEC_SOCKET_FD, F_SETFD, FD_CLOEXEC);
}

static int read_full(int fd, void *buf, size_t len)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR && !exec_cancelled)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_full(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_error(const struct nvc_error *err)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if (nvc_plan_encode_error(err, &buf, &len) < 0)
        return -1;
    rc = send_full(EXEC_SOCKET_FD, buf, len);
    free(buf);
    return rc;
}

/* One request frame: a plan, or a teardown. *type says which; body is malloc'd. */
static int read_request(uint16_t *type, uint8_t **body, uint32_t *len, struct nvc_error *err)
{
    uint8_t hdr[NVC_PLAN_FRAME_HEADER];
    const char *why = NULL;

    *body = NULL;
    if (read_full(EXEC_SOCKET_FD, hdr, sizeof(hdr)) < 0)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, errno, "read", NULL, "no plan received");
    if (nvc_plan_frame_header(hdr, type, len, &why) < 0 || (*type != NVC_FRAME_PLAN && *type != NVC_FRAME_TEARDOWN))
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "read", NULL, "malformed plan frame: %s",
                             why ? why : "not a plan");
    *body = malloc(*len ? *len : 1);
    if (*body == NULL) {
        errno = ENOMEM;
        return nvc_error_sys(err, "read", NULL, "cannot receive the plan");
    }
    if (read_full(EXEC_SOCKET_FD, *body, *len) < 0) {
        free(*body);
        *body = NULL;
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, errno, "read", NULL, "truncated plan");
    }
    return 0;
}

static int raise_fd_limit(size_t nedits, struct nvc_error *err)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)(nedits * FDS_PER_EDIT + FDS_SPARE);

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return nvc_error_sys(err, "getrlimit", NULL, "cannot read the fd limit");
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = need;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
            rl.rlim_max = need;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return nvc_error_sys(err, "setrlimit", NULL, "a plan of %zu edits needs %lu fds", nedits,
                                 (unsigned long)need);
    }
    return 0;
}

/* A teardown: no plan, no sources; the request names the container, the changes say
 * what to undo, the answer says what became of each. */
static int run_teardown(struct exec_ctx *ctx, const uint8_t *body, uint32_t blen, struct nvc_error *err)
{
    struct nvc_teardown_decoded d;
    struct nvc_plan plan;
    struct nvc_undo_report *reports = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = 1;

    if (nvc_teardown_decode(body, blen, &d, err) < 0) {
        send_error(err);
        return 1;
    }
    memset(&plan, 0, sizeof(plan));
    plan.pid = d.req.pid;
    plan.pid_start = d.req.pid_start;
    plan.rootfs = d.req.rootfs;
    ctx->plan = &plan;
    reports = calloc(d.req.nchanges ? d.req.nchanges : 1, sizeof(*reports));
    if (reports == NULL) {
        errno = ENOMEM;
        nvc_error_sys(err, "teardown", NULL, "cannot hold the teardown");
        send_error(err);
        goto out;
    }
    if (raise_fd_limit(0, err) < 0 || exec_teardown(ctx, &d.req, reports, err) < 0) {
        send_error(err);
        goto out;
    }
    if (nvc_teardown_encode_undone(reports, d.req.nchanges, &buf, &len) < 0 || send_full(EXEC_SOCKET_FD, buf, len) < 0)
        goto out;
    rc = 0;
out:
    free(buf);
    free(reports);
    nvc_teardown_decoded_free(&d);
    return rc;
}

int main(int argc, char **argv)
{
    static struct exec_ctx ctx;
    struct nvc_plan_decoded d;
    struct nvc_change *changes = NULL;
    size_t nchanges = 0;
    struct nvc_error err;
    struct options o;
    uint8_t *buf = NULL, *body = NULL;
    uint16_t type = 0;
    uint32_t blen = 0;
    size_t len = 0, n;
    int rc = 0;

    if (parse_args(argc, argv, &o) < 0) {
        fprintf(stderr, "nvc-ts-exec: internal helper of nvc-ts, not meant to be run by hand\n");
        return 2;
    }
    if (reset_process_state() < 0)
        return 2; /* no socket at fd 3: nobody to report to */
    nvc_error_clear(&err);
    memset(&d, 0, sizeof(d));
    if (read_request(&type, &body, &blen, &err) < 0) {
        send_error(&err);
        return 1;
    }
    ctx.rootfd = -1;
    ctx.delay_us = o.delay_us;
    ctx.legacy = exec_no_mount_api;
    if (type == NVC_FRAME_TEARDOWN) {
        rc = run_teardown(&ctx, body, blen, &err);
        free(body);
        free(ctx.guards);
        return rc;
    }
    rc = nvc_plan_decode(body, blen, &d, &err);
    free(body);
    if (rc < 0) {
        send_error(&err);
        return 1;
    }
    rc = 0;
    n = d.plan.nedits;
    ctx.plan = &d.plan;
    ctx.sources = calloc(n ? n : 1, sizeof(*ctx.sources));
    ctx.outcomes = calloc(n ? n : 1, sizeof(*ctx.outcomes));
    ctx.tmpfs_ids = calloc(n ? n : 1, sizeof(*ctx.tmpfs_ids));
    if (ctx.sources == NULL || ctx.outcomes == NULL || ctx.tmpfs_ids == NULL) {
        errno = ENOMEM;
        nvc_error_sys(&err, "plan", NULL, "cannot hold the plan");
        send_error(&err);
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        ctx.sources[i].tree_fd = ctx.sources[i].host_fd = -1;
    if (raise_fd_limit(n, &err) < 0 || exec_apply(&ctx, &err) < 0) {
        send_error(&err);
        rc = 1;
        goto out;
    }
    exec_sources_close(&ctx);
    /* Changes nobody hears about are undone: the caller either gets "done" with the list of
     * what changed (what a teardown needs), or the container is as it was. */
    if (undo_report(&ctx, &changes, &nchanges, &err) < 0) {
        exec_rollback(&ctx, &err);
        send_error(&err);
        rc = 1;
        goto out;
    }
    if (nvc_plan_encode_done(ctx.outcomes, n, ctx.edits_us, changes, nchanges, &buf, &len) < 0 ||
        send_full(EXEC_SOCKET_FD, buf, len) < 0) {
        nvc_error_set(&err, NVC_ERR_SERVICE_PROTOCOL, errno, "send", NULL, "cannot report the result");
        exec_rollback(&ctx, &err);
        rc = 2;
        goto out;
    }
    undo_forget(&ctx);
out:
    /* Freed although the process ends here: a sanitizer or valgrind run then shows any
     * real leak on its own (found by npm run test:asan's LeakSanitizer). */
    free(buf);
    nvc_changes_free(changes, nchanges);
    free(ctx.sources);
    free(ctx.outcomes);
    free(ctx.tmpfs_ids);
    free(ctx.undo);
    free(ctx.guards);
    nvc_plan_decoded_free(&d);
    return rc;
}
