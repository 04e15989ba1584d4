#define _GNU_SOURCE
#include "plan_codec.h"
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks ----------------------------------------------------------------------- */

/* clang-format off */
static const char *const edit_kind_names[NVC_EDIT_END_] = {
#define NVC_EDIT_KIND(name, NAME) [NVC_EDIT_##NAME] = #name,
#include "nvc_vocabulary.def"
};
/* clang-format on */

const char *nvc_edit_kind_name(enum nvc_edit_kind k)
{
    return k > NVC_EDIT_INVALID_ && k < NVC_EDIT_END_ ? edit_kind_names[k] : "unknown";
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
    int takes_mode = is_write || e->kind == NVC_EDIT_TMPFS;

    if (e->kind <= NVC_EDIT_INVALID_ || e->kind >= NVC_EDIT_END_)
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
        if (e->source_kind <= NVC_SRC_INVALID_ || e->source_kind >= NVC_SRC_END_)
            return bad_edit(err, i, e, "unknown source kind");
        if (e->source_kind != NVC_SRC_CHAR && (e->major != 0 || e->minor != 0))
            return bad_edit(err, i, e, "major/minor are only for character devices");
    } else if (e->source != NULL || e->source_kind != 0 || e->major != 0 || e->minor != 0) {
        return bad_edit(err, i, e, "source, source kind and major/minor are only for binds");
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
        return bad_edit(err, i, e, "mode is only for tmpfs and write");
    /* No set-id bits: nothing this plan creates should ever grant privileges. */
    if (e->mode > (is_write ? 0777u : 01777u))
        return bad_edit(err, i, e, is_write ? "mode must be within 0777" : "mode must be within 01777");
    if (!takes_flags && e->flags != 0)
        return bad_edit(err, i, e, "flags are only for bind, tmpfs and remount");
    if (e->flags & ~((1u << NVC_MNT_BIT_END_) - 1))
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
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "invalid owner %u:%u", (unsigned)plan->uid,
                             (unsigned)plan->gid);
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

static void w_start(struct nvc_wbuf *w, uint16_t type, size_t max)
{
    nvc_wire_begin_heap(w, max, NVC_PLAN_MAGIC, NVC_PLAN_WIRE_VERSION, type);
}

/* 0 with the frame handed over, or -1 (w->overflow says why). */
static int w_finish(struct nvc_wbuf *w, uint8_t **buf, size_t *len)
{
    size_t n = nvc_wire_end(w);
    if (n == 0)
        return -1;
    *buf = w->data;
    *len = n;
    return 0;
}

int nvc_plan_encode(const struct nvc_plan *plan, uint8_t **buf, size_t *len, struct nvc_error *err)
{
    struct nvc_wbuf w;

    if (nvc_plan_check(plan, err) < 0)
        return -1;
    w_start(&w, NVC_FRAME_PLAN, NVC_PLAN_MAX_BYTES);
    nvc_wire_put_u32(&w, (uint32_t)plan->pid);
    nvc_wire_put_u64(&w, plan->pid_start);
    nvc_wire_put_str(&w, plan->rootfs);
    nvc_wire_put_u32(&w, (uint32_t)plan->uid);
    nvc_wire_put_u32(&w, (uint32_t)plan->gid);
    nvc_wire_put_u32(&w, (uint32_t)plan->nedits);
    for (size_t i = 0; i < plan->nedits && w.overflow == NVC_WIRE_OK; i++) {
        const struct nvc_edit *e = &plan->edits[i];
        nvc_wire_put_u32(&w, (uint32_t)e->kind);
        nvc_wire_put_str(&w, e->target);
        nvc_wire_put_ostr(&w, e->source);
        nvc_wire_put_ostr(&w, e->link);
        if (e->kind == NVC_EDIT_WRITE)
            nvc_wire_put_blob(&w, e->data ? e->data : "", e->data_len);
        else
            nvc_wire_put_absent(&w);
        nvc_wire_put_u32(&w, e->mode);
        nvc_wire_put_u32(&w, e->flags);
        nvc_wire_put_u32(&w, (uint32_t)e->source_kind);
        nvc_wire_put_u32(&w, e->major);
        nvc_wire_put_u32(&w, e->minor);
    }
    if (w_finish(&w, buf, len) < 0) {
        if (w.overflow == NVC_WIRE_TOO_LARGE)
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "plan", NULL, "the encoded plan exceeds %u bytes",
                                 NVC_PLAN_MAX_BYTES);
        errno = ENOMEM;
        return nvc_error_sys(err, "plan", NULL, "cannot encode the plan");
    }
    return 0;
}

