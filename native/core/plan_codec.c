#define _GNU_SOURCE
#include "plan_codec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ABSENT 0xffffffffu

/* ---- checks ----------------------------------------------------------------------- */

const char *nvc_edit_kind_name(enum nvc_edit_kind k)
{
    switch (k) {
    case NVC_EDIT_MKDIR: return "mkdir";
    case NVC_EDIT_TMPFS: return "tmpfs";
    case NVC_EDIT_WRITE: return "write";
    case NVC_EDIT_BIND: return "bind";
    case NVC_EDIT_SYMLINK: return "symlink";
    case NVC_EDIT_REMOUNT: return "remount";
    }
    return "unknown";
}

/* Normalised absolute container path: the executor splits it into components itself
 * and must never meet "..", "." or empty components (they would let a plan talk about
 * a different directory than the one its text shows). */
static const char *target_problem(const char *t)
{
    size_t len;
    const char *p;

    if (t == NULL || t[0] != '/')
        return "must be an absolute path";
    len = strlen(t);
    if (len >= PATH_MAX)
        return "is too long";
    if (len == 1)
        return "must not be the root of the container";
    if (t[len - 1] == '/')
        return "must not end with '/'";
    for (p = t; *p != '\0';) {
        const char *c = p + 1, *end = strchrnul(c, '/');
        size_t cl = (size_t)(end - c);
        if (cl == 0)
            return "must not contain empty components (\"//\")";
        if (cl > NAME_MAX)
            return "has a component longer than NAME_MAX";
        if ((cl == 1 && c[0] == '.') || (cl == 2 && c[0] == '.' && c[1] == '.'))
            return "must not contain \".\" or \"..\" components";
        p = end;
    }
    return NULL;
}

static int bad_edit(struct nvc_error *err, size_t i, const struct nvc_edit *e, const char *what)
{
    return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", e->target, "edit %zu (%s %s): %s", i,
                         nvc_edit_kind_name(e->kind), e->target ? e->target : "(no target)", what);
}

static int check_edit(size_t i, const struct nvc_edit *e, struct nvc_error *err)
{
    const char *why;
    int is_bind = e->kind == NVC_EDIT_BIND, is_write = e->kind == NVC_EDIT_WRITE;
    int takes_flags = is_bind || e->kind == NVC_EDIT_TMPFS || e->kind == NVC_EDIT_REMOUNT;
    int takes_mode = is_write || e->kind == NVC_EDIT_MKDIR || e->kind == NVC_EDIT_TMPFS;

    if (e->kind < NVC_EDIT_MKDIR || e->kind > NVC_EDIT_REMOUNT)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", e->target, "edit %zu: unknown kind %d", i,
                             (int)e->kind);
    why = target_problem(e->target);
    if (why != NULL) {
        char buf[128];
        snprintf(buf, sizeof(buf), "the target %s", why);
        return bad_edit(err, i, e, buf);
    }
    if (is_bind) {
        if (e->source == NULL || e->source[0] != '/')
            return bad_edit(err, i, e, "the source must be an absolute host path");
        if (strlen(e->source) >= PATH_MAX)
            return bad_edit(err, i, e, "the source is too long");
        if (e->source_kind < NVC_SRC_FILE || e->source_kind > NVC_SRC_ANY)
            return bad_edit(err, i, e, "unknown source kind");
        if (e->source_kind != NVC_SRC_CHAR && (e->major != 0 || e->minor != 0))
            return bad_edit(err, i, e, "major/minor are only for character devices");
        if (e->optional != 0 && e->optional != 1)
            return bad_edit(err, i, e, "optional must be 0 or 1");
    } else if (e->source != NULL || e->source_kind != 0 || e->major != 0 || e->minor != 0 || e->optional != 0) {
        return bad_edit(err, i, e, "source, source kind, major/minor and optional are only for binds");
    }
    if (e->kind == NVC_EDIT_SYMLINK) {
        if (e->link == NULL || e->link[0] == '\0')
            return bad_edit(err, i, e, "a symlink needs a non-empty link text");
        if (strlen(e->link) >= PATH_MAX)
            return bad_edit(err, i, e, "the link text is too long");
    } else if (e->link != NULL) {
        return bad_edit(err, i, e, "link is only for symlinks");
    }
    if (!is_write && (e->data != NULL || e->data_len != 0))
        return bad_edit(err, i, e, "data is only for writes");
    if (is_write && e->data == NULL && e->data_len != 0)
        return bad_edit(err, i, e, "data_len without data");
    if (!takes_mode && e->mode != 0)
        return bad_edit(err, i, e, "mode is only for mkdir, tmpfs and write");
    /* No set-id bits: nothing this plan creates should ever grant privileges. */
    if (e->mode > (is_write ? 0777u : 01777u))
        return bad_edit(err, i, e, is_write ? "mode must be within 0777" : "mode must be within 01777");
    if (!takes_flags && e->flags != 0)
        return bad_edit(err, i, e, "flags are only for bind, tmpfs and remount");
    if (e->flags & ~(unsigned)(NVC_MNT_RDONLY | NVC_MNT_NOSUID | NVC_MNT_NODEV | NVC_MNT_NOEXEC))
        return bad_edit(err, i, e, "unknown mount flags");
    if (e->kind == NVC_EDIT_REMOUNT && e->flags == 0)
        return bad_edit(err, i, e, "a remount needs at least one flag");
    return 0;
}

