#define _GNU_SOURCE
/* nvc_witness: the identities a lookup saw, and whether they are still the same. */
#include "witness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINKS 40 /* the kernel's MAXSYMLINKS, as the in-root resolver */

enum kind { BY_LSTAT, BY_CONTENT };

/* How a look ended: the identity is valid, nothing is there, or the look failed (a failure
 * is never the same as anything, not even the same failure: it proves nothing). */
enum outcome { SEEN, ABSENT, DIRECTORY, FAILED };

struct identity {
    enum outcome outcome;
    /* BY_LSTAT */
    dev_t dev;
    ino_t ino;
    mode_t mode;
    off_t size;
    struct timespec mtime, ctime;
    /* BY_CONTENT: errno of reading when FAILED or ABSENT */
    uint64_t hash;
    uint64_t len;
    int err;
};

struct entry {
    char *path;
    enum kind kind;
    int full;     /* size and times count (a file, a listed directory) */
    int unstable; /* changed too recently, or changed while being looked at: never the same */
    struct identity id;
    char *target; /* a link's, as read when recorded: later walks through it reuse it */
};

struct nvc_witness {
    struct entry *entries;
    size_t n, cap;
    /* Open addressing over entries by path: discovery looks at the same directories and links
     * hundreds of times (every library, every binary candidate). Slot = index + 1, 0 = free. */
    size_t *slots, nslots;
    long long settle_ns;
    int spoiled;
};

struct nvc_witness *nvc_witness_new(unsigned settle_ms)
{
    struct nvc_witness *w = calloc(1, sizeof(*w));
    if (w != NULL)
        w->settle_ns = (long long)settle_ms * 1000000LL;
    return w;
}

void nvc_witness_free(struct nvc_witness *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->entries[i].path);
        free(w->entries[i].target);
    }
    free(w->entries);
    free(w->slots);
    free(w);
}

size_t nvc_witness_size(const struct nvc_witness *w)
{
    return w == NULL ? 0 : w->n;
}

/* EISDIR only comes from reading content: a proc path that is a directory (nvidia-caps
 * paths name either a file or a directory holding "access"). */
static enum outcome outcome_of(int e)
{
    return e == ENOENT || e == ENOTDIR ? ABSENT : e == EISDIR ? DIRECTORY : FAILED;
}

static void look_lstat(const char *path, struct identity *id, struct stat *st)
{
    memset(id, 0, sizeof(*id));
    if (lstat(path, st) < 0) {
        id->outcome = outcome_of(errno);
        id->err = errno;
        return;
    }
    id->outcome = SEEN;
    id->dev = st->st_dev;
    id->ino = st->st_ino;
    id->mode = st->st_mode;
    id->size = st->st_size;
    id->mtime = st->st_mtim;
    id->ctime = st->st_ctim;
}

/* FNV-1a over the whole file, read in pieces on the stack: procfs files report size 0. */
static void look_content(const char *path, struct identity *id)
{
    unsigned char buf[4096];
    uint64_t h = 1469598103934665603ULL;
    int fd;

    memset(id, 0, sizeof(*id));
    /* O_NONBLOCK: a FIFO planted where a /proc or /sys file is expected must not hang us. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        id->outcome = outcome_of(errno);
        id->err = errno;
        return;
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            id->outcome = outcome_of(errno);
            id->err = errno;
            close(fd);
            return;
        }
        if (r == 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
        id->len += (uint64_t)r;
    }
    close(fd);
    id->outcome = SEEN;
    id->hash = h;
}

static int same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int same(const struct identity *a, const struct identity *b, enum kind kind, int full)
{
    if (a->outcome == FAILED || b->outcome == FAILED || a->outcome != b->outcome)
        return 0;
    if (a->outcome == ABSENT || a->outcome == DIRECTORY)
        return 1;
    if (kind == BY_CONTENT)
        return a->hash == b->hash && a->len == b->len;
    if (a->dev != b->dev || a->ino != b->ino || a->mode != b->mode)
        return 0;
    return !full || (a->size == b->size && same_time(a->mtime, b->mtime) && same_time(a->ctime, b->ctime));
}

/* Changed less than the settling time ago (or in the future: a clock set back). */
static int recent(const struct nvc_witness *w, const struct identity *id)
{
    struct timespec now;
    long long age;

    if (w->settle_ns <= 0 || id->outcome != SEEN)
        return 0;
    if (clock_gettime(CLOCK_REALTIME, &now) < 0)
        return 1;
    age = (long long)(now.tv_sec - id->ctime.tv_sec) * 1000000000LL + (now.tv_nsec - id->ctime.tv_nsec);
    return age < w->settle_ns;
}

static size_t hash_path(const char *path, enum kind kind)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)kind;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return (size_t)h;
}