static void put_changes(struct nvc_wbuf *w, const struct nvc_change *changes, size_t n)
{
    nvc_wire_put_u32(w, (uint32_t)n);
    for (size_t i = 0; i < n && w->overflow == NVC_WIRE_OK; i++) {
        const struct nvc_change *c = &changes[i];
        nvc_wire_put_u8(w, (uint8_t)c->kind);
        nvc_wire_put_str(w, c->path);
        nvc_wire_put_u64(w, c->mnt_id);
        nvc_wire_put_u64(w, c->mnt_unique);
        nvc_wire_put_u64(w, c->dev);
        nvc_wire_put_u64(w, c->ino);
        nvc_wire_put_u64(w, c->btime);
        nvc_wire_put_u32(w, c->flags);
    }
}

/* 0, or -1 with errno: ENOMEM, or E2BIG when the frame would exceed its maximum. */
static int finish_result(struct nvc_wbuf *w, uint8_t **buf, size_t *len)
{
    if (w_finish(w, buf, len) == 0)
        return 0;
    errno = w->overflow == NVC_WIRE_TOO_LARGE ? E2BIG : ENOMEM;
    return -1;
}

int nvc_plan_encode_done(const enum nvc_edit_outcome *outcomes, size_t n, uint32_t edits_us,
                         const struct nvc_change *changes, size_t nchanges, uint8_t **buf, size_t *len)
{
    struct nvc_wbuf w;

    w_start(&w, NVC_FRAME_DONE, NVC_PLAN_MAX_RESULT);
    nvc_wire_put_u32(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        nvc_wire_put_u8(&w, (uint8_t)outcomes[i]);
    nvc_wire_put_u32(&w, edits_us);
    put_changes(&w, changes, nchanges);
    return finish_result(&w, buf, len);
}

int nvc_plan_encode_error(const struct nvc_error *e, uint8_t **buf, size_t *len)
{
    struct nvc_wbuf w;

    w_start(&w, NVC_FRAME_ERROR, NVC_PLAN_MAX_RESULT);
    nvc_wire_put_error(&w, e);
    if (w_finish(&w, buf, len) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

/* ---- reading ---------------------------------------------------------------------- */

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

static const char *r_text(struct nvc_rbuf *r, struct arena *a, size_t max, int may_be_absent)
{
    size_t n;
    const uint8_t *d = nvc_wire_get_field(r, max, NVC_WIRE_TEXT | (may_be_absent ? NVC_WIRE_OPTIONAL : 0), &n);
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
    struct nvc_wire_header h;
    int rc = nvc_wire_parse_header(hdr, NVC_PLAN_MAGIC, NVC_PLAN_WIRE_VERSION,
                                   NVC_PLAN_MAX_BYTES - NVC_PLAN_FRAME_HEADER, &h, why);

    *type = h.type;
    *body_len = h.len;
    if (rc < 0)
        return -1;
    if (h.type < NVC_FRAME_PLAN || h.type > NVC_FRAME_UNDONE) {
        *why = "unknown frame type";
        return -1;
    }
    /* Answers are bounded by the reader's buffer for them, NVC_PLAN_MAX_RESULT. */
    if (h.type != NVC_FRAME_PLAN && h.type != NVC_FRAME_TEARDOWN &&
        h.len > NVC_PLAN_MAX_RESULT - NVC_PLAN_FRAME_HEADER) {
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
    struct nvc_rbuf r;
    struct arena a = {0};
    uint32_t nedits;

    nvc_wire_reader(&r, body, len);

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
    out->plan.pid = (pid_t)nvc_wire_get_i32(&r);
    out->plan.pid_start = nvc_wire_get_u64(&r);
    out->plan.rootfs = r_text(&r, &a, PATH_MAX - 1, 0);
    out->plan.uid = (uid_t)nvc_wire_get_u32(&r);
    out->plan.gid = (gid_t)nvc_wire_get_u32(&r);
    nedits = nvc_wire_get_u32(&r);
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

        e->kind = (enum nvc_edit_kind)nvc_wire_get_u32(&r);
        e->target = r_text(&r, &a, PATH_MAX - 1, 0);
        e->source = r_text(&r, &a, PATH_MAX - 1, 1);
        e->link = r_text(&r, &a, PATH_MAX - 1, 1);
        d = nvc_wire_get_field(&r, NVC_PLAN_MAX_BYTES, NVC_WIRE_OPTIONAL, &n);
        if (d != NULL) {
            e->data = a_copy(&a, d, n);
            e->data_len = n;
        }
        e->mode = nvc_wire_get_u32(&r);
        e->flags = nvc_wire_get_u32(&r);
        e->source_kind = (enum nvc_source_kind)nvc_wire_get_u32(&r);
        e->major = nvc_wire_get_u32(&r);
        e->minor = nvc_wire_get_u32(&r);
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

/* ---- change lists and teardown ----------------------------------------------------- */

/* 1 + 4 + 40 + 4: a change with an empty path; a count the body cannot hold is refused
 * before anything is allocated for it. */
#define CHANGE_MIN_BYTES 49

void nvc_changes_free(struct nvc_change *changes, size_t n)
{
    if (changes == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(changes[i].path);
    free(changes);
}

/* The change list at r into a malloc'd array (paths malloc'd). 0, or -1 with *why and
 * nothing to free. */
static int get_changes(struct nvc_rbuf *r, struct nvc_change **out, size_t *nout, const char **why)
{
    uint32_t n = nvc_wire_get_u32(r);
    struct nvc_change *c = NULL;

    *out = NULL;
    *nout = 0;
    if (!r->bad && n > NVC_PLAN_MAX_CHANGES)
        r->bad = "too many changes";
    if (!r->bad && (size_t)n * CHANGE_MIN_BYTES > r->len - r->off)
        r->bad = "change count larger than the frame";
    if (!r->bad && n > 0) {
        c = calloc(n, sizeof(*c));
        if (c == NULL) {
            *why = "out of memory";
            return -1;
        }
    }
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        size_t len = 0;
        const uint8_t *p;

        c[i].kind = (enum nvc_change_kind)nvc_wire_get_u8(r);
        p = nvc_wire_get_field(r, PATH_MAX - 1, NVC_WIRE_TEXT, &len);
        if (p != NULL) {
            c[i].path = strndup((const char *)p, len);
            if (c[i].path == NULL && !r->bad)
                r->bad = "out of memory";
        }
        c[i].mnt_id = nvc_wire_get_u64(r);
        c[i].mnt_unique = nvc_wire_get_u64(r);
        c[i].dev = nvc_wire_get_u64(r);
        c[i].ino = nvc_wire_get_u64(r);
        c[i].btime = nvc_wire_get_u64(r);
        c[i].flags = nvc_wire_get_u32(r);
    }
    if (r->bad) {
        nvc_changes_free(c, n);
        *why = r->bad;
        return -1;
    }
    *out = c;
    *nout = n;
    return 0;
}

int nvc_changes_check(const struct nvc_change *changes, size_t n, struct nvc_error *err)
{
    if (n > NVC_PLAN_MAX_CHANGES)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", NULL,
                             "%zu changes, more than the %u allowed", n, NVC_PLAN_MAX_CHANGES);
    if (n > 0 && changes == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", NULL, "changes missing");
    for (size_t i = 0; i < n; i++) {
        const struct nvc_change *c = &changes[i];
        const char *why = target_problem(c->path);
        if (c->kind < NVC_CHANGE_MOUNT || c->kind > NVC_CHANGE_FLAGS)
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", c->path, "change %zu: unknown kind %d",
                                 i, (int)c->kind);
        if (why != NULL)
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", c->path, "change %zu: the path %s", i,
                                 why);
        if (c->kind == NVC_CHANGE_FLAGS ? (c->flags == 0 || (c->flags & ~((1u << NVC_MNT_BIT_END_) - 1)))
                                        : c->flags != 0)
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", c->path,
                                 "change %zu: flags are only for a flags change, and must be known", i);
    }
    return 0;
}

static int check_teardown(const struct nvc_teardown *req, struct nvc_error *err)
{
    if (req == NULL)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", NULL, "no teardown request");
    if (req->pid < 0)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", NULL, "invalid pid %ld", (long)req->pid);
    if (req->rootfs == NULL || req->rootfs[0] != '/' || strlen(req->rootfs) >= PATH_MAX)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", req->rootfs,
                             "the rootfs must be an absolute path shorter than PATH_MAX");
    return nvc_changes_check(req->changes, req->nchanges, err);
}

int nvc_teardown_encode(const struct nvc_teardown *req, uint8_t **buf, size_t *len, struct nvc_error *err)
{
    struct nvc_wbuf w;

    if (check_teardown(req, err) < 0)
        return -1;
    w_start(&w, NVC_FRAME_TEARDOWN, NVC_PLAN_MAX_BYTES);
    nvc_wire_put_i32(&w, (int32_t)req->pid);
    nvc_wire_put_u64(&w, req->pid_start);
    nvc_wire_put_str(&w, req->rootfs);
    put_changes(&w, req->changes, req->nchanges);
    if (w_finish(&w, buf, len) < 0) {
        if (w.overflow == NVC_WIRE_TOO_LARGE)
            return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, 0, "teardown", NULL,
                                 "the encoded teardown exceeds %u bytes", NVC_PLAN_MAX_BYTES);
        errno = ENOMEM;
        return nvc_error_sys(err, "teardown", NULL, "cannot encode the teardown");
    }
    return 0;
}

