/* The wire layer (core/wire/wire.c) that every helper protocol is built on, and the ldconfig
 * report built on it (core/wire/ldconfig_report.c): bounds of writers and readers, truncated
 * frames, oversized lengths, bad magic and version, and the error encoding's round trip.
 * The readers face helpers and, for the executor, a caller that may be hostile: every
 * refusal is exercised with input that fails exactly that check, and a read past the
 * end would find bytes to misread (the buffers are longer than the frames). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ldconfig_report.h"
#include "wire.h"

#define MAGIC   0x5453454eu /* "NEST" */
#define VERSION 3

static uint8_t buf[65536];

static int test_header_bytes(void)
{
    /* Little-endian whatever the host: magic, version, type, body length, then the fields. */
    static const uint8_t want[] = {'N',  'E',  'S',  'T',  3,    0, 0x34, 0x12, 13, 0,    0,    0, /* header */
                                   0xfe, 0xff, 0xff, 0xff, 0x2a, 4, 0,    0,    0,  0xff, 0xff, 0xff, 0xff};
    struct nvc_wbuf w;

    nvc_wire_begin_fixed(&w, buf, sizeof(buf), MAGIC, VERSION, 0x1234);
    nvc_wire_put_i32(&w, -2);
    nvc_wire_put_u8(&w, 42);
    nvc_wire_put_u32(&w, 4);
    nvc_wire_put_absent(&w);
    CHECK(nvc_wire_end(&w) == sizeof(want));
    CHECK(memcmp(w.data, want, sizeof(want)) == 0);
    return 0;
}

static int test_header_checks(void)
{
    struct nvc_wire_header h;
    struct nvc_rbuf r;
    const char *why;
    struct nvc_wbuf w;
    uint8_t rec[64];
    size_t n;

    nvc_wire_begin_fixed(&w, rec, sizeof(rec), MAGIC, VERSION, 7);
    nvc_wire_put_u32(&w, 1);
    n = nvc_wire_end(&w);
    CHECK(n == 16);
    CHECK(nvc_wire_parse_header(rec, MAGIC, VERSION, 4, &h, &why) == 0 && h.type == 7 && h.len == 4);
    /* oversized: one byte over the bound is refused, the bound itself is not */
    CHECK(nvc_wire_parse_header(rec, MAGIC, VERSION, 3, &h, &why) == -1 && strstr(why, "length"));
    rec[11] = 0x80; /* 2 GiB: refused before anyone allocates for it */
    CHECK(nvc_wire_parse_header(rec, MAGIC, VERSION, 1u << 30, &h, &why) == -1 && strstr(why, "length"));
    rec[11] = 0;
    /* bad magic, each byte; bad version, each byte */
    for (int i = 0; i < 4; i++) {
        rec[i] ^= 1;
        CHECK(nvc_wire_parse_header(rec, MAGIC, VERSION, 4, &h, &why) == -1 && strstr(why, "magic"));
        rec[i] ^= 1;
    }
    for (int i = 4; i < 6; i++) {
        rec[i] ^= 1;
        CHECK(nvc_wire_parse_header(rec, MAGIC, VERSION, 4, &h, &why) == -1 && strstr(why, "version"));
        rec[i] ^= 1;
    }
    /* records: truncated at every length, one byte long, length field lying */
    for (size_t k = 0; k < n; k++)
        CHECK(nvc_wire_open(rec, k, MAGIC, VERSION, 4, &h, &r, &why) == -1);
    CHECK(nvc_wire_open(rec, n + 1, MAGIC, VERSION, 64, &h, &r, &why) == -1 && strstr(why, "length"));
    rec[8] = 3;
    CHECK(nvc_wire_open(rec, n, MAGIC, VERSION, 64, &h, &r, &why) == -1 && strstr(why, "length"));
    rec[8] = 4;
    CHECK(nvc_wire_open(rec, n, MAGIC, VERSION, 4, &h, &r, &why) == 0 && nvc_wire_get_u32(&r) == 1 &&
          nvc_wire_done(&r));
    return 0;
}

