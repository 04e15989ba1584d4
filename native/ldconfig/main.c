#define _GNU_SOURCE
#include "ldconfig.h"
#include "fdutil.h"
#include "pidref.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* nvc-ts-ldconfig: the supervisor. Started by the core (ldconfig_client.c) with an empty
 * environment, /dev/null on 0-2 and its report socket on fd 3:
 *   nvc-ts-ldconfig --pid N [--pid-start S] --rootfs DIR --ldconfig [@]PATH --uid U --gid G
 *                   --timeout-ms T -- [DIR...]
 * It prepares what must come from the host (the sealed copy of a host ldconfig, the
 * container's mount namespace), forks the confined child into new namespaces, collects
 * its output, enforces the deadline, reaps it and sends exactly one report. */

#define REPORT_FD 3
/* After ldconfig exits, how long its output pipe may stay open (nothing should hold it:
 * the whole pid namespace dies with its init). */
#define DRAIN_GRACE_MS 1000

static struct nvc_ldconfig_report rep;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_report(void)
{
    static uint8_t frame[NVC_LDCONFIG_REPORT_MAX];
    size_t n = nvc_ldconfig_report_encode(&rep, frame, sizeof(frame));
    /* Cannot happen (the bound holds the largest report); the client then reads the
     * silence as a helper that ended without reporting. */
    if (n == 0)
        return;
    while (send(REPORT_FD, frame, n, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static void __attribute__((noreturn, format(printf, 3, 4))) fail(int sys_errno, const char *step, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    rep.outcome = NVC_LDCONFIG_SETUP_FAILED;
    nvc_error_set(&rep.error, NVC_ERR_LDCONFIG, sys_errno, step, NULL, "%s", msg);
    send_report();
    exit(1);
}

static int parse_id(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static void parse_args(int argc, char **argv, struct lc_args *a)
{
    long pid = -1, uid = -1, gid = -1, timeout = -1;
    const char *ldconfig = NULL;
    int i = 1;

    memset(a, 0, sizeof(*a));
    for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int bad = 0;
        if (!strcmp(k, "--pid"))
            bad = parse_id(v, INT_MAX, &pid);
        else if (!strcmp(k, "--pid-start"))
            bad = parse_u64(v, &a->pid_start);
        else if (!strcmp(k, "--uid"))
            bad = parse_id(v, (long)UINT32_MAX - 1, &uid);
        else if (!strcmp(k, "--gid"))
            bad = parse_id(v, (long)UINT32_MAX - 1, &gid);
        else if (!strcmp(k, "--timeout-ms"))
            bad = parse_id(v, INT_MAX, &timeout);
        else if (!strcmp(k, "--rootfs"))
            a->rootfs = v;
        else if (!strcmp(k, "--ldconfig"))
            ldconfig = v;
        else if (!strcmp(k, "--no-pivot")) {
            long flag = -1;
            bad = parse_id(v, 1, &flag);
            a->no_pivot = flag == 1;
        } else if (!strcmp(k, "--gate")) {
            long flag = -1;
            bad = parse_id(v, 1, &flag);
            a->gated = flag == 1;
        } else
            bad = 1;
        if (bad)
            fail(EINVAL, "usage", "bad argument %s %s", k, v);
    }
    if (i >= argc || strcmp(argv[i], "--") != 0)
        fail(EINVAL, "usage", "the argument list must end with -- and the library directories");
    a->dirs = (const char *const *)&argv[i + 1];
    a->ndirs = (size_t)(argc - i - 1);
    if (pid < 0 || uid < 0 || gid < 0 || timeout <= 0 || !a->rootfs || !ldconfig)
        fail(EINVAL, "usage", "missing --pid, --uid, --gid, --timeout-ms, --rootfs or --ldconfig");
    a->host_binary = ldconfig[0] == '@';
    a->ldconfig = ldconfig + (a->host_binary ? 1 : 0);
    /* The client checks all this too; the helper runs as root and checks for itself. */
    if (a->rootfs[0] != '/' || a->ldconfig[0] != '/')
        fail(EINVAL, "usage", "the rootfs and the ldconfig path must be absolute");
    if (a->ndirs > NVC_LDCONFIG_MAX_DIRS)
        fail(EINVAL, "usage", "too many library directories");
    for (size_t d = 0; d < a->ndirs; d++)
        if (a->dirs[d][0] != '/')
            fail(EINVAL, "usage", "library directory %s is not absolute", a->dirs[d]);
    a->pid = (pid_t)pid;
    a->uid = (uid_t)uid;
    a->gid = (gid_t)gid;
    a->timeout_ms = (unsigned)timeout;
}

/* The container's mount namespace, of the process the caller named (pid and start
 * time) and not of a recycled pid's (pidref.h). */
static int open_mntns(const struct lc_args *a)
{
    int fd;
    struct nvc_error e;
    if (nvc_pid_ns_open(a->pid, a->pid_start, "mnt", &fd, &e) < 0)
        fail(e.sys_errno, e.step, "%s", e.msg);
    return fd;
}

/* A gated helper, prepared, waits here for the client's go, which may bring a shorter time
 * limit. A client that hangs up instead (the container's mounts failed, or it gave up) gets
 * no report: nothing of the container was touched. */
static void wait_for_gate(struct lc_args *a)
{
    uint8_t go[LC_GATE_SIZE + 1];
    ssize_t n;
    while ((n = recv(REPORT_FD, go, sizeof(go), 0)) < 0 && errno == EINTR)
        ;
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
        exit(0);
    if (n != LC_GATE_SIZE || go[0] != LC_GATE_GO)
        fail(n < 0 ? errno : EPROTO, "gate", "expected the client's go, got %zd bytes", n);
    uint32_t limit;
    memcpy(&limit, go + 1, sizeof(limit));
    if (limit > 0 && limit <= INT_MAX)
        a->timeout_ms = limit;
}

/* Keep the last NVC_LDCONFIG_OUTPUT_MAX bytes ldconfig wrote. */
static void keep_output(const char *buf, size_t n)
{
    const size_t cap = sizeof(rep.output);
    if (n >= cap) {
        memcpy(rep.output, buf + (n - cap), cap);
        rep.output_cut = rep.output_cut || rep.output_len > 0 || n > cap;
        rep.output_len = (uint32_t)cap;
        return;
    }
    if (rep.output_len + n > cap) {
        size_t drop = rep.output_len + n - cap;
        memmove(rep.output, rep.output + drop, rep.output_len - drop);
        rep.output_len -= (uint32_t)drop;
        rep.output_cut = 1;
    }
    memcpy(rep.output + rep.output_len, buf, n);
    rep.output_len += (uint32_t)n;
}

/* One read from the non-blocking pipe. Returns 1 when data came, 0 at EOF or on an
 * error, -1 when nothing is there now (EAGAIN/EINTR). */
static int read_output(int fd)
{
    char buf[8192];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
        keep_output(buf, (size_t)n);
        return 1;
    }
    return n < 0 && (errno == EINTR || errno == EAGAIN) ? -1 : 0;
}

static void kill_and_reap(pid_t child, int *status)
{
    /* SIGKILL to the init of a pid namespace takes the whole namespace with it. */
    kill(child, SIGKILL);
    while (waitpid(child, status, 0) < 0 && errno == EINTR)
        ;
}

/* Wait for the child and its output; returns 1 on timeout. The client hanging up
 * (its own deadline passed, or it died) ends everything without a report. */
static int supervise(pid_t child, int out, unsigned timeout_ms, int *status)
{
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    int64_t deadline = now_ms() + timeout_ms, drain_until = 0;
    int exited = 0, out_open = 1;

    for (;;) {
        if (!exited) {
            pid_t r = waitpid(child, status, WNOHANG);
            if (r == child) {
                exited = 1;
                drain_until = now_ms() + DRAIN_GRACE_MS;
            }
        }
        if (exited && (!out_open || now_ms() >= drain_until))
            return 0;
        int64_t left = (exited ? drain_until : deadline) - now_ms();
        if (!exited && left <= 0) {
            kill_and_reap(child, status);
            while (out_open && read_output(out) == 1)
                ; /* what it said before it was killed; every writer died with it */
            return 1;
        }
        struct pollfd p[3] = {
            {.fd = out_open ? out : -1, .events = POLLIN},
            {.fd = REPORT_FD, .events = 0},
            {.fd = exited ? -1 : pidfd, .events = POLLIN},
        };
        /* Without a pidfd (before Linux 5.3) poll in short steps for the exit. */
        int wait = (int)(left < 0 ? 0 : left);
        if (pidfd < 0 && !exited && wait > 20)
            wait = 20;
        if (poll(p, 3, wait) < 0 && errno != EINTR)
            fail(errno, "poll", "cannot wait for ldconfig");
        if (p[1].revents & (POLLHUP | POLLERR)) {
            if (!exited)
                kill_and_reap(child, status);
            exit(1);
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
            out_open = read_output(out) != 0;
    }
}

/* The budget view (budget_view.c): whatever ldconfig wrote is in the upper layer the child
 * handed over; an ldconfig that filled it ran into the budget, and one that succeeded has its
 * expected results copied into the rootfs. Nothing else of the layer is kept. */
static void settle_budget(int sock)
{
    int upper, real;
    if (!lc_budget_receive(sock, &upper, &real))
        return; /* no view: a read-only rootfs, the host's ldconfig on an older kernel, or setup failed */
    if (rep.outcome == NVC_LDCONFIG_EXITED || rep.outcome == NVC_LDCONFIG_SIGNALED ||
        rep.outcome == NVC_LDCONFIG_TIMEOUT) {
        if (lc_budget_exhausted(upper)) {
            rep.outcome = NVC_LDCONFIG_OVER_BUDGET;
            nvc_error_set(&rep.error, NVC_ERR_LDCONFIG, EDQUOT, "budget", NULL,
                          "wrote more than its budget of %u MiB and %u files, links and directories; nothing it "
                          "wrote was kept",
                          NVC_LDCONFIG_BUDGET_BYTES >> 20, NVC_LDCONFIG_BUDGET_INODES);
        } else if (rep.outcome == NVC_LDCONFIG_EXITED && rep.status == 0) {
            struct lc_budget_tally t;
            char why[256], note[160];
            if (lc_budget_apply(upper, real, &t, why, sizeof(why)) < 0) {
                rep.outcome = NVC_LDCONFIG_SETUP_FAILED;
                nvc_error_set(&rep.error, NVC_ERR_LDCONFIG, errno, "apply", NULL,
                              "cannot copy what ldconfig wrote into the rootfs: %s", why);
            } else if (t.ignored > 0) {
                int n = snprintf(note, sizeof(note),
                                 "\nnvc-ts-ldconfig: dropped %u entries ldconfig wrote besides its cache and links\n",
                                 t.ignored);
                keep_output(note, (size_t)n);
            }
        }
    }
    close(upper);
    close(real);
}

int main(int argc, char **argv)
{
    struct lc_args a;
    int outp[2], errp[2], life[2], budget[2];
    char why[512];

    signal(SIGPIPE, SIG_IGN);
    if (fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "nvc-ts-ldconfig: run by nvc-ts only (no report socket on fd %d)\n", REPORT_FD);
        return 2;
    }
    nvc_fd_close_above(REPORT_FD); /* whatever the client leaked */
    parse_args(argc, argv, &a);

    /* The host binary is copied before anything of the container is touched. */
    int exe = -1;
    if (a.host_binary && (exe = lc_seal_host_binary(a.ldconfig, why, sizeof(why))) < 0)
        fail(errno, "open", "%s", why);
    int mntns = a.pid > 0 ? open_mntns(&a) : -1;

    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || pipe2(life, O_CLOEXEC) < 0)
        fail(errno, "pipe2", "cannot create pipes");
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, budget) < 0)
        fail(errno, "socketpair", "cannot create the budget socket");
    /* New pid (for the child), net, ipc, uts and cgroup namespaces: ldconfig sees no
     * other process, no network, no host IPC objects (CVE-2024-0137). */
    if (unshare(CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0)
        fail(errno, "unshare", "cannot create namespaces for ldconfig");
    if (a.gated)
        wait_for_gate(&a);

    pid_t child = fork();
    if (child < 0)
        fail(errno, "fork", "cannot start the confined process");
    if (child == 0) {
        struct lc_child_fds fds = {
            .mntns = mntns,
            .exe = exe,
            .out = outp[1],
            .report = errp[1],
            .lifeline = life[0],
            .budget = budget[1],
            .drop = {REPORT_FD, outp[0], errp[0], life[1], budget[0]},
        };
        lc_confined_child(&a, &fds);
    }
    close(outp[1]);
    close(errp[1]);
    close(life[0]);
    close(budget[1]);
    if (exe >= 0)
        close(exe);
    if (mntns >= 0)
        close(mntns);
    fcntl(outp[0], F_SETFL, O_NONBLOCK);

    int status = 0;
    if (supervise(child, outp[0], a.timeout_ms, &status)) {
        rep.outcome = NVC_LDCONFIG_TIMEOUT;
        rep.status = (int32_t)a.timeout_ms;
    } else if (WIFSIGNALED(status)) {
        rep.outcome = NVC_LDCONFIG_SIGNALED;
        rep.status = WTERMSIG(status);
    } else {
        rep.outcome = NVC_LDCONFIG_EXITED;
        rep.status = WEXITSTATUS(status);
    }
    /* A record on the error pipe means the child gave up before exec: it explains the exit. */
    struct lc_child_error ce;
    fcntl(errp[0], F_SETFL, O_NONBLOCK);
    if (rep.outcome != NVC_LDCONFIG_TIMEOUT && read(errp[0], &ce, sizeof(ce)) == (ssize_t)sizeof(ce) &&
        (ce.kind == NVC_LDCONFIG_MISSING || ce.kind == NVC_LDCONFIG_SETUP_FAILED)) {
        ce.step[sizeof(ce.step) - 1] = '\0';
        ce.msg[sizeof(ce.msg) - 1] = '\0';
        rep.outcome = (uint32_t)ce.kind;
        nvc_error_set(&rep.error, NVC_ERR_LDCONFIG, ce.sys_errno, ce.step, NULL, "%s", ce.msg);
    }
    settle_budget(budget[0]);
    send_report();
    return 0;
}