void nvc_teardown_decoded_free(struct nvc_teardown_decoded *d)
{
    nvc_changes_free(d->changes, d->req.nchanges);
    free(d->rootfs);
    memset(d, 0, sizeof(*d));
}

int nvc_teardown_decode(const uint8_t *body, size_t len, struct nvc_teardown_decoded *out, struct nvc_error *err)
{
    struct nvc_rbuf r;
    const char *why = NULL;
    char *rootfs;

    memset(out, 0, sizeof(*out));
    rootfs = malloc(PATH_MAX);
    if (rootfs == NULL) {
        errno = ENOMEM;
        return nvc_error_sys(err, "teardown", NULL, "cannot decode the teardown");
    }
    nvc_wire_reader(&r, body, len);
    out->req.pid = (pid_t)nvc_wire_get_i32(&r);
    out->req.pid_start = nvc_wire_get_u64(&r);
    nvc_wire_get_str(&r, rootfs, PATH_MAX);
    out->rootfs = rootfs;
    if (r.bad || get_changes(&r, &out->changes, &out->req.nchanges, &why) < 0) {
        why = r.bad ? r.bad : why;
        nvc_teardown_decoded_free(out);
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "teardown", NULL, "malformed teardown: %s", why);
    }
    if (!nvc_wire_done(&r)) {
        nvc_teardown_decoded_free(out);
        return nvc_error_set(err, NVC_ERR_SERVICE_PROTOCOL, 0, "teardown", NULL,
                             "malformed teardown: bytes left over after the last change");
    }
    out->req.rootfs = out->rootfs;
    out->req.changes = out->changes;
    if (check_teardown(&out->req, err) < 0) {
        nvc_teardown_decoded_free(out);
        return -1;
    }
    return 0;
}

