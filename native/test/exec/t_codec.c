/* The plan wire format: round trips, the checks both sides apply, and decoding of
 * every truncation and of randomly damaged frames (no crash, never an unchecked plan). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "plan_codec.h"
#include "tests.h"
#include "tutil.h"

static int same_edit(const struct nvc_edit *a, const struct nvc_edit *b)
{
#define SAME_STR(x) ((a->x == NULL && b->x == NULL) || (a->x && b->x && strcmp(a->x, b->x) == 0))
    return a->kind == b->kind && SAME_STR(target) && SAME_STR(source) && SAME_STR(link) && a->data_len == b->data_len &&
           (a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0) && a->mode == b->mode &&
           a->flags == b->flags && a->source_kind == b->source_kind && a->major == b->major && a->minor == b->minor;
#undef SAME_STR
}

int test_codec_roundtrip(void)
{
    struct nvc_edit e[T_STD_EDITS];
    struct nvc_plan plan;
    struct nvc_plan_decoded d;
    struct nvc_error err;
    uint8_t *buf;
    size_t len;
    uint16_t type;
    uint32_t body;
    const char *why;

    t_std_plan(&plan, e, 1234, "/run/x/rootfs");
    CHECK(nvc_plan_encode(&plan, &buf, &len, &err) == 0);
    CHECK(nvc_plan_frame_header(buf, &type, &body, &why) == 0);
    CHECK(type == NVC_FRAME_PLAN && body + NVC_PLAN_FRAME_HEADER == len);
    CHECK(nvc_plan_decode(buf + NVC_PLAN_FRAME_HEADER, body, &d, &err) == 0);
    CHECK(d.plan.pid == 1234 && strcmp(d.plan.rootfs, "/run/x/rootfs") == 0 && d.plan.uid == 1000 &&
          d.plan.gid == 1000 && d.plan.nedits == T_STD_EDITS);
    for (size_t i = 0; i < T_STD_EDITS; i++)
        CHECK(same_edit(&e[i], &d.plan.edits[i]));
    nvc_plan_decoded_free(&d);

    /* A NUL inside a string field would make C see a shorter string than the one that
     * was checked and sent ("/proc\0driver" read as "/proc"): the decoder refuses it. */
    for (size_t i = NVC_PLAN_FRAME_HEADER; i + 12 <= len; i++) {
        if (memcmp(buf + i, "/proc/driver", 12) == 0) {
            buf[i + 5] = '\0';
            CHECK(nvc_plan_decode(buf + NVC_PLAN_FRAME_HEADER, body, &d, &err) < 0);
            buf[i + 5] = '/';
            break;
        }
    }
    CHECK(nvc_plan_decode(buf + NVC_PLAN_FRAME_HEADER, body, &d, &err) == 0); /* restored: fine again */
    nvc_plan_decoded_free(&d);
    free(buf);

    /* results both ways */
    enum nvc_edit_outcome o[3] = {NVC_OUTCOME_DONE, NVC_OUTCOME_SKIPPED, NVC_OUTCOME_DONE};
    struct nvc_plan_result res;
    struct nvc_error rep, orig;
    CHECK(nvc_plan_encode_done(o, 3, NVC_PLAN_NO_TIME, NULL, 0, &buf, &len) == 0);
    CHECK(nvc_plan_frame_header(buf, &type, &body, &why) == 0 && type == NVC_FRAME_DONE);
    CHECK(nvc_plan_decode_result(type, buf + 12, body, 3, &res, &rep, &why) == 0);
    CHECK(res.nedits == 3 && res.outcomes[1] == NVC_OUTCOME_SKIPPED);
    CHECK(res.edits_us == NVC_PLAN_NO_TIME); /* untimed: no time said */
    nvc_plan_result_free(&res);
    CHECK(nvc_plan_decode_result(type, buf + 12, body, 4, &res, &rep, &why) < 0); /* count mismatch */
    free(buf);
    /* the executor's time on the edits rides after the outcomes, before the changes */
    CHECK(nvc_plan_encode_done(o, 3, 1234, NULL, 0, &buf, &len) == 0);
    CHECK(nvc_plan_frame_header(buf, &type, &body, &why) == 0 && type == NVC_FRAME_DONE && body == 4 + 3 + 4 + 4);
    CHECK(nvc_plan_decode_result(type, buf + 12, body, 3, &res, &rep, &why) == 0);
    CHECK(res.nedits == 3 && res.outcomes[2] == NVC_OUTCOME_DONE && res.edits_us == 1234);
    nvc_plan_result_free(&res);
    CHECK(nvc_plan_decode_result(type, buf + 12, body - 1, 3, &res, &rep, &why) < 0); /* cut short */
    free(buf);
    nvc_error_set(&orig, NVC_ERR_FILE_EXISTS, 17, "open", "/usr/lib/x", "x exists and is a directory");
    CHECK(nvc_plan_encode_error(&orig, &buf, &len) == 0);
    CHECK(nvc_plan_frame_header(buf, &type, &body, &why) == 0 && type == NVC_FRAME_ERROR);
    CHECK(nvc_plan_decode_result(type, buf + 12, body, 3, &res, &rep, &why) == 1);
    CHECK(rep.code == NVC_ERR_FILE_EXISTS && rep.sys_errno == 17 && strcmp(rep.step, "open") == 0 &&
          strcmp(rep.path, "/usr/lib/x") == 0 && strcmp(rep.msg, orig.msg) == 0);
    free(buf);
    return 0;
}

