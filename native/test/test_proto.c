/* The driver-service protocol (core/wire/driver_proto.c) on the wire layer: the exact bytes a record
 * is made of, the sequence number in front of every body, error replies, and the
 * reader's refusal of every malformed record. The generic field and frame checks are
 * test_wire.c's; here each check nvc_proto_open makes is exercised with a record that
 * fails exactly that check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "driver_proto.h"

static uint8_t storage[NVC_PROTO_MAX_MSG]; /* 16 KiB: static rather than on the stack */
static struct nvc_wbuf w;

/* A record with one field of each kind, as the service's DRIVER reply looks. */
static size_t sample(void)
{
    nvc_proto_begin(&w, storage, sizeof(storage), NVC_OP_DRIVER, 0x01020304u);
    nvc_wire_put_u32(&w, NVC_STATUS_OK);
    nvc_wire_put_str(&w, "580.159.04");
    nvc_wire_put_i32(&w, -13000);
    return nvc_wire_end(&w);
}

static int test_bytes_on_the_wire(void)
{
    /* Little-endian everywhere, whatever the host: the header, the sequence number, then
     * each field. */
    static const uint8_t want[] = {
        'N',  'V',  'C',  'D',  3,   0,   NVC_OP_DRIVER, 0,   26,  0,   0,   0,             /* header, body 26 bytes */
        4,    3,    2,    1,                                                                /* u32 seq */
        0,    0,    0,    0,                                                                /* u32 status */
        10,   0,    0,    0,    '5', '8', '0',           '.', '1', '5', '9', '.', '0', '4', /* str: length then bytes */
        0x38, 0xcd, 0xff, 0xff,                                                             /* i32 -13000 */
    };
    size_t n = sample();

    CHECK(n == sizeof(want));
    CHECK(memcmp(w.data, want, sizeof(want)) == 0);
    return 0;
}

static int test_roundtrip(void)
{
    struct nvc_rbuf r;
    const char *why = NULL;
    uint16_t op = 0;
    uint32_t seq = 0;
    char s[32];
    size_t n = sample();

    CHECK(nvc_proto_open(w.data, n, &op, &seq, &r, &why) == 0);
    CHECK(op == NVC_OP_DRIVER && seq == 0x01020304u);
    CHECK(nvc_wire_get_u32(&r) == NVC_STATUS_OK);
    CHECK(!nvc_wire_done(&r)); /* fields left */
    nvc_wire_get_str(&r, s, sizeof(s));
    CHECK_STR(s, "580.159.04");
    CHECK(nvc_wire_get_i32(&r) == -13000);
    CHECK(nvc_wire_done(&r));
    return 0;
}

static int test_error_reply(void)
{
    static struct nvc_error e, got;
    struct nvc_rbuf r;
    const char *why = NULL;
    uint16_t op = 0;
    uint32_t seq = 0;
    size_t n;

    /* A reply half written when the failure came: the error replaces what was there,
     * and the sequence number stays. */
    nvc_proto_begin(&w, storage, sizeof(storage), NVC_OP_DEVICE, 9);
    nvc_wire_put_u32(&w, NVC_STATUS_OK);
    nvc_wire_put_str(&w, "half an answer");
    nvc_error_set(&e, NVC_ERR_NVML, 0, "nvmlDeviceGetUUID", NULL, "nvmlDeviceGetUUID failed for GPU 1: GPU is lost");
    e.nvml_ret = 15;
    nvc_proto_fail(&w, &e);
    n = nvc_wire_end(&w);
    CHECK(n > 0);
    CHECK(nvc_proto_open(w.data, n, &op, &seq, &r, &why) == 0 && op == NVC_OP_DEVICE && seq == 9);
    CHECK(nvc_wire_get_u32(&r) == NVC_STATUS_ERROR);
    nvc_wire_get_error(&r, &got);
    CHECK(nvc_wire_done(&r));
    CHECK(got.code == NVC_ERR_NVML && got.nvml_ret == 15 && got.sys_errno == 0);
    CHECK_STR(got.step, "nvmlDeviceGetUUID");
    CHECK_STR(got.msg, e.msg);

    /* An overflowed reply can still become an error reply. */
    nvc_proto_begin(&w, storage, 128, NVC_OP_DEVICE, 10);
    nvc_wire_put_raw(&w, storage, 200);
    CHECK(w.overflow == NVC_WIRE_TOO_LARGE);
    nvc_error_set(&e, NVC_ERR_SERVICE_PROTOCOL, 0, NULL, NULL, "too big");
    nvc_proto_fail(&w, &e);
    CHECK(nvc_wire_end(&w) > 0);
    return 0;
}