int nvc_teardown_encode_undone(const struct nvc_undo_report *reports, size_t n, uint8_t **buf, size_t *len)
{
    struct nvc_wbuf w;

    w_start(&w, NVC_FRAME_UNDONE, NVC_PLAN_MAX_RESULT);
    nvc_wire_put_u32(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        nvc_wire_put_u8(&w, (uint8_t)reports[i].status);
        nvc_wire_put_str(&w, reports[i].why);
    }
    return finish_result(&w, buf, len);
}

/* The end of both result decoders: an ERROR frame (1, with what the executor reported) or
 * a frame of a type that does not answer the request (-1). */
static int decode_error_frame(uint16_t type, struct nvc_rbuf *r, struct nvc_error *reported, const char **why)
{
    if (type != NVC_FRAME_ERROR) {
        *why = "unexpected frame type";
        return -1;
    }
    nvc_wire_get_error(r, reported);
    if (!nvc_wire_done(r)) {
        *why = r->bad ? r->bad : "bytes left over in the error";
        return -1;
    }
    return 1;
}

int nvc_teardown_decode_result(uint16_t type, const uint8_t *body, size_t len, size_t nchanges,
                               struct nvc_teardown_result *result, struct nvc_error *reported, const char **why)
{
    struct nvc_rbuf r;