int nvc_plan_check(const struct nvc_plan *plan, struct nvc_error *err)
{
    if (plan == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "no plan");
    if (plan->pid < 0)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "invalid pid %ld", (long)plan->pid);
    if (plan->rootfs == NULL || plan->rootfs[0] != '/' || strlen(plan->rootfs) >= PATH_MAX)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", plan->rootfs,
                             "the rootfs must be an absolute path shorter than PATH_MAX");
    /* (uid_t)-1 means "leave unchanged" to chown: never a real owner. */
    if (plan->uid == (uid_t)-1 || plan->gid == (gid_t)-1)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "invalid owner %u:%u",
                             (unsigned)plan->uid, (unsigned)plan->gid);
    if (plan->nedits > NVC_PLAN_MAX_EDITS)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "%zu edits, more than the %u allowed",
                             plan->nedits, NVC_PLAN_MAX_EDITS);
    if (plan->nedits > 0 && plan->edits == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "edits missing");
    for (size_t i = 0; i < plan->nedits; i++) {
        if (check_edit(i, &plan->edits[i], err) < 0)
            return -1;
    }
    return 0;
}

/* ---- writing ---------------------------------------------------------------------- */

struct wbuf {
    uint8_t *p;
    size_t len, cap, max;
    int overflow; /* 1: over max, 2: out of memory */
};

static void w_reserve(struct wbuf *w, size_t n)
{
    size_t want;
    uint8_t *np;

    if (w->overflow)
        return;
    if (n > w->max - w->len) {
        w->overflow = 1;
        return;
    }
    if (w->len + n <= w->cap)
        return;
    want = w->cap ? w->cap : 4096;
    while (want < w->len + n)
        want *= 2;
    if (want > w->max)
        want = w->max;
    np = realloc(w->p, want);
    if (np == NULL) {
        w->overflow = 2;
        return;
    }
    w->p = np;
    w->cap = want;
}

static void w_bytes(struct wbuf *w, const void *d, size_t n)
{
    w_reserve(w, n);
    if (w->overflow)
        return;
    if (n > 0)
        memcpy(w->p + w->len, d, n);
    w->len += n;
}

static void w_u32(struct wbuf *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    w_bytes(w, b, 4);
}

static void w_u16(struct wbuf *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    w_bytes(w, b, 2);
}

static void w_blob(struct wbuf *w, const void *d, size_t n)
{
    if (n >= ABSENT) {
        w->overflow = 1;
        return;
    }
    w_u32(w, (uint32_t)n);
    w_bytes(w, d, n);
}

static void w_str(struct wbuf *w, const char *s)
{
    w_blob(w, s, strlen(s));
}

static void w_ostr(struct wbuf *w, const char *s)
{
    if (s == NULL)
        w_u32(w, ABSENT);
    else
        w_str(w, s);
}

static void w_start(struct wbuf *w, uint16_t type, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->max = max;
    w_u32(w, NVC_PLAN_MAGIC);
    w_u16(w, NVC_PLAN_WIRE_VERSION);
    w_u16(w, type);
    w_u32(w, 0); /* body length, patched by w_finish */
}

