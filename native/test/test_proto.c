/* The driver-service wire protocol (core/proto.c): the exact bytes a record is made of,
 * and the reader's refusal of every malformed record. The service and the addon trust
 * nothing the other sends, so each check that nvc_proto_open and the field readers make
 * is exercised here with a record that fails exactly that check. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "proto.h"

static struct nvc_wbuf w; /* 16 KiB: static rather than on the stack */

/* A record with one field of each kind, as the service's DRIVER reply looks. */
static size_t sample(void)
{
    nvc_wbuf_start(&w, NVC_OP_DRIVER, 0x01020304u);
    nvc_put_u32(&w, NVC_STATUS_OK);
    nvc_put_str(&w, "580.159.04");
    nvc_put_i32(&w, -13000);
    return nvc_wbuf_finish(&w);
}

static int test_bytes_on_the_wire(void)
{
    /* Little-endian everywhere, whatever the host: the header, then each field. */
    static const uint8_t want[] = {
        'N', 'V', 'C', 'D', 1, 0, NVC_OP_DRIVER, 0, 4, 3, 2, 1, 22, 0, 0, 0, /* header, payload 22 bytes */
        0, 0, 0, 0,                                                        /* u32 status */
        10, 0, 0, 0, '5', '8', '0', '.', '1', '5', '9', '.', '0', '4',     /* str: length then bytes */
        0x38, 0xcd, 0xff, 0xff,                                            /* i32 -13000 */
    };
    size_t n = sample();

    CHECK(n == sizeof(want));
    CHECK(memcmp(w.data, want, sizeof(want)) == 0);
    return 0;
}

static int test_roundtrip(void)
{
    struct nvc_msg_header h;
    struct nvc_rbuf r;
    const char *why = NULL;
    char s[32];
    size_t n = sample();

    CHECK(nvc_proto_open(w.data, n, &h, &r, &why) == 0);
    CHECK(h.magic == NVC_PROTO_MAGIC && h.version == NVC_PROTO_VERSION && h.op == NVC_OP_DRIVER);
    CHECK(h.seq == 0x01020304u && h.len == n - NVC_PROTO_HEADER_SIZE);
    CHECK(nvc_get_u32(&r) == NVC_STATUS_OK);
    CHECK(!nvc_rbuf_done(&r)); /* fields left */
    nvc_get_str(&r, s, sizeof(s));
    CHECK_STR(s, "580.159.04");
    CHECK(nvc_get_i32(&r) == -13000);
    CHECK(nvc_rbuf_done(&r));
    return 0;
}

static int test_header_checks(void)
{
    struct nvc_msg_header h;
    struct nvc_rbuf r;
    const char *why = NULL;
    uint8_t rec[64];
    size_t n = sample();

    CHECK(n <= sizeof(rec));
    /* shorter than a header, down to nothing */
    for (size_t k = 0; k < NVC_PROTO_HEADER_SIZE; k++) {
        why = NULL;
        CHECK(nvc_proto_open(w.data, k, &h, &r, &why) == -1 && why != NULL);
    }
    /* a header alone is a record with an empty payload (when it says so) */
    nvc_wbuf_start(&w, NVC_OP_SHUTDOWN, 7);
    CHECK(nvc_wbuf_finish(&w) == NVC_PROTO_HEADER_SIZE);
    CHECK(nvc_proto_open(w.data, NVC_PROTO_HEADER_SIZE, &h, &r, &why) == 0 && nvc_rbuf_done(&r));

    n = sample();
    memcpy(rec, w.data, n);
    rec[0] ^= 0x20; /* "nVCD" */
    CHECK(nvc_proto_open(rec, n, &h, &r, &why) == -1 && strstr(why, "magic"));
    memcpy(rec, w.data, n);
    rec[5] = 1; /* version 257: the high byte counts too */
    CHECK(nvc_proto_open(rec, n, &h, &r, &why) == -1 && strstr(why, "version"));
    memcpy(rec, w.data, n);
    rec[4] = 2;
    CHECK(nvc_proto_open(rec, n, &h, &r, &why) == -1 && strstr(why, "version"));
    /* the length field must match the record exactly: one byte more, one less */
    memcpy(rec, w.data, n);
    CHECK(nvc_proto_open(rec, n - 1, &h, &r, &why) == -1 && strstr(why, "length"));
    rec[n] = 0;
    CHECK(nvc_proto_open(rec, n + 1, &h, &r, &why) == -1 && strstr(why, "length"));
    rec[13] = 1; /* 256 + 22 */
    CHECK(nvc_proto_open(rec, n, &h, &r, &why) == -1 && strstr(why, "length"));
    return 0;
}