    result->reports = NULL;
    result->nchanges = 0;
    nvc_wire_reader(&r, body, len);
    if (type == NVC_FRAME_UNDONE) {
        uint32_t n = nvc_wire_get_u32(&r);
        struct nvc_undo_report *rep;

        /* u8 + an empty str: 5 bytes each at least. */
        if (r.bad || n != nchanges || (size_t)n * 5 > r.len - r.off) {
            *why = "the teardown report does not match the request";
            return -1;
        }
        rep = calloc(n ? n : 1, sizeof(*rep));
        if (rep == NULL) {
            *why = "out of memory";
            return -1;
        }
        for (uint32_t i = 0; i < n && !r.bad; i++) {
            uint8_t st = nvc_wire_get_u8(&r);
            if (!r.bad && (st < NVC_UNDO_DONE || st > NVC_UNDO_KEPT))
                r.bad = "unknown teardown status";
            rep[i].status = (enum nvc_undo_status)st;
            nvc_wire_get_str(&r, rep[i].why, sizeof(rep[i].why));
        }
        if (!nvc_wire_done(&r)) {
            *why = r.bad ? r.bad : "bytes left over in the teardown report";
            free(rep);
            return -1;
        }
        result->reports = rep;
        result->nchanges = n;
        return 0;
    }
    return decode_error_frame(type, &r, reported, why);
}

int nvc_plan_decode_result(uint16_t type, const uint8_t *body, size_t len, size_t nedits,
                           struct nvc_plan_result *result, struct nvc_error *reported, const char **why)
{
    struct nvc_rbuf r;

    nvc_wire_reader(&r, body, len);
    if (type == NVC_FRAME_DONE) {
        uint32_t n = nvc_wire_get_u32(&r);
        const uint8_t *o;
        struct nvc_error ignored;

        result->outcomes = NULL;
        result->nedits = 0;
        result->changes = NULL;
        result->nchanges = 0;
        result->edits_us = NVC_PLAN_NO_TIME;
        if (r.bad || n != nedits || r.len - r.off < n) {
            *why = "the outcome list does not match the plan";
            return -1;
        }
        o = nvc_wire_get_raw(&r, n);
        for (uint32_t i = 0; i < n; i++) {
            if (o[i] != NVC_OUTCOME_DONE && o[i] != NVC_OUTCOME_SKIPPED) {
                *why = "unknown outcome";
                return -1;
            }
        }
        /* The executor's own time on the edits, then what it changed. */
        result->edits_us = nvc_wire_get_u32(&r);
        if (get_changes(&r, &result->changes, &result->nchanges, why) < 0)
            return -1;
        if (!nvc_wire_done(&r) || nvc_changes_check(result->changes, result->nchanges, &ignored) < 0) {
            *why = r.bad ? r.bad : r.off != r.len ? "bytes left over after the change list" : "an invalid change";
            nvc_changes_free(result->changes, result->nchanges);
            result->changes = NULL;
            result->nchanges = 0;
            return -1;
        }
        if (n > 0) {
            result->outcomes = malloc(n * sizeof(*result->outcomes));
            if (result->outcomes == NULL) {
                nvc_changes_free(result->changes, result->nchanges);
                result->changes = NULL;
                result->nchanges = 0;
                *why = "out of memory";
                return -1;
            }
        }
        for (uint32_t i = 0; i < n; i++)
            result->outcomes[i] = (enum nvc_edit_outcome)o[i];
        result->nedits = n;
        return 0;
    }
    return decode_error_frame(type, &r, reported, why);
}