static int rejects(const char *what, struct nvc_plan *plan)
{
    struct nvc_error err;
    uint8_t *buf = NULL;
    size_t len;
    if (nvc_plan_encode(plan, &buf, &len, &err) == 0) {
        fprintf(stderr, "# accepted: %s\n", what);
        free(buf);
        return -1;
    }
    if (err.code != NVC_ERR_INVALID_ARGUMENT) {
        fprintf(stderr, "# %s: wrong code %s\n", what, nvc_errcode_string(err.code));
        return -1;
    }
    return 0;
}

int test_codec_checks(void)
{
    struct nvc_edit e[T_STD_EDITS], saved;
    struct nvc_plan plan;
    static const char *bad_targets[] = {"relative/path", "/",   "/usr//lib", "/usr/lib/", "/usr/../etc",
                                        "/usr/./lib",    "/..", "",          NULL};

    t_std_plan(&plan, e, 1, "/r");
    for (size_t i = 0; i < sizeof(bad_targets) / sizeof(bad_targets[0]); i++) {
        saved = e[3];
        e[3].target = bad_targets[i];
        CHECK(rejects(bad_targets[i] ? bad_targets[i] : "(null target)", &plan) == 0);
        e[3] = saved;
    }
    char longname[300];
    memset(longname, 'a', sizeof(longname));
    longname[0] = '/';
    longname[299] = '\0';
    saved = e[3];
    e[3].target = longname;
    CHECK(rejects("component > NAME_MAX", &plan) == 0);
    e[3] = saved;
#define MUTATE(field, value, what)                                                                                     \
    do {                                                                                                               \
        struct nvc_edit keep = e[IDX];                                                                                 \
        e[IDX].field = value;                                                                                          \
        CHECK(rejects(what, &plan) == 0);                                                                              \
        e[IDX] = keep;                                                                                                 \
    } while (0)
#define IDX 3 /* a bind */
    MUTATE(source, NULL, "bind without source");
    MUTATE(source, "relative", "relative source");
    MUTATE(source_kind, 0, "no source kind");
    MUTATE(source_kind, 9, "unknown source kind");
    MUTATE(major, 195, "major for a file source");
    MUTATE(mode, 0644, "mode on a bind");
    MUTATE(flags, 1u << 7, "unknown flag");
    MUTATE(link, "x", "link on a bind");
    MUTATE(kind, 0, "kind 0");
    MUTATE(kind, 7, "kind 7");
#undef IDX
#define IDX 1 /* a write */
    MUTATE(mode, 04755, "setuid write");
    MUTATE(mode, 01777, "sticky write");
    MUTATE(data, NULL, "data_len without data");
    MUTATE(flags, NVC_MNT_RDONLY, "flags on a write");
#undef IDX
#define IDX 0 /* a tmpfs */
    MUTATE(mode, 02755, "setgid tmpfs");
    MUTATE(data_len, 3, "data on a tmpfs");
#undef IDX
#define IDX 4 /* a symlink */
    MUTATE(link, NULL, "symlink without link");
    MUTATE(link, "", "empty link");
    MUTATE(source, "/x", "source on a symlink");
#undef IDX
#define IDX 2 /* a remount */
    MUTATE(flags, 0, "remount without flags");
#undef IDX
#undef MUTATE
    plan.pid = -1;
    CHECK(rejects("negative pid", &plan) == 0);
    plan.pid = 1;
    plan.rootfs = "relative";
    CHECK(rejects("relative rootfs", &plan) == 0);
    plan.rootfs = "/r";
    plan.uid = (uid_t)-1;
    CHECK(rejects("uid -1", &plan) == 0);
    plan.uid = 0;
    plan.nedits = NVC_PLAN_MAX_EDITS + 1;
    CHECK(rejects("too many edits", &plan) == 0);
    plan.nedits = T_STD_EDITS;

    /* over 4 MiB in total */
    size_t big = NVC_PLAN_MAX_BYTES + 1;
    char *data = calloc(1, big);
    e[1].data = data;
    e[1].data_len = big;
    struct nvc_error err;
    uint8_t *buf;
    size_t len;
    CHECK(nvc_plan_encode(&plan, &buf, &len, &err) < 0 && err.code == NVC_ERR_INVALID_ARGUMENT &&
          strstr(err.msg, "exceeds") != NULL);
    /* just under: fine */
    e[1].data_len = NVC_PLAN_MAX_BYTES - 4096;
    CHECK(nvc_plan_encode(&plan, &buf, &len, &err) == 0 && len <= NVC_PLAN_MAX_BYTES);
    free(buf);
    free(data);
    return 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

int test_codec_truncation_and_mutation(void)
{
    struct nvc_edit e[T_STD_EDITS];
    struct nvc_plan plan;
    struct nvc_plan_decoded d;
    struct nvc_error err;
    uint8_t *buf, *copy;
    size_t len, body, accepted = 0;

    t_std_plan(&plan, e, 1, "/rootfs");
    CHECK(nvc_plan_encode(&plan, &buf, &len, &err) == 0);
    body = len - NVC_PLAN_FRAME_HEADER;
    /* every truncation fails; a heap copy of exactly that size lets ASan see overreads */
    for (size_t cut = 0; cut < body; cut++) {
        copy = malloc(cut ? cut : 1);
        memcpy(copy, buf + NVC_PLAN_FRAME_HEADER, cut);
        CHECK(nvc_plan_decode(copy, cut, &d, &err) < 0);
        free(copy);
    }
    /* random damage: either refused, or a plan that passes every check */
    for (int iter = 0; iter < 20000; iter++) {
        copy = malloc(body);
        memcpy(copy, buf + NVC_PLAN_FRAME_HEADER, body);
        int flips = 1 + (int)(next_rand() % 4);
        for (int f = 0; f < flips; f++) {
            size_t at = next_rand() % body;
            switch (next_rand() % 3) {
            case 0: copy[at] ^= (uint8_t)(1u << (next_rand() % 8)); break;
            case 1: copy[at] = (uint8_t)next_rand(); break;
            default: copy[at] = 0xff; break;
            }
        }
        if (nvc_plan_decode(copy, body, &d, &err) == 0) {
            struct nvc_error again;
            CHECK(nvc_plan_check(&d.plan, &again) == 0);
            accepted++;
            nvc_plan_decoded_free(&d);
        } else {
            CHECK(err.code == NVC_ERR_SERVICE_PROTOCOL || err.code == NVC_ERR_INVALID_ARGUMENT);
        }
        free(copy);
    }
    fprintf(stderr, "# %zu of 20000 damaged plans still decoded into valid plans\n", accepted);
    /* damaged headers */
    uint8_t hdr[NVC_PLAN_FRAME_HEADER];
    uint16_t type;
    uint32_t blen;
    const char *why;
    for (int iter = 0; iter < 5000; iter++) {
        memcpy(hdr, buf, sizeof(hdr));
        hdr[next_rand() % sizeof(hdr)] ^= (uint8_t)(1 + next_rand() % 255);
        if (nvc_plan_frame_header(hdr, &type, &blen, &why) == 0)
            CHECK(blen <= NVC_PLAN_MAX_BYTES);
    }
    free(buf);
    return 0;
}
