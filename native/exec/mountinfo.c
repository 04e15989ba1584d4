#define _GNU_SOURCE
#include "mountinfo.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The kernel escapes space, tab, newline and backslash in paths as \ooo. */
static void unescape(const char *in, char *out, size_t n)
{
    size_t o = 0;
    while (*in && o + 1 < n) {
        if (in[0] == '\\' && in[1] >= '0' && in[1] <= '3' && in[2] >= '0' && in[2] <= '7' && in[3] >= '0' &&
            in[3] <= '7') {
            out[o++] = (char)((in[1] - '0') * 64 + (in[2] - '0') * 8 + (in[3] - '0'));
            in += 4;
        } else {
            out[o++] = *in++;
        }
    }
    out[o] = '\0';
}

/* id parent major:minor root mountpoint options [optional fields...] - fstype source super */
static int parse(char *line, struct mi_entry *e)
{
    char *save = NULL, *tok;
    int field = 0;

    e->shared = 0;
    e->mountpoint[0] = '\0';
    if (sscanf(line, "%" SCNu64 " %" SCNu64, &e->id, &e->parent) != 2)
        return -1;
    for (tok = strtok_r(line, " \n", &save); tok != NULL; tok = strtok_r(NULL, " \n", &save), field++) {
        if (field == 4)
            unescape(tok, e->mountpoint, sizeof(e->mountpoint));
        if (field >= 6 && strcmp(tok, "-") == 0)
            break;
        if (field >= 6 && strncmp(tok, "shared:", 7) == 0)
            e->shared = 1;
    }
    return field >= 5 ? 0 : -1;
}

typedef int (*visit_fn)(struct mi_entry *e, void *arg); /* 1 stops the scan */

static int scan(visit_fn fn, void *arg, struct mi_entry *scratch)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t cap = 0;
    int r = 0;

    if (f == NULL)
        return -1;
    while (r == 0 && getline(&line, &cap, f) > 0) {
        if (parse(line, scratch) == 0)
            r = fn(scratch, arg);
    }
    /* A read error is not the end of the table: taken for it, a mount would be "not found". */
    if (r == 0 && ferror(f))
        r = -1;
    int e = errno;
    free(line);
    fclose(f);
    errno = e;
    return r < 0 ? -1 : r;
}

struct lookup_arg {
    uint64_t id;
    struct mi_entry *out;
};

static int lookup_visit(struct mi_entry *e, void *arg)
{
    struct lookup_arg *a = arg;
    if (e->id != a->id)
        return 0;
    if (e != a->out)
        *a->out = *e;
    return 1;
}

int mi_lookup(uint64_t id, struct mi_entry *out)
{
    struct lookup_arg a = {id, out};
    return scan(lookup_visit, &a, out);
}

struct children_arg {
    uint64_t parent;
    uint64_t *ids;
    size_t n, cap;
    int oom;
};

static int children_visit(struct mi_entry *e, void *arg)
{
    struct children_arg *a = arg;
    if (e->parent != a->parent || e->id == e->parent)
        return 0;
    if (a->n == a->cap) {
        size_t want = a->cap ? a->cap * 2 : 16;
        uint64_t *p = realloc(a->ids, want * sizeof(*p));
        if (p == NULL) {
            a->oom = 1;
            return -1;
        }
        a->ids = p;
        a->cap = want;
    }
    a->ids[a->n++] = e->id;
    return 0;
}

int mi_children(uint64_t parent, uint64_t **ids, size_t *n)
{
    struct children_arg a = {.parent = parent};
    struct mi_entry *scratch = malloc(sizeof(*scratch));
    int r;

    if (scratch == NULL)
        return -1;
    r = scan(children_visit, &a, scratch);
    free(scratch);
    if (r < 0 || a.oom) {
        free(a.ids);
        if (a.oom)
            errno = ENOMEM;
        return -1;
    }
    *ids = a.ids;
    *n = a.n;
    return 0;
}
