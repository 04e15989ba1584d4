/* nvc-ts-driver: the driver service. The core starts it with posix_spawn (a fork
 * followed at once by exec), so it begins as a fresh process image holding none of
 * Node's threads, locks or memory. It loads NVML, confines itself, and answers
 * requests on the socket at fd 3 until told to stop or until the core goes away.
 *
 *   nvc-ts-driver --nvml PATH --root DIR --uid N --gid N --ppid PID
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdutil.h"
#include "nvml_api.h"
#include "driver_proto.h"

#define SERVICE_FD 3

struct options {
    const char *nvml;
    const char *root;
    long uid, gid, ppid;
};

static int parse_long(const char *s, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    o->nvml = NULL;
    o->root = "/";
    o->uid = o->gid = -1;
    o->ppid = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        int bad = 0;
        if (strcmp(k, "--nvml") == 0)
            o->nvml = v;
        else if (strcmp(k, "--root") == 0)
            o->root = v;
        else if (strcmp(k, "--uid") == 0)
            bad = parse_long(v, &o->uid);
        else if (strcmp(k, "--gid") == 0)
            bad = parse_long(v, &o->gid);
        else if (strcmp(k, "--ppid") == 0)
            bad = parse_long(v, &o->ppid);
        else
            bad = -1;
        if (bad)
            return -1;
    }
    return o->nvml != NULL && o->ppid > 0 ? 0 : -1;
}

/* Whatever the spawner left us: default dispositions, nothing blocked, no fd but
 * the socket and a /dev/null on 0-2 (NVML may print). */
static int reset_process_state(void)
{
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    }
    nvc_fd_stdio_to_null();
    nvc_fd_close_above(SERVICE_FD);
    return fcntl(SERVICE_FD, F_SETFD, FD_CLOEXEC);
}

/* The init of the service's pid namespace: reaps what is reparented to it and dies with
 * the service (parent-death signal; the service's pidfd for the window before it was set). */
