/*
 * nvc-ts-cli: the native client of `nvc-ts serve`. It parses no option: it sends its argv, its
 * working directory and its NVC_TS_* environment to the service over a unix socket, gives the
 * service its stdin when the command asks for it (hook mode), and prints the service's stdout and
 * stderr and exits with its status, so that what a caller sees is the Node CLI's by construction.
 * Without a service (nothing listening, or the socket closed to us) it execs the Node CLI with
 * the same argv: a missing service slows a start, never breaks it.
 *
 * Protocol (lib/serve/protocol.ts is the other end): frames of `u32 magic "NVCS" | u16 version |
 * u16 type | u32 body length | body`, little-endian, strings as `u32 length | bytes`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "protocol.h"

#ifndef NVC_CLIENT_NODE
#define NVC_CLIENT_NODE "node"
#endif

extern char **environ;

struct buf {
    unsigned char *data;
    size_t len, cap;
    int failed;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_u32(struct buf *b, uint32_t v)
{
    unsigned char le[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24)};
    buf_put(b, le, 4);
}

static void put_str(struct buf *b, const char *s, size_t n)
{
    put_u32(b, (uint32_t)n);
    buf_put(b, s, n);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A frame: header, then body; the header's length is filled in by frame_end. */
static void frame_begin(struct buf *b, uint16_t type)
{
    unsigned char h[NVCS_HEADER_BYTES] = {0};
    h[0] = 'N', h[1] = 'V', h[2] = 'C', h[3] = 'S';
    h[4] = NVCS_VERSION & 0xff, h[5] = NVCS_VERSION >> 8;
    h[6] = type & 0xff, h[7] = type >> 8;
    b->len = 0;
    buf_put(b, h, sizeof(h));
}