static struct entry *find(const struct nvc_witness *w, const char *path, enum kind kind)
{
    if (w->nslots == 0)
        return NULL;
    for (size_t i = hash_path(path, kind) & (w->nslots - 1);; i = (i + 1) & (w->nslots - 1)) {
        size_t slot = w->slots[i];
        if (slot == 0)
            return NULL;
        if (w->entries[slot - 1].kind == kind && strcmp(w->entries[slot - 1].path, path) == 0)
            return &w->entries[slot - 1];
    }
}

/* Room for one more entry, the slots kept at most half full; -1 when out of memory. */
static int grow(struct nvc_witness *w)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        struct entry *grown = realloc(w->entries, cap * sizeof(*grown));
        if (grown == NULL)
            return -1;
        w->entries = grown;
        w->cap = cap;
    }
    if ((w->n + 1) * 2 > w->nslots) {
        size_t nslots = w->nslots ? w->nslots * 2 : 256;
        size_t *slots = calloc(nslots, sizeof(*slots));
        if (slots == NULL)
            return -1;
        for (size_t k = 0; k < w->n; k++) {
            size_t i = hash_path(w->entries[k].path, w->entries[k].kind) & (nslots - 1);
            while (slots[i] != 0)
                i = (i + 1) & (nslots - 1);
            slots[i] = k + 1;
        }
        free(w->slots);
        w->slots = slots;
        w->nslots = nslots;
    }
    return 0;
}

static struct entry *put(struct nvc_witness *w, const char *path, enum kind kind, int full, const struct identity *id)
{
    struct entry *e = find(w, path, kind);
    size_t i;

    if (e != NULL) {
        /* Two answers for one path: it changed while the lookup ran. */
        if (!same(&e->id, id, kind, e->full && full))
            e->unstable = 1;
        if (full && !e->full) {
            e->full = 1;
            e->id = *id;
            if (kind == BY_LSTAT && recent(w, id))
                e->unstable = 1;
        }
        return e;
    }
    if (grow(w) < 0) {
        w->spoiled = 1;
        return NULL;
    }
    e = &w->entries[w->n];
    *e = (struct entry){.kind = kind, .full = full, .id = *id};
    e->path = strdup(path);
    if (e->path == NULL) {
        w->spoiled = 1;
        return NULL;
    }
    e->unstable = id->outcome == FAILED || (kind == BY_LSTAT && full && recent(w, id));
    for (i = hash_path(path, kind) & (w->nslots - 1); w->slots[i] != 0; i = (i + 1) & (w->nslots - 1))
        ;
    w->slots[i] = ++w->n;
    return e;
}

void nvc_witness_path(struct nvc_witness *w, const char *host_path, int listed)
{
    struct identity id;
    struct stat st;

    if (w == NULL)
        return;
    look_lstat(host_path, &id, &st);
    put(w, host_path, BY_LSTAT, id.outcome == SEEN && (listed || !S_ISDIR(st.st_mode)), &id);
}

void nvc_witness_content(struct nvc_witness *w, const char *host_path)
{
    struct identity id;

    if (w == NULL)
        return;
    look_content(host_path, &id);
    put(w, host_path, BY_CONTENT, 1, &id);
}

/* Prepend "head/" to the remaining path in rest (both NUL-terminated); 0 or -1 if too long. */
static int prepend(char *rest, size_t restsz, const char *head, size_t headlen)
{
    size_t rl = strlen(rest);

    if (headlen + 1 + rl + 1 > restsz)
        return -1;
    memmove(rest + headlen + 1, rest, rl + 1);
    memcpy(rest, head, headlen);
    rest[headlen] = '/';
    return 0;
}