static int test_read_bounds(void)
{
    struct nvc_rbuf r;
    char out[8];
    size_t n;
    uint8_t p[32];

    /* u32 with 0..3 bytes left: 0, bad, and it stays bad */
    memset(p, 0xff, sizeof(p));
    for (size_t k = 0; k < 4; k++) {
        nvc_wire_reader(&r, p, k);
        CHECK(nvc_wire_get_u32(&r) == 0 && r.bad && !nvc_wire_done(&r));
        CHECK(nvc_wire_get_u8(&r) == 0 && r.off == 0);
    }
    nvc_wire_reader(&r, p, 0);
    CHECK(nvc_wire_get_u8(&r) == 0 && r.bad);
    nvc_wire_reader(&r, p, 4);
    CHECK(nvc_wire_get_u32(&r) == 0xffffffffu && nvc_wire_done(&r));

    /* a string running past the body by one byte; the same fitting exactly */
    memcpy(p,
           "\x04\x00\x00\x00"
           "abc",
           7);
    nvc_wire_reader(&r, p, 7);
    nvc_wire_get_str(&r, out, sizeof(out));
    CHECK(r.bad && out[0] == '\0');
    memcpy(p,
           "\x03\x00\x00\x00"
           "abc",
           7);
    nvc_wire_reader(&r, p, 7);
    nvc_wire_get_str(&r, out, sizeof(out));
    CHECK(nvc_wire_done(&r));
    CHECK_STR(out, "abc");

    /* the caller's bound: 7 bytes fit in 8, 8 do not (and nothing is written past out) */
    memcpy(p,
           "\x07\x00\x00\x00"
           "abcdefg",
           11);
    nvc_wire_reader(&r, p, 11);
    nvc_wire_get_str(&r, out, sizeof(out));
    CHECK(!r.bad);
    CHECK_STR(out, "abcdefg");
    memcpy(p,
           "\x08\x00\x00\x00"
           "abcdefgh",
           12);
    nvc_wire_reader(&r, p, 12);
    nvc_wire_get_str(&r, out, sizeof(out));
    CHECK(r.bad && out[0] == '\0');

    /* NUL inside text is refused; inside a blob it is data */
    memcpy(p,
           "\x03\x00\x00\x00"
           "a\0c",
           7);
    nvc_wire_reader(&r, p, 7);
    nvc_wire_get_str(&r, out, sizeof(out));
    CHECK(r.bad);
    nvc_wire_reader(&r, p, 7);
    CHECK(nvc_wire_get_field(&r, 3, 0, &n) == p + 4 && n == 3 && nvc_wire_done(&r));

    /* absent: allowed only where optional; a huge length is never "absent + 1" */
    memcpy(p, "\xff\xff\xff\xff", 4);
    nvc_wire_reader(&r, p, 4);
    CHECK(nvc_wire_get_field(&r, 100, NVC_WIRE_OPTIONAL, &n) == NULL && !r.bad && n == 0 && nvc_wire_done(&r));
    nvc_wire_reader(&r, p, 4);
    CHECK(nvc_wire_get_field(&r, 100, NVC_WIRE_TEXT, &n) == NULL && r.bad);
    memcpy(p,
           "\xfe\xff\xff\xff"
           "abc",
           7);
    nvc_wire_reader(&r, p, 7);
    CHECK(nvc_wire_get_field(&r, SIZE_MAX, NVC_WIRE_OPTIONAL, &n) == NULL && r.bad);

    /* raw bytes: exactly what is left, not one more */
    nvc_wire_reader(&r, p, 5);
    CHECK(nvc_wire_get_raw(&r, 6) == NULL && r.bad);
    nvc_wire_reader(&r, p, 5);
    CHECK(nvc_wire_get_raw(&r, 5) == p && nvc_wire_done(&r));

    /* leftover bytes: not done although nothing went wrong */
    memcpy(p, "\x01\x00\x00\x00\x02", 5);
    nvc_wire_reader(&r, p, 5);
    CHECK(nvc_wire_get_u32(&r) == 1 && !r.bad && !nvc_wire_done(&r));
    return 0;
}