static void frame_end(struct buf *b)
{
    if (b->failed)
        return;
    uint32_t n = (uint32_t)(b->len - NVCS_HEADER_BYTES);
    b->data[8] = (unsigned char)n, b->data[9] = (unsigned char)(n >> 8);
    b->data[10] = (unsigned char)(n >> 16), b->data[11] = (unsigned char)(n >> 24);
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_fd(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* 1: got n bytes; 0: end of stream before any byte; -1: error or a short read. */
static int read_exact(int fd, unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return got == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

/* Whether --debug was given: anywhere as --debug, before the command word as -d (after it, -d is configure's --device).
 */
static int debug_asked(int argc, char **argv)
{
    static const char *const commands[] = {"info",      "list",    "configure", "hook",  "doctor", "install",
                                           "uninstall", "modules", "cdi",       "serve", "paths"};
    int before_command = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--debug") == 0 || strncmp(argv[i], "--debug=", 8) == 0)
            return 1;
        for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++)
            if (strcmp(argv[i], commands[c]) == 0)
                before_command = 0;
        if (before_command && argv[i][0] == '-' && argv[i][1] == 'd')
            return 1;
    }
    return 0;
}

/* The package root: this executable lives two levels below it (build/Release, prebuilds/<platform>). */
static int package_bin(char *out, size_t size)
{
    const char *override = getenv("NVC_TS_NODE_CLI");
    if (override != NULL && override[0] != '\0') {
        if ((size_t)snprintf(out, size, "%s", override) >= size)
            return -1;
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    for (int up = 0; up < 3; up++) {
        char *slash = strrchr(self, '/');
        if (slash == NULL)
            return -1;
        *slash = '\0';
    }
    if ((size_t)snprintf(out, size, "%s/bin/nvc-ts.js", self) >= size)
        return -1;
    return 0;
}

static int exec_node_cli(int argc, char **argv, const char *why, int debug)
{
    char bin[PATH_MAX];
    if (package_bin(bin, sizeof(bin)) < 0) {
        fprintf(stderr,
                "nvc-ts: error: no nvc-ts service (%s) and the Node CLI cannot be found beside %s; set NVC_TS_NODE_CLI "
                "to bin/nvc-ts.js of the package\n",
                why, argv[0]);
        return 1;
    }
    const char *node = getenv("NVC_TS_NODE");
    if (node == NULL || node[0] == '\0')
        node = NVC_CLIENT_NODE;
    if (debug)
        fprintf(stderr, "nvc-ts: no service (%s): running the Node CLI %s\n", why, bin);
    char **args = calloc((size_t)argc + 2, sizeof(*args));
    if (args == NULL)
        return 1;
    args[0] = (char *)"node";
    args[1] = bin;
    for (int i = 1; i < argc; i++)
        args[i + 1] = argv[i];
    execvp(node, args);
    /* The baked path may be gone (node upgraded): PATH's node next. */
    if (strchr(node, '/') != NULL)
        execvp("node", args);
    fprintf(stderr,
            "nvc-ts: error: no nvc-ts service (%s) and node cannot be run (%s); set NVC_TS_NODE to node's path\n", why,
            strerror(errno));
    free(args);
    return 1;
}

/* The environment a run depends on: nvc-ts's own variables, PATH (driver binaries are looked up on
 * it) and CUDA_MPS_PIPE_DIRECTORY; the service runs a request only where they are its own. */
static int env_sent(const char *entry)
{
    return strncmp(entry, "NVC_TS_", 7) == 0 || strncmp(entry, "PATH=", 5) == 0 ||
           strncmp(entry, "CUDA_MPS_PIPE_DIRECTORY=", 24) == 0;
}

static int send_request(int fd, int argc, char **argv)
{
    struct buf b = {0};
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    frame_begin(&b, NVCS_REQUEST);
    put_str(&b, cwd, strlen(cwd));
    put_u32(&b, (uint32_t)(argc - 1));
    for (int i = 1; i < argc; i++)
        put_str(&b, argv[i], strlen(argv[i]));
    uint32_t envc = 0;
    for (char **e = environ; *e != NULL; e++)
        if (env_sent(*e))
            envc++;
    put_u32(&b, envc);
    for (char **e = environ; *e != NULL; e++)
        if (env_sent(*e))
            put_str(&b, *e, strlen(*e));
    frame_end(&b);
    int rc = b.failed || b.len > NVCS_REQUEST_MAX ? -2 : write_all(fd, b.data, b.len);
    free(b.data);
    return rc;
}

/* stdin for hook mode: at most NVCS_STDIN_MAX + 1 bytes, so that the service reports an oversized state as the CLI
 * does. */
static int send_stdin(int fd)
{
    struct buf b = {0};
    int tty = isatty(STDIN_FILENO);
    frame_begin(&b, NVCS_STDIN);
    unsigned char flag = (unsigned char)(tty ? 1 : 0);
    buf_put(&b, &flag, 1);
    size_t at = b.len;
    put_u32(&b, 0);
    size_t total = 0;
    if (!tty) {
        unsigned char chunk[65536];
        while (total <= NVCS_STDIN_MAX) {
            size_t want = sizeof(chunk);
            if (want > NVCS_STDIN_MAX + 1 - total)
                want = NVCS_STDIN_MAX + 1 - total;
            /* As the CLI: a state not read within 10 s is not coming; the service reports it. */
            struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
            if (poll(&p, 1, 10000) == 0)
                break;
            ssize_t r = read(STDIN_FILENO, chunk, want);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            buf_put(&b, chunk, (size_t)r);
            total += (size_t)r;
        }
    }
    if (!b.failed) {
        b.data[at] = (unsigned char)total, b.data[at + 1] = (unsigned char)(total >> 8);
        b.data[at + 2] = (unsigned char)(total >> 16), b.data[at + 3] = (unsigned char)(total >> 24);
    }
    frame_end(&b);
    int rc = b.failed ? -1 : write_all(fd, b.data, b.len);
    free(b.data);
    return rc;
}

static int print_result(const unsigned char *body, uint32_t len)
{
    if (len < 12)
        return -1;
    int32_t status = (int32_t)get_u32(body);
    uint32_t out_len = get_u32(body + 4);
    if (out_len > len - 8 || len - 8 - out_len < 4)
        return -1;
    uint32_t err_len = get_u32(body + 8 + out_len);
    if (err_len != len - 12 - out_len)
        return -1;
    if (write_fd(STDOUT_FILENO, body + 8, out_len) < 0 && errno != EPIPE) {
        fprintf(stderr, "nvc-ts: error: cannot write the output (%s)\n", strerror(errno));
        return 1;
    }
    (void)write_fd(STDERR_FILENO, body + 12 + out_len, err_len);
    return status < 0 || status > 255 ? 1 : status;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    int debug = debug_asked(argc, argv);
    const char *path = getenv("NVC_TS_SOCKET");
    if (path == NULL || path[0] == '\0')
        path = NVCS_DEFAULT_SOCKET;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "nvc-ts: error: NVC_TS_SOCKET is longer than a unix socket path can be (%zu bytes)\n",
                sizeof(addr.sun_path) - 1);
        return 1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return exec_node_cli(argc, argv, strerror(errno), debug);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        char why[PATH_MAX + 64];
        snprintf(why, sizeof(why), "%s: %s", path, strerror(errno));
        close(fd);
        return exec_node_cli(argc, argv, why, debug);
    }
    int sent = send_request(fd, argc, argv);
    if (sent == -2) {
        fprintf(stderr,
                "nvc-ts: error: the command line and environment are larger than the service takes (%u bytes)\n",
                NVCS_REQUEST_MAX);
        return 1;
    }
    for (;;) {
        unsigned char h[NVCS_HEADER_BYTES];
        int r = sent < 0 ? -1 : read_exact(fd, h, sizeof(h));
        if (r <= 0) {
            /* The request may have been under way: not run again behind the caller's back. */
            fprintf(stderr,
                    "nvc-ts: error: the nvc-ts service at %s closed the connection before answering; the command may "
                    "not have run (see the service's log)\n",
                    path);
            return 1;
        }
        uint32_t len = get_u32(h + 8);
        uint16_t type = (uint16_t)(h[6] | h[7] << 8);
        if (memcmp(h, "NVCS", 4) != 0 || (h[4] | h[5] << 8) != NVCS_VERSION || len > NVCS_RESULT_MAX) {
            fprintf(stderr,
                    "nvc-ts: error: the service at %s answered something that is not an nvc-ts reply of version %d\n",
                    path, NVCS_VERSION);
            return 1;
        }
        unsigned char *body = malloc(len ? len : 1);
        if (body == NULL || (len > 0 && read_exact(fd, body, len) != 1)) {
            fprintf(stderr, "nvc-ts: error: the nvc-ts service at %s closed the connection mid-reply\n", path);
            return 1;
        }
        switch (type) {
        case NVCS_NEED_STDIN:
            free(body);
            sent = send_stdin(fd);
            continue;
        case NVCS_RESULT: {
            int status = print_result(body, len);
            free(body);
            if (status < 0) {
                fprintf(stderr, "nvc-ts: error: the service at %s sent a malformed result\n", path);
                return 1;
            }
            return status;
        }
        case NVCS_DECLINE: {
            uint32_t n = len >= 4 ? get_u32(body) : 0;
            if (n > len - 4 || n > 1024)
                n = 0;
            char why[1100];
            snprintf(why, sizeof(why), "the service at %s declined: %.*s", path, (int)n, (const char *)body + 4);
            free(body);
            close(fd);
            return exec_node_cli(argc, argv, why, debug);
        }
        case NVCS_ERROR: {
            uint32_t n = len >= 4 ? get_u32(body) : 0;
            if (n > len - 4)
                n = 0;
            fprintf(stderr, "nvc-ts: error: %.*s\n", (int)n, (const char *)body + 4);
            free(body);
            return 1;
        }
        default:
            free(body);
            fprintf(stderr, "nvc-ts: error: the service at %s sent an unknown frame type %u\n", path, type);
            return 1;
        }
    }
}
