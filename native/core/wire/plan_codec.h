#ifndef NVC_PLAN_CODEC_H
#define NVC_PLAN_CODEC_H

/* The protocol between nvc_plan_apply (the core) and nvc-ts-exec (the executor), on the
 * wire layer (wire.h, magic "NVCP"), and the checks both sides apply to a plan. One
 * SOCK_STREAM connection carries one frame each way: the plan from the core, then the
 * result from the executor.
 *
 *   plan   = i32 pid | str rootfs | u32 uid | u32 gid | u32 nedits | edit*
 *   edit   = u32 kind | str target | ostr source | ostr link | oblob data | u32 mode |
 *            u32 flags | u32 source_kind | u32 major | u32 minor
 *   done   = u32 nedits | u8 outcome* | u32 nchanges | change*
 *   change = u8 kind | str path | u64 mnt_id | u64 mnt_unique | u64 dev | u64 ino | u64 btime |
 *            u32 flags
 *            (u64 = u32 high | u32 low)
 *   error  = the wire layer's error
 *
 * A teardown travels the same way, on the same connection shape:
 *
 *   teardown = i32 pid | u64 pid_start | str rootfs | u32 nchanges | change*
 *   undone   = u32 nchanges | (u8 status | str why)*
 *
 * Every length is checked against what is left of the body and against a per-field
 * bound before anything is copied; a malformed frame is an error for the reader, never
 * undefined behaviour. The executor's decode-side nvc_plan_check is the trust boundary;
 * the encoder runs the same check only to fail earlier, with the caller's context. */

#include <stddef.h>
#include <stdint.h>

#include "nvc_error.h"
#include "nvc_plan.h"
#include "wire.h"

#define NVC_PLAN_MAGIC 0x5043564eu /* "NVCP" */
/* 3: done carries the change list; teardown and undone frames. */
#define NVC_PLAN_WIRE_VERSION 3
#define NVC_PLAN_FRAME_HEADER NVC_WIRE_HEADER_SIZE
#define NVC_PLAN_MAX_BYTES    (4u * 1024 * 1024) /* a whole encoded plan, header included */
#define NVC_PLAN_MAX_RESULT   (4u * 1024 * 1024) /* a whole encoded result (the change list holds paths) */
/* Each bind holds a few fds in the executor until the plan is over: keep that bounded. */
#define NVC_PLAN_MAX_EDITS 8192
/* Each edit creates at most its entry, its mount and its missing parents. */
#define NVC_PLAN_MAX_CHANGES 65536

enum nvc_plan_frame_type {
    NVC_FRAME_PLAN = 1,
    NVC_FRAME_DONE = 2,
    NVC_FRAME_ERROR = 3,
    NVC_FRAME_TEARDOWN = 4,
    NVC_FRAME_UNDONE = 5,
};

/* Everything the executor relies on, checked on both sides: kinds and source kinds
 * known; targets absolute, normalised ("/a/b", no ".", "..", "//" or trailing "/"),
 * not "/" and shorter than PATH_MAX; sources absolute; fields a kind does not use left
 * empty; modes within 0777 (WRITE) or 01777 (TMPFS); flags known. Fills err
 * (NVC_ERR_INVALID_ARGUMENT) naming the edit. */
int nvc_plan_check(const struct nvc_plan *plan, struct nvc_error *err);

/* Checks, then encodes plan as one frame into a malloc'd buffer. */
int nvc_plan_encode(const struct nvc_plan *plan, uint8_t **buf, size_t *len, struct nvc_error *err);

/* Validates a frame header. Returns 0 with the type and body length, or -1 with a reason. */
int nvc_plan_frame_header(const uint8_t *hdr, uint16_t *type, uint32_t *body_len, const char **why);

/* A decoded plan; every string and the data blobs live in one arena. */
struct nvc_plan_decoded {
    struct nvc_plan plan;
    struct nvc_edit *edits;
    char *arena;
};

/* Decodes and checks a plan body (the bytes after a NVC_FRAME_PLAN header). On failure
 * err says why (NVC_ERR_SERVICE_PROTOCOL for bad encoding, NVC_ERR_INVALID_ARGUMENT for
 * a well-formed but unacceptable plan) and nothing needs freeing. */
int nvc_plan_decode(const uint8_t *body, size_t len, struct nvc_plan_decoded *out, struct nvc_error *err);
void nvc_plan_decoded_free(struct nvc_plan_decoded *d);

/* Result frames, malloc'd. Return 0, or -1 with errno ENOMEM (or E2BIG: larger than a result may be). */
/* edits_us: the executor's own time on the edits (NVC_PLAN_NO_TIME when not measured). */
int nvc_plan_encode_done(const enum nvc_edit_outcome *outcomes, size_t n, uint32_t edits_us,
                         const struct nvc_change *changes, size_t nchanges, uint8_t **buf, size_t *len);
int nvc_plan_encode_error(const struct nvc_error *e, uint8_t **buf, size_t *len);

/* Decodes a result body of the given frame type for a plan of nedits edits.
 * Returns 0 for DONE (result filled, outcomes malloc'd), 1 for ERROR (reported filled),
 * -1 when malformed (*why says how). */
int nvc_plan_decode_result(uint16_t type, const uint8_t *body, size_t len, size_t nedits,
                           struct nvc_plan_result *result, struct nvc_error *reported, const char **why);

/* Checks a change list: kinds known, paths as plan targets, flags only for FLAGS. */
int nvc_changes_check(const struct nvc_change *changes, size_t n, struct nvc_error *err);
void nvc_changes_free(struct nvc_change *changes, size_t n);

/* Teardown requests: checked and encoded by the core, decoded and checked again by the
 * executor (the decoded paths are malloc'd: nvc_teardown_decoded_free). */
int nvc_teardown_encode(const struct nvc_teardown *req, uint8_t **buf, size_t *len, struct nvc_error *err);
struct nvc_teardown_decoded {
    struct nvc_teardown req;
    struct nvc_change *changes;
    char *rootfs;
};
int nvc_teardown_decode(const uint8_t *body, size_t len, struct nvc_teardown_decoded *out, struct nvc_error *err);
void nvc_teardown_decoded_free(struct nvc_teardown_decoded *d);
int nvc_teardown_encode_undone(const struct nvc_undo_report *reports, size_t n, uint8_t **buf, size_t *len);
/* As nvc_plan_decode_result, for a teardown of nchanges changes: 0 UNDONE, 1 ERROR, -1 malformed. */
int nvc_teardown_decode_result(uint16_t type, const uint8_t *body, size_t len, size_t nchanges,
                               struct nvc_teardown_result *result, struct nvc_error *reported, const char **why);

/* How long nvc_plan_apply lets the executor run before cancelling it (milliseconds).
 * A variable rather than a constant so that tests need not wait half a minute. */
extern unsigned nvc_plan_apply_timeout_ms;

/* "bind", "tmpfs", ...: the edit kind as messages name it. */
const char *nvc_edit_kind_name(enum nvc_edit_kind k);

#endif