static int test_write_bounds(void)
{
    static char big[256];
    struct nvc_wbuf w;
    uint8_t small[32];

    /* fixed storage: exactly full is fine, one byte more refuses the frame as a whole */
    memset(big, 'x', sizeof(big));
    big[32 - 12 - 4] = '\0';
    nvc_wire_begin_fixed(&w, small, sizeof(small), MAGIC, VERSION, 1);
    nvc_wire_put_str(&w, big);
    CHECK(nvc_wire_end(&w) == sizeof(small));
    big[32 - 12 - 4] = 'x';
    big[32 - 12 - 3] = '\0';
    nvc_wire_begin_fixed(&w, small, sizeof(small), MAGIC, VERSION, 1);
    nvc_wire_put_str(&w, big);
    {
        size_t before = w.len;
        nvc_wire_put_u8(&w, 1); /* and nothing sneaks in after an overflow */
        CHECK(w.overflow == NVC_WIRE_TOO_LARGE && w.len == before && nvc_wire_end(&w) == 0);
    }
    /* truncate forgets the overflow and keeps what is asked for */
    nvc_wire_truncate(&w, 0);
    nvc_wire_put_u32(&w, 5);
    CHECK(nvc_wire_end(&w) == 16);

    /* heap: grows past its first 4 KiB up to the maximum, not beyond */
    nvc_wire_begin_heap(&w, 12 + 10000, MAGIC, VERSION, 2);
    for (int i = 0; i < 2500; i++)
        nvc_wire_put_u32(&w, (uint32_t)i);
    CHECK(w.overflow == NVC_WIRE_OK && w.cap <= 12 + 10000);
    nvc_wire_put_u8(&w, 1);
    CHECK(w.overflow == NVC_WIRE_TOO_LARGE);
    CHECK(nvc_wire_end(&w) == 0 && w.data == NULL); /* freed */
    nvc_wire_begin_heap(&w, 12 + 10000, MAGIC, VERSION, 2);
    for (int i = 0; i < 2500; i++)
        nvc_wire_put_u32(&w, (uint32_t)i);
    CHECK(nvc_wire_end(&w) == 12 + 10000 && w.data[8] == 0x10 && w.data[9] == 0x27);
    CHECK(w.data[12 + 4 * 2499] == (2499 & 0xff));
    free(w.data);
    return 0;
}