static int w_finish(struct wbuf *w, uint8_t **buf, size_t *len)
{
    size_t body;

    if (w->overflow) {
        free(w->p);
        w->p = NULL;
        return -1;
    }
    body = w->len - NVC_PLAN_FRAME_HEADER;
    w->p[8] = (uint8_t)body;
    w->p[9] = (uint8_t)(body >> 8);
    w->p[10] = (uint8_t)(body >> 16);
    w->p[11] = (uint8_t)(body >> 24);
    *buf = w->p;
    *len = w->len;
    return 0;
}

int nvc_plan_encode(const struct nvc_plan *plan, uint8_t **buf, size_t *len, struct nvc_error *err)
{
    struct wbuf w;

    if (nvc_plan_check(plan, err) < 0)
        return -1;
    w_start(&w, NVC_FRAME_PLAN, NVC_PLAN_MAX_BYTES);
    w_u32(&w, (uint32_t)plan->pid);
    w_str(&w, plan->rootfs);
    w_u32(&w, (uint32_t)plan->uid);
    w_u32(&w, (uint32_t)plan->gid);
    w_u32(&w, (uint32_t)plan->nedits);
    for (size_t i = 0; i < plan->nedits && !w.overflow; i++) {
        const struct nvc_edit *e = &plan->edits[i];
        w_u32(&w, (uint32_t)e->kind);
        w_str(&w, e->target);
        w_ostr(&w, e->source);
        w_ostr(&w, e->link);
        if (e->kind == NVC_EDIT_WRITE)
            w_blob(&w, e->data ? e->data : "", e->data_len);
        else
            w_u32(&w, ABSENT);
        w_u32(&w, e->mode);
        w_u32(&w, e->flags);
        w_u32(&w, (uint32_t)e->source_kind);
        w_u32(&w, e->major);
        w_u32(&w, e->minor);
        w_u32(&w, (uint32_t)e->optional);
    }
    if (w_finish(&w, buf, len) < 0) {
        if (w.overflow == 1)
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL,
                                 "the encoded plan exceeds %u bytes", NVC_PLAN_MAX_BYTES);
        errno = ENOMEM;
        return nvc_error_sys(err, "plan", NULL, "cannot encode the plan");
    }
    return 0;
}

