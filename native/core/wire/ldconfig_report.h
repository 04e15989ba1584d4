#ifndef NVC_LDCONFIG_REPORT_H
#define NVC_LDCONFIG_REPORT_H

/* Between the core (ldconfig_client.c) and nvc-ts-ldconfig only. The request travels as
 * the helper's argv (a handful of checked numbers and absolute paths: nothing a frame
 * would make safer); the helper answers with exactly one report, one frame of the wire
 * layer (wire.h, magic "NVCL") in one SOCK_SEQPACKET record on fd 3:
 *
 *   report = u32 outcome | i32 status | u32 output_cut | blob output | u8 has_error | error?
 *
 * The error (the wire layer's; code ERR_NVC_LDCONFIG) is there for the outcomes MISSING,
 * SETUP_FAILED and OVER_BUDGET, and only for them. */

#include <stddef.h>
#include <stdint.h>

#include "nvc_error.h"

#define NVC_LDCONFIG_MAGIC        0x4c43564eu /* "NVCL" */
#define NVC_LDCONFIG_WIRE_VERSION 1
#define NVC_LDCONFIG_FRAME_REPORT 1
#define NVC_LDCONFIG_OUTPUT_MAX   4096
#define NVC_LDCONFIG_REPORT_MAX   16384 /* a whole record: the output and the largest error fit */

enum nvc_ldconfig_outcome {
    NVC_LDCONFIG_EXITED = 1,   /* status = exit code */
    NVC_LDCONFIG_SIGNALED,     /* status = signal number */
    NVC_LDCONFIG_MISSING,      /* no such binary in the container; error.msg says what was looked for */
    NVC_LDCONFIG_TIMEOUT,      /* killed after the deadline; status = the timeout in ms */
    NVC_LDCONFIG_SETUP_FAILED, /* confinement or exec failed: error.step, error.sys_errno, error.msg */
    NVC_LDCONFIG_OVER_BUDGET,  /* it wrote more than its write budget; nothing it wrote was kept: error.msg */
};

struct nvc_ldconfig_report {
    uint32_t outcome;
    int32_t status;
    struct nvc_error error; /* MISSING, SETUP_FAILED and OVER_BUDGET only */
    uint32_t output_len;    /* bytes used in output: the last bytes ldconfig wrote to stdout/stderr */
    uint32_t output_cut;    /* 1 when earlier output was dropped */
    char output[NVC_LDCONFIG_OUTPUT_MAX];
};

/* Encodes rep into buf (cap bytes). Returns the frame size, or 0 if it does not fit. */
size_t nvc_ldconfig_report_encode(const struct nvc_ldconfig_report *rep, uint8_t *buf, size_t cap);
/* Decodes one received record. Returns 0, or -1 with *why when it is not a well-formed
 * report (unknown outcome, an error where none belongs or none where one does, ...). */
int nvc_ldconfig_report_decode(const uint8_t *rec, size_t n, struct nvc_ldconfig_report *rep, const char **why);

#endif