static int test_error_round_trip(void)
{
    static struct nvc_error e, got;
    static char longmsg[2000];
    struct nvc_wbuf w;
    struct nvc_rbuf r;
    size_t n;

    nvc_error_set(&e, NVC_ERR_ROLLBACK, 5, "umount2", "/usr/lib/x", "could not undo %d mounts", 2);
    e.nvml_ret = -7;
    nvc_wire_begin_fixed(&w, buf, sizeof(buf), MAGIC, VERSION, 3);
    nvc_wire_put_error(&w, &e);
    n = nvc_wire_end(&w);
    CHECK(n > 0);
    nvc_wire_reader(&r, buf + 12, n - 12);
    nvc_wire_get_error(&r, &got);
    CHECK(nvc_wire_done(&r));
    CHECK(got.code == NVC_ERR_ROLLBACK && got.sys_errno == 5 && got.nvml_ret == -7);
    CHECK_STR(got.step, "umount2");
    CHECK_STR(got.path, "/usr/lib/x");
    CHECK_STR(got.msg, "could not undo 2 mounts");

    /* the code travels by name: a name this build does not know, or "OK", is refused */
    {
        static const char *const names[] = {"ERR_NVC_NO_SUCH_THING", "OK", ""};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            nvc_wire_begin_fixed(&w, buf, sizeof(buf), MAGIC, VERSION, 3);
            nvc_wire_put_str(&w, names[i]);
            nvc_wire_put_i32(&w, 0);
            nvc_wire_put_str(&w, "");
            nvc_wire_put_str(&w, "");
            nvc_wire_put_str(&w, "m");
            nvc_wire_put_i32(&w, 0);
            n = nvc_wire_end(&w);
            nvc_wire_reader(&r, buf + 12, n - 12);
            nvc_wire_get_error(&r, &got);
            CHECK(r.bad && strstr(r.bad, "code"));
        }
    }
    /* a message longer than the reader's field, from a hand-made frame: refused, not cut */
    memset(longmsg, 'm', sizeof(longmsg) - 1);
    nvc_wire_begin_fixed(&w, buf, sizeof(buf), MAGIC, VERSION, 3);
    nvc_wire_put_str(&w, "ERR_NVC_SYSTEM");
    nvc_wire_put_i32(&w, 0);
    nvc_wire_put_str(&w, "");
    nvc_wire_put_str(&w, "");
    nvc_wire_put_str(&w, longmsg);
    nvc_wire_put_i32(&w, 0);
    n = nvc_wire_end(&w);
    nvc_wire_reader(&r, buf + 12, n - 12);
    nvc_wire_get_error(&r, &got);
    CHECK(r.bad != NULL && got.msg[0] == '\0');
    /* every truncation of a good error is refused */
    nvc_wire_begin_fixed(&w, buf, sizeof(buf), MAGIC, VERSION, 3);
    nvc_wire_put_error(&w, &e);
    n = nvc_wire_end(&w);
    for (size_t k = 12; k < n; k++) {
        nvc_wire_reader(&r, buf + 12, k - 12);
        nvc_wire_get_error(&r, &got);
        CHECK(!nvc_wire_done(&r));
    }
    return 0;
}