static void __attribute__((noreturn)) namespace_init(int service_pidfd)
{
    prctl(PR_SET_NAME, "nvc-ts-drv-init");
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        _exit(1);
    syscall(SYS_close_range, 0U, (unsigned)service_pidfd - 1, 0U);
    syscall(SYS_close_range, (unsigned)service_pidfd + 1, ~0U, 0U);
    if (chdir("/") < 0)
        _exit(1);
    for (;;) {
        struct pollfd p = {.fd = service_pidfd, .events = POLLIN};
        if (poll(&p, 1, 1000) > 0)
            _exit(0); /* the service is gone */
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
}

/* Whatever the NVML library forks (as root, before the privilege drop) goes into a pid
 * namespace of its own, whose init dies with this process: when the service ends, however
 * it ends, the kernel kills everything left in that namespace, a descendant that left our
 * process group (setsid) included. Where no pid namespace can be made (or no pidfd, before
 * Linux 5.3), the client's kill of our process group is what remains. */
static void contain_descendants(void)
{
    int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (self < 0)
        return;
    if (unshare(CLONE_NEWPID) == 0 && fork() == 0)
        namespace_init(self);
    /* A failed fork leaves a namespace without init, where NVML's own forks fail rather
     * than escape. */
    close(self);
}

/* The step is left empty: the core names the call that was under way. */
static void reply_system(struct nvc_wbuf *reply, const char *step, int err)
{
    static struct nvc_error e;
    nvc_error_set(&e, NVC_ERR_SERVICE_START, err, NULL, NULL, "driver service: %s failed: %s", step, strerror(err));
    nvc_proto_fail(reply, &e);
}

static void reply_bad_request(struct nvc_wbuf *reply, const char *why)
{
    static struct nvc_error e;
    nvc_error_set(&e, NVC_ERR_SERVICE_PROTOCOL, 0, NULL, NULL, "%s", why);
    nvc_proto_fail(reply, &e);
}

/* chroot into the driver root (so NVML reads that root's /proc and /dev, as in a
 * driver container), then give up root. The parent-death signal is armed after the
 * credential change because the kernel clears it on one. */
static int confine(const struct options *o, struct nvc_wbuf *reply)
{
    if (geteuid() == 0 && strcmp(o->root, "/") != 0) {
        if (chroot(o->root) < 0 || chdir("/") < 0) {
            reply_system(reply, "chroot into the driver root", errno);
            return -1;
        }
    }
    if (geteuid() == 0 && o->uid >= 0 && o->gid >= 0 && (o->uid != 0 || o->gid != 0)) {
        gid_t gid = (gid_t)o->gid;
        if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid((uid_t)o->uid, (uid_t)o->uid, (uid_t)o->uid) < 0) {
            reply_system(reply, "dropping privileges", errno);
            return -1;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
        reply_system(reply, "prctl", errno);
        return -1;
    }
    if (getppid() != (pid_t)o->ppid)
        _exit(0); /* the core died before the signal was armed */
    return 0;
}

static void serve(struct nvml_api *api, int sock)
{
    static uint8_t msg[NVC_PROTO_MAX_MSG], out[NVC_PROTO_MAX_MSG];
    struct nvc_wbuf reply;

    for (;;) {
        ssize_t n = recv(sock, msg, sizeof(msg), MSG_TRUNC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the core closed its end or vanished */

        uint16_t op;
        uint32_t seq;
        struct nvc_rbuf req;
        const char *why = NULL;
        if ((size_t)n > sizeof(msg) || nvc_proto_open(msg, (size_t)n, &op, &seq, &req, &why) < 0) {
            nvc_proto_begin(&reply, out, sizeof(out), 0, 0);
            reply_bad_request(&reply, why ? why : "record too large");
            helper_send(sock, &reply);
            continue;
        }
        nvc_proto_begin(&reply, out, sizeof(out), op, seq);
        switch (op) {
        case NVC_OP_DRIVER: nvml_op_driver(api, sock, &reply); break;
        case NVC_OP_DEVICE_COUNT: nvml_op_device_count(api, sock, &reply); break;
        case NVC_OP_DEVICE: {
            uint32_t index = nvc_wire_get_u32(&req);
            if (!nvc_wire_done(&req)) {
                reply_bad_request(&reply, "device request without a valid index");
                break;
            }
            nvml_op_device(api, sock, index, &reply);
            break;
        }
        case NVC_OP_SHUTDOWN:
            nvml_op_shutdown(api, sock, &reply);
            helper_send(sock, &reply);
            return;
        default: reply_bad_request(&reply, "unknown operation"); break;
        }
        if (helper_send(sock, &reply) < 0)
            return;
    }
}

int main(int argc, char **argv)
{
    static uint8_t ready_storage[NVC_PROTO_MAX_MSG];
    static struct nvml_api api;
    struct nvc_wbuf ready;
    struct options o;

    if (parse_args(argc, argv, &o) < 0) {
        fprintf(stderr, "nvc-ts-driver: internal helper of nvc-ts, not meant to be run by hand\n");
        return 2;
    }
    if (reset_process_state() < 0)
        return 2; /* no socket at fd 3: nobody to report to */
    prctl(PR_SET_NAME, "nvc-ts-driver");
    contain_descendants();

    nvc_proto_begin(&ready, ready_storage, sizeof(ready_storage), NVC_OP_READY, 0);
    /* Load before chroot: the library and the glibc it needs are named by host paths. */
    if (nvml_api_load(&api, o.nvml, &ready) < 0 || confine(&o, &ready) < 0) {
        helper_send(SERVICE_FD, &ready);
        return 1;
    }
    nvml_op_init(&api, SERVICE_FD, &ready);
    if (helper_send(SERVICE_FD, &ready) < 0)
        return 1;
    serve(&api, SERVICE_FD);
    return 0;
}