static int test_header_checks(void)
{
    struct nvc_rbuf r;
    const char *why = NULL;
    uint16_t op;
    uint32_t seq;
    uint8_t rec[64];
    size_t n = sample();

    CHECK(n <= sizeof(rec));
    /* shorter than a header, down to nothing */
    for (size_t k = 0; k < NVC_WIRE_HEADER_SIZE; k++) {
        why = NULL;
        CHECK(nvc_proto_open(w.data, k, &op, &seq, &r, &why) == -1 && why != NULL);
    }
    /* a header without the sequence number behind it */
    nvc_wire_begin_fixed(&w, storage, sizeof(storage), NVC_PROTO_MAGIC, NVC_PROTO_VERSION, NVC_OP_SHUTDOWN);
    CHECK(nvc_wire_end(&w) == NVC_WIRE_HEADER_SIZE);
    CHECK(nvc_proto_open(w.data, NVC_WIRE_HEADER_SIZE, &op, &seq, &r, &why) == -1 && strstr(why, "sequence"));
    /* a sequence number alone is a record with an empty payload */
    nvc_proto_begin(&w, storage, sizeof(storage), NVC_OP_SHUTDOWN, 7);
    CHECK(nvc_wire_end(&w) == NVC_WIRE_HEADER_SIZE + 4);
    CHECK(nvc_proto_open(w.data, NVC_WIRE_HEADER_SIZE + 4, &op, &seq, &r, &why) == 0 && seq == 7 && nvc_wire_done(&r));

    n = sample();
    memcpy(rec, w.data, n);
    rec[0] ^= 0x20; /* "nVCD" */
    CHECK(nvc_proto_open(rec, n, &op, &seq, &r, &why) == -1 && strstr(why, "magic"));
    memcpy(rec, w.data, n);
    rec[5] = 1; /* version 258: the high byte counts too */
    CHECK(nvc_proto_open(rec, n, &op, &seq, &r, &why) == -1 && strstr(why, "version"));
    memcpy(rec, w.data, n);
    rec[4] = 1; /* the version before the wire layer */
    CHECK(nvc_proto_open(rec, n, &op, &seq, &r, &why) == -1 && strstr(why, "version"));
    /* the length field must match the record exactly: one byte more, one less */
    memcpy(rec, w.data, n);
    CHECK(nvc_proto_open(rec, n - 1, &op, &seq, &r, &why) == -1 && strstr(why, "length"));
    rec[n] = 0;
    CHECK(nvc_proto_open(rec, n + 1, &op, &seq, &r, &why) == -1 && strstr(why, "length"));
    rec[9] = 1; /* 256 + 26 */
    CHECK(nvc_proto_open(rec, n, &op, &seq, &r, &why) == -1 && strstr(why, "length"));
    /* a length beyond any record, even if the buffer were that long */
    memcpy(rec, w.data, n);
    rec[9] = 0x40; /* 16384 + 26: more than NVC_PROTO_MAX_MSG */
    CHECK(nvc_proto_open(rec, n, &op, &seq, &r, &why) == -1 && strstr(why, "length"));
    return 0;
}

static int test_record_size(void)
{
    static char big[NVC_PROTO_MAX_MSG];
    /* string bytes that still fit: header, seq, the string's length */
    size_t room = NVC_PROTO_MAX_MSG - NVC_WIRE_HEADER_SIZE - 4 - 4;

    memset(big, 'x', room);
    big[room] = '\0';
    nvc_proto_begin(&w, storage, sizeof(storage), NVC_OP_DEVICE, 1);
    nvc_wire_put_str(&w, big);
    CHECK(nvc_wire_end(&w) == NVC_PROTO_MAX_MSG);

    /* one byte more: refused as a whole, never cut */
    big[room] = 'x';
    big[room + 1] = '\0';
    nvc_proto_begin(&w, storage, sizeof(storage), NVC_OP_DEVICE, 1);
    nvc_wire_put_str(&w, big);
    CHECK(w.overflow == NVC_WIRE_TOO_LARGE && nvc_wire_end(&w) == 0);

    /* storage larger than a record does not make records larger */
    {
        static uint8_t more[2 * NVC_PROTO_MAX_MSG];
        nvc_proto_begin(&w, more, sizeof(more), NVC_OP_DEVICE, 1);
        nvc_wire_put_str(&w, big);
        CHECK(nvc_wire_end(&w) == 0);
    }
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_bytes_on_the_wire), TEST(test_roundtrip),   TEST(test_error_reply),
        TEST(test_header_checks),     TEST(test_record_size),
    };
    return RUN_TESTS(tests);
}