static int test_ldconfig_report(void)
{
    static struct nvc_ldconfig_report rep, got;
    const char *why;
    size_t n;

    memset(&rep, 0, sizeof(rep));
    rep.outcome = NVC_LDCONFIG_SETUP_FAILED;
    rep.status = 1;
    nvc_error_set(&rep.error, NVC_ERR_LDCONFIG, 13, "pivot_root", NULL, "cannot pivot");
    rep.output_len = 3;
    rep.output_cut = 1;
    memcpy(rep.output, "a\0b", 3);
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    CHECK(n > 0);
    CHECK(nvc_ldconfig_report_decode(buf, n, &got, &why) == 0);
    CHECK(got.outcome == NVC_LDCONFIG_SETUP_FAILED && got.status == 1 && got.output_cut == 1 && got.output_len == 3);
    CHECK(memcmp(got.output, "a\0b", 3) == 0 && got.error.code == NVC_ERR_LDCONFIG && got.error.sys_errno == 13);
    CHECK_STR(got.error.step, "pivot_root");

    /* an over-budget report carries its error too */
    rep.outcome = NVC_LDCONFIG_OVER_BUDGET;
    nvc_error_set(&rep.error, NVC_ERR_LDCONFIG, EDQUOT, "budget", NULL, "wrote more than its budget");
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    CHECK(n > 0 && nvc_ldconfig_report_decode(buf, n, &got, &why) == 0);
    CHECK(got.outcome == NVC_LDCONFIG_OVER_BUDGET && got.error.sys_errno == EDQUOT);
    CHECK_STR(got.error.step, "budget");

    /* the largest report fits its record */
    rep.output_len = NVC_LDCONFIG_OUTPUT_MAX;
    memset(rep.error.path, 'p', sizeof(rep.error.path) - 1);
    memset(rep.error.msg, 'm', sizeof(rep.error.msg) - 1);
    memset(rep.error.step, 's', sizeof(rep.error.step) - 1);
    n = nvc_ldconfig_report_encode(&rep, buf, NVC_LDCONFIG_REPORT_MAX);
    CHECK(n > 0 && n <= NVC_LDCONFIG_REPORT_MAX);
    CHECK(nvc_ldconfig_report_decode(buf, n, &got, &why) == 0 && got.output_len == NVC_LDCONFIG_OUTPUT_MAX);
    for (size_t k = 0; k < n; k += 97)
        CHECK(nvc_ldconfig_report_decode(buf, k, &got, &why) == -1);

    /* an error only where it belongs */
    memset(&rep, 0, sizeof(rep));
    rep.outcome = NVC_LDCONFIG_EXITED;
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    CHECK(nvc_ldconfig_report_decode(buf, n, &got, &why) == 0 && got.outcome == NVC_LDCONFIG_EXITED);
    buf[n - 1] = 1; /* has_error on an EXITED report, and no error behind it */
    CHECK(nvc_ldconfig_report_decode(buf, n, &got, &why) == -1);
    /* well-formed frames whose error flag does not fit the outcome: an EXITED report with an
     * error, a MISSING one without */
    for (int missing = 0; missing <= 1; missing++) {
        struct nvc_wbuf w;
        nvc_wire_begin_fixed(&w, buf, sizeof(buf), NVC_LDCONFIG_MAGIC, NVC_LDCONFIG_WIRE_VERSION,
                             NVC_LDCONFIG_FRAME_REPORT);
        nvc_wire_put_u32(&w, missing ? NVC_LDCONFIG_MISSING : NVC_LDCONFIG_EXITED);
        nvc_wire_put_i32(&w, 0);
        nvc_wire_put_u32(&w, 0);
        nvc_wire_put_blob(&w, "", 0);
        nvc_wire_put_u8(&w, missing ? 0 : 1);
        if (!missing) {
            static struct nvc_error e;
            nvc_error_set(&e, NVC_ERR_LDCONFIG, 0, "x", NULL, "y");
            nvc_wire_put_error(&w, &e);
        }
        n = nvc_wire_end(&w);
        CHECK(nvc_ldconfig_report_decode(buf, n, &got, &why) == -1 && strstr(why, "belongs"));
    }
    /* unknown outcomes, a wrong frame type, output over its bound */
    rep.outcome = 99;
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    CHECK(nvc_ldconfig_report_decode(buf, n, &got, &why) == -1 && strstr(why, "outcome"));
    rep.outcome = NVC_LDCONFIG_EXITED;
    n = nvc_ldconfig_report_encode(&rep, buf, sizeof(buf));
    buf[6] = 2;
    CHECK(nvc_ldconfig_report_decode(buf, n, &got, &why) == -1);
    {
        struct nvc_wbuf w;
        nvc_wire_begin_fixed(&w, buf, sizeof(buf), NVC_LDCONFIG_MAGIC, NVC_LDCONFIG_WIRE_VERSION,
                             NVC_LDCONFIG_FRAME_REPORT);
        nvc_wire_put_u32(&w, NVC_LDCONFIG_EXITED);
        nvc_wire_put_i32(&w, 0);
        nvc_wire_put_u32(&w, 0);
        /* Its own source: the frame is written into buf, and a copy within one buffer may not overlap. */
        static uint8_t output[NVC_LDCONFIG_OUTPUT_MAX + 1];
        nvc_wire_put_blob(&w, output, sizeof(output));
        nvc_wire_put_u8(&w, 0);
        n = nvc_wire_end(&w);
        CHECK(nvc_ldconfig_report_decode(buf, n, &got, &why) == -1 && strstr(why, "longer"));
    }
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_header_bytes), TEST(test_header_checks),    TEST(test_read_bounds),
        TEST(test_write_bounds), TEST(test_error_round_trip), TEST(test_ldconfig_report),
    };
    return RUN_TESTS(tests);
}