/* A reader over the first len bytes of payload, as nvc_proto_open sets one up: the
 * bytes after len are there (0xff or more text) so that a read past the end would find
 * something to misread rather than be stopped by luck. */
static void open_payload(const uint8_t *payload, size_t len, struct nvc_rbuf *r)
{
    r->p = payload;
    r->len = len;
    r->off = 0;
    r->bad = 0;
}

static int test_field_bounds(void)
{
    struct nvc_rbuf r;
    char out[8];
    uint8_t p[16];

    /* u32 with 0..3 bytes left: 0, marked bad, and it stays bad */
    memset(p, 0xff, sizeof(p));
    for (size_t k = 0; k < 4; k++) {
        open_payload(p, k, &r);
        CHECK(nvc_get_u32(&r) == 0 && r.bad && !nvc_rbuf_done(&r));
    }
    open_payload(p, 8, &r);
    r.bad = 1;
    CHECK(nvc_get_u32(&r) == 0 && r.off == 0);

    /* exactly 4 bytes: read, done */
    open_payload(p, 4, &r);
    CHECK(nvc_get_u32(&r) == 0xffffffffu && !r.bad && nvc_rbuf_done(&r));

    /* a string whose length runs past the payload by one byte */
    memcpy(p, "\x04\x00\x00\x00" "abc", 7);
    open_payload(p, 7, &r);
    nvc_get_str(&r, out, sizeof(out));
    CHECK(r.bad && out[0] == '\0');
    /* the same string fitting exactly */
    memcpy(p, "\x03\x00\x00\x00" "abc", 7);
    open_payload(p, 7, &r);
    nvc_get_str(&r, out, sizeof(out));
    CHECK(!r.bad && nvc_rbuf_done(&r));
    CHECK_STR(out, "abc");

    /* a string that does not fit the caller's buffer: 7 bytes fit in 8, 8 do not */
    memcpy(p, "\x07\x00\x00\x00" "abcdefg", 11);
    open_payload(p, 11, &r);
    nvc_get_str(&r, out, sizeof(out));
    CHECK(!r.bad);
    CHECK_STR(out, "abcdefg");
    memcpy(p, "\x08\x00\x00\x00" "abcdefgh", 12);
    open_payload(p, 12, &r);
    nvc_get_str(&r, out, sizeof(out));
    CHECK(r.bad && out[0] == '\0');

    /* a NUL inside the string would cut it short silently: refused */
    memcpy(p, "\x03\x00\x00\x00" "a\0c", 7);
    open_payload(p, 7, &r);
    nvc_get_str(&r, out, sizeof(out));
    CHECK(r.bad);

    /* a huge length (would wrap an int) */
    memcpy(p, "\xff\xff\xff\xff" "abc", 7);
    open_payload(p, 7, &r);
    nvc_get_str(&r, out, sizeof(out));
    CHECK(r.bad);

    /* leftover bytes: not done even though nothing went wrong */
    memcpy(p, "\x01\x00\x00\x00\x02", 5);
    open_payload(p, 5, &r);
    CHECK(nvc_get_u32(&r) == 1 && !r.bad && !nvc_rbuf_done(&r));
    return 0;
}

static int test_writer_overflow(void)
{
    static char big[NVC_PROTO_MAX_MSG];
    size_t room = NVC_PROTO_MAX_MSG - NVC_PROTO_HEADER_SIZE - 4; /* string bytes that still fit */

    /* exactly full: accepted */
    memset(big, 'x', room);
    big[room] = '\0';
    nvc_wbuf_start(&w, NVC_OP_DEVICE, 1);
    nvc_put_str(&w, big);
    CHECK(nvc_wbuf_finish(&w) == NVC_PROTO_MAX_MSG);

    /* one byte more: the record is refused as a whole (0), never cut */
    big[room] = 'x';
    big[room + 1] = '\0';
    nvc_wbuf_start(&w, NVC_OP_DEVICE, 1);
    nvc_put_str(&w, big);
    CHECK(w.overflow);
    CHECK(nvc_wbuf_finish(&w) == 0);

    /* once overflowed, a small field does not sneak in afterwards */
    nvc_wbuf_start(&w, NVC_OP_DEVICE, 1);
    nvc_put_str(&w, big);
    nvc_put_u32(&w, 5);
    CHECK(nvc_wbuf_finish(&w) == 0);

    /* a fresh start forgets the overflow */
    nvc_wbuf_start(&w, NVC_OP_DEVICE, 1);
    nvc_put_u32(&w, 5);
    CHECK(nvc_wbuf_finish(&w) == NVC_PROTO_HEADER_SIZE + 4);
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_bytes_on_the_wire), TEST(test_roundtrip), TEST(test_header_checks),
        TEST(test_field_bounds),      TEST(test_writer_overflow),
    };
    return RUN_TESTS(tests);
}