int nvc_plan_encode_done(const enum nvc_edit_outcome *outcomes, size_t n, uint8_t **buf, size_t *len)
{
    struct wbuf w;

    w_start(&w, NVC_FRAME_DONE, NVC_PLAN_MAX_RESULT);
    w_u32(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t o = (uint8_t)outcomes[i];
        w_bytes(&w, &o, 1);
    }
    if (w_finish(&w, buf, len) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

int nvc_plan_encode_error(const struct nvc_error *e, uint8_t **buf, size_t *len)
{
    struct wbuf w;

    w_start(&w, NVC_FRAME_ERROR, NVC_PLAN_MAX_RESULT);
    w_str(&w, nvc_errcode_string(e->code));
    w_u32(&w, (uint32_t)e->sys_errno);
    w_blob(&w, e->step, strnlen(e->step, sizeof(e->step)));
    w_blob(&w, e->path, strnlen(e->path, sizeof(e->path)));
    w_blob(&w, e->msg, strnlen(e->msg, sizeof(e->msg)));
    if (w_finish(&w, buf, len) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------------- */

struct rbuf {
    const uint8_t *p;
    size_t len, off;
    const char *bad; /* first problem met; every later read is a no-op */
};

static uint32_t r_u32(struct rbuf *r)
{
    const uint8_t *b;
    if (r->bad)
        return 0;
    if (r->len - r->off < 4) {
        r->bad = "truncated";
        return 0;
    }
    b = r->p + r->off;
    r->off += 4;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A length-prefixed field: returns a pointer into the body and its length, or NULL for
 * "absent" (allowed only when may_be_absent). Refuses lengths over max and NUL bytes
 * in text fields. */
static const uint8_t *r_field(struct rbuf *r, size_t max, int text, int may_be_absent, size_t *n)
{
    uint32_t l = r_u32(r);
    const uint8_t *d;

    *n = 0;
    if (r->bad)
        return NULL;
    if (l == ABSENT) {
        if (!may_be_absent)
            r->bad = "a required field is absent";
        return NULL;
    }
    if (l > max) {
        r->bad = "a field is longer than allowed";
        return NULL;
    }
    if (r->len - r->off < l) {
        r->bad = "a field runs past the end of the frame";
        return NULL;
    }
    d = r->p + r->off;
    if (text && memchr(d, '\0', l) != NULL) {
        r->bad = "a text field holds a NUL byte";
        return NULL;
    }
    r->off += l;
    *n = l;
    return d;
}

/* Arena for decoded strings: a string of n bytes took 4 + n bytes of the body and
 * needs n + 1 here, so an arena as large as the body always suffices. */
struct arena {
    char *p;
    size_t off, cap;
};

static char *a_copy(struct arena *a, const uint8_t *d, size_t n)
{
    char *s;
    if (n + 1 > a->cap - a->off)
        return NULL; /* cannot happen given the sizing above; be safe anyway */
    s = a->p + a->off;
    if (n > 0)
        memcpy(s, d, n);
    s[n] = '\0';
    a->off += n + 1;
    return s;
}

static const char *r_text(struct rbuf *r, struct arena *a, size_t max, int may_be_absent)
{
    size_t n;
    const uint8_t *d = r_field(r, max, 1, may_be_absent, &n);
    char *s;
    if (d == NULL)
        return NULL;
    s = a_copy(a, d, n);
    if (s == NULL)
        r->bad = "arena overflow";
    return s;
}

int nvc_plan_frame_header(const uint8_t *hdr, uint16_t *type, uint32_t *body_len, const char **why)
{
    uint32_t magic = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    uint16_t version = (uint16_t)(hdr[4] | hdr[5] << 8);

    *type = (uint16_t)(hdr[6] | hdr[7] << 8);
    *body_len = (uint32_t)hdr[8] | (uint32_t)hdr[9] << 8 | (uint32_t)hdr[10] << 16 | (uint32_t)hdr[11] << 24;
    if (magic != NVC_PLAN_MAGIC) {
        *why = "bad magic";
        return -1;
    }
    if (version != NVC_PLAN_WIRE_VERSION) {
        *why = "unsupported protocol version";
        return -1;
    }
    if (*type < NVC_FRAME_PLAN || *type > NVC_FRAME_ERROR) {
        *why = "unknown frame type";
        return -1;
    }
    if (*body_len > (*type == NVC_FRAME_PLAN ? NVC_PLAN_MAX_BYTES : NVC_PLAN_MAX_RESULT) - NVC_PLAN_FRAME_HEADER) {
        *why = "frame larger than allowed";
        return -1;
    }
    return 0;
}

void nvc_plan_decoded_free(struct nvc_plan_decoded *d)
{
    free(d->edits);
    free(d->arena);
    d->edits = NULL;
    d->arena = NULL;
}

int nvc_plan_decode(const uint8_t *body, size_t len, struct nvc_plan_decoded *out, struct nvc_error *err)
{
    struct rbuf r = {.p = body, .len = len};
    struct arena a = {0};
    uint32_t nedits;

    memset(out, 0, sizeof(*out));
    if (len > NVC_PLAN_MAX_BYTES)
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "plan", NULL, "plan frame too large");
    a.cap = len + 1;
    a.p = malloc(a.cap);
    if (a.p == NULL) {
        errno = ENOMEM;
        return nvc_error_sys(err, "plan", NULL, "cannot decode the plan");
    }
    out->arena = a.p;
    out->plan.pid = (pid_t)(int32_t)r_u32(&r);
    out->plan.rootfs = r_text(&r, &a, PATH_MAX - 1, 0);
    out->plan.uid = (uid_t)r_u32(&r);
    out->plan.gid = (gid_t)r_u32(&r);
    nedits = r_u32(&r);
    if (!r.bad && nedits > NVC_PLAN_MAX_EDITS)
        r.bad = "too many edits";
    /* Each edit takes at least 44 bytes: refuse a count the body cannot hold before
     * allocating for it. */
    if (!r.bad && (size_t)nedits * 44 > r.len - r.off)
        r.bad = "edit count larger than the frame";
    if (!r.bad && nedits > 0) {
        out->edits = calloc(nedits, sizeof(*out->edits));
        if (out->edits == NULL) {
            nvc_plan_decoded_free(out);
            errno = ENOMEM;
            return nvc_error_sys(err, "plan", NULL, "cannot decode the plan");
        }
    }
    for (uint32_t i = 0; i < nedits && !r.bad; i++) {
        struct nvc_edit *e = &out->edits[i];
        size_t n = 0;
        const uint8_t *d;

        e->kind = (enum nvc_edit_kind)r_u32(&r);
        e->target = r_text(&r, &a, PATH_MAX - 1, 0);
        e->source = r_text(&r, &a, PATH_MAX - 1, 1);
        e->link = r_text(&r, &a, PATH_MAX - 1, 1);
        d = r_field(&r, NVC_PLAN_MAX_BYTES, 0, 1, &n);
        if (d != NULL) {
            e->data = a_copy(&a, d, n);
            e->data_len = n;
        }
        e->mode = r_u32(&r);
        e->flags = r_u32(&r);
        e->source_kind = (enum nvc_source_kind)r_u32(&r);
        e->major = r_u32(&r);
        e->minor = r_u32(&r);
        e->optional = (int)r_u32(&r);
    }
    if (!r.bad && r.off != r.len)
        r.bad = "bytes left over after the last edit";
    if (r.bad) {
        nvc_plan_decoded_free(out);
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "plan", NULL, "malformed plan: %s", r.bad);
    }
    out->plan.edits = out->edits;
    out->plan.nedits = nedits;
    if (nvc_plan_check(&out->plan, err) < 0) {
        nvc_plan_decoded_free(out);
        return -1;
    }
    return 0;
}

static int copy_text(struct rbuf *r, char *out, size_t outsz)
{
    size_t n;
    const uint8_t *d = r_field(r, outsz - 1, 1, 0, &n);
    if (d == NULL)
        return -1;
    memcpy(out, d, n);
    out[n] = '\0';
    return 0;
}

int nvc_plan_decode_result(uint16_t type, const uint8_t *body, size_t len, size_t nedits,
                           struct nvc_plan_result *result, struct nvc_error *reported, const char **why)
{
    struct rbuf r = {.p = body, .len = len};

    if (type == NVC_FRAME_DONE) {
        uint32_t n = r_u32(&r);
        if (r.bad || n != nedits || r.len - r.off != n) {
            *why = "the outcome list does not match the plan";
            return -1;
        }
        result->outcomes = NULL;
        result->nedits = n;
        if (n == 0)
            return 0;
        result->outcomes = malloc(n * sizeof(*result->outcomes));
        if (result->outcomes == NULL) {
            *why = "out of memory";
            return -1;
        }
        for (uint32_t i = 0; i < n; i++) {
            uint8_t o = r.p[r.off + i];
            if (o != NVC_OUTCOME_DONE && o != NVC_OUTCOME_SKIPPED) {
                free(result->outcomes);
                result->outcomes = NULL;
                result->nedits = 0;
                *why = "unknown outcome";
                return -1;
            }
            result->outcomes[i] = (enum nvc_edit_outcome)o;
        }
        return 0;
    }
    if (type == NVC_FRAME_ERROR) {
        char code[64];
        int found = 0;

        nvc_error_clear(reported);
        if (copy_text(&r, code, sizeof(code)) < 0)
            goto bad;
        reported->sys_errno = (int)r_u32(&r);
        if (copy_text(&r, reported->step, sizeof(reported->step)) < 0 ||
            copy_text(&r, reported->path, sizeof(reported->path)) < 0 ||
            copy_text(&r, reported->msg, sizeof(reported->msg)) < 0 || r.off != r.len)
            goto bad;
        /* Codes travel by name: an enum value is only meaningful within one build. */
        for (int c = 1; c < NVC_ERRCODE_COUNT; c++) {
            if (strcmp(code, nvc_errcode_string((enum nvc_errcode)c)) == 0) {
                reported->code = (enum nvc_errcode)c;
                found = 1;
                break;
            }
        }
        if (!found) {
            *why = "unknown error code";
            return -1;
        }
        return 1;
    bad:
        *why = r.bad ? r.bad : "bytes left over in the error";
        return -1;
    }
    *why = "unexpected frame type";
    return -1;
}