void nvc_witness_walk(struct nvc_witness *w, const char *root, const char *path, int listed)
{
    /* cur: the resolved in-root prefix ("" is the root itself); rest: what is left to walk. */
    char cur[PATH_MAX] = "", rest[PATH_MAX], host[PATH_MAX], target[PATH_MAX];
    const char *rootp = strcmp(root, "/") == 0 ? "" : root;
    size_t rootlen = strlen(rootp);
    int links = 0;

    if (w == NULL)
        return;
    if (strlen(path) >= sizeof(rest) || rootlen >= sizeof(host)) {
        w->spoiled = 1;
        return;
    }
    memcpy(rest, path, strlen(path) + 1);
    nvc_witness_path(w, rootlen ? rootp : "/", 0);
    for (;;) {
        char *p = rest, *comp, *slash;
        size_t clen, curlen = strlen(cur);
        struct identity id;
        struct entry *e;
        struct stat st;
        mode_t mode;
        int last;

        while (*p == '/')
            p++;
        if (*p == '\0')
            return;
        comp = p;
        slash = strchrnul(comp, '/');
        clen = (size_t)(slash - comp);
        p = slash;
        while (*p == '/')
            p++;
        last = *p == '\0';
        if (clen == 1 && comp[0] == '.') {
            memmove(rest, p, strlen(p) + 1);
            continue;
        }
        if (clen == 2 && comp[0] == '.' && comp[1] == '.') {
            char *up = strrchr(cur, '/');
            if (up != NULL)
                *up = '\0';
            memmove(rest, p, strlen(p) + 1);
            continue;
        }
        if (rootlen + curlen + 1 + clen + 1 > sizeof(host)) {
            w->spoiled = 1;
            return;
        }
        memcpy(host, rootp, rootlen);
        memcpy(host + rootlen, cur, curlen);
        host[rootlen + curlen] = '/';
        memcpy(host + rootlen + curlen + 1, comp, clen);
        host[rootlen + curlen + 1 + clen] = '\0';
        /* Met before in this lookup: what it was then (recorded before any use of it). */
        e = find(w, host, BY_LSTAT);
        if (e == NULL) {
            look_lstat(host, &id, &st);
            e = put(w, host, BY_LSTAT, id.outcome == SEEN && (!S_ISDIR(st.st_mode) || (last && listed)), &id);
            if (e == NULL)
                return;
            if (id.outcome == SEEN && S_ISLNK(st.st_mode)) {
                ssize_t tl = readlink(host, target, sizeof(target) - 1);
                if (tl < 0 || (size_t)tl >= sizeof(target) - 1 ||
                    (target[tl] = '\0', e->target = strdup(target)) == NULL) {
                    /* Whatever it points at was not recorded: never trust this witness. */
                    w->spoiled = 1;
                    return;
                }
            }
        } else if (last && listed && !e->full)
            put(w, host, BY_LSTAT, 1, &e->id);
        if (e->id.outcome != SEEN)
            return;
        mode = e->id.mode;
        memmove(rest, p, strlen(p) + 1);
        if (S_ISLNK(mode)) {
            if (++links > MAX_LINKS || e->target == NULL)
                return;
            if (e->target[0] == '/')
                cur[0] = '\0';
            if (prepend(rest, sizeof(rest), e->target, strlen(e->target)) < 0) {
                w->spoiled = 1;
                return;
            }
            continue;
        }
        if (!S_ISDIR(mode) && !last)
            return; /* ENOTDIR: the lookup ends here, and so does what it saw */
        if (curlen + 1 + clen + 1 > sizeof(cur)) {
            w->spoiled = 1;
            return;
        }
        /* host ends with the component (comp pointed into rest, which has moved on since). */
        cur[curlen] = '/';
        memcpy(cur + curlen + 1, host + rootlen + curlen + 1, clen);
        cur[curlen + 1 + clen] = '\0';
    }
}

int nvc_witness_unchanged(const struct nvc_witness *w)
{
    if (w == NULL || w->spoiled)
        return 0;
    for (size_t i = 0; i < w->n; i++) {
        const struct entry *e = &w->entries[i];
        struct identity now;
        struct stat st;

        if (e->unstable)
            return 0;
        if (e->kind == BY_CONTENT)
            look_content(e->path, &now);
        else
            look_lstat(e->path, &now, &st);
        if (!same(&e->id, &now, e->kind, e->full))
            return 0;
    }
    return 1;
}
