#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "harness.h"
#include "ldcache.h"

#define VER "580.159.04"

static char T[PATH_MAX], R[PATH_MAX], CACHE[PATH_MAX];
static int have_real_cache;
static int rootfd = -1;

/* ---- a cache built by the real ldconfig ------------------------------------------ */

static int build_real_cache(void)
{
    const char *dirs[] = {"/usr/lib/x86_64-linux-gnu", "/usr/lib/old", "/usr/lib/i386-linux-gnu", NULL};

    if (fx_cc() == NULL)
        return test_absent_part("cc", "the tests of a real cache");
    if (fx_ldconfig() == NULL)
        return test_absent_part("ldconfig", "the tests of a real cache");
    if (fx_build_so(R, "usr/lib/x86_64-linux-gnu/libcuda.so." VER, "libcuda.so.1", NULL, 0) < 0 ||
        fx_build_so(R, "usr/lib/x86_64-linux-gnu/libnvidia-ml.so." VER, "libnvidia-ml.so.1", NULL, 0) < 0 ||
        fx_build_so(R, "usr/lib/x86_64-linux-gnu/libnvidia-tls.so." VER, "libnvidia-tls.so." VER, "2.3.99", 0) < 0 ||
        /* decoys: a stale driver's libcuda, an unversioned library */
        fx_build_so(R, "usr/lib/old/libcuda.so.535.104.05", "libcuda.so.1", NULL, 0) < 0 ||
        fx_build_so(R, "usr/lib/x86_64-linux-gnu/libnvidia-cfg.so", "libnvidia-cfg.so", NULL, 0) < 0)
        return -1;
    /* The i386 entry is what makes the cache hold two ABIs; without -m32 it is left out,
     * which must be declared. */
    if (!fx_can_m32()) {
        if (test_absent_part("m32", "the i386 entry of the real cache") < 0)
            return -1;
    } else if (fx_build_so(R, "usr/lib/i386-linux-gnu/libcuda.so." VER, "libcuda.so.1", NULL, 1) < 0)
        return -1;
    if (fx_make_ldcache(R, dirs) < 0)
        return -1;
    if (fx_path(CACHE, sizeof(CACHE), "%s/etc/ld.so.cache", R) < 0)
        return -1;
    have_real_cache = 1;
    return 0;
}

/* No real cache was built (setup already said which tool is missing): the tests that
 * read it say so again, each for its own part, through the one skip helper. */
static int absent_cache(const char *what)
{
    return test_absent(fx_cc() == NULL ? "cc" : "ldconfig", what);
}

static int setup(void)
{
    if (fx_tmpdir(T, sizeof(T)) < 0 || fx_path(R, sizeof(R), "%s/root", T) < 0 || fx_mkdirs(R, "etc") < 0)
        return -1;
    if (build_real_cache() < 0)
        return -1;
    rootfd = open(R, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return rootfd < 0 ? -1 : 0;
}

/* ---- hand-built caches ------------------------------------------------------------- */

struct spec {
    int32_t flags;
    const char *key, *value;
};

struct built {
    unsigned char buf[8192];
    size_t len, hdr; /* total length, offset of the new header */
};

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* [libc5 header + nold zeroed entries, aligned to 8] + new header + entries + strings */
static void build(struct built *b, int old, uint32_t nold, const struct spec *e, uint32_t n)
{
    size_t p = 0, strings, s;

    memset(b, 0, sizeof(*b));
    if (old) {
        memcpy(b->buf, "ld.so-1.7.0", 11);
        put32(b->buf + 12, nold);
        p = 16 + (size_t)nold * 12;
        p = (p + 7) & ~(size_t)7;
    }
    b->hdr = p;
    memcpy(b->buf + p, "glibc-ld.so.cache1.1", 20);
    put32(b->buf + p + 20, n);
    b->buf[p + 28] = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 3 : 2;
    strings = 48 + (size_t)n * 24;
    s = strings;
    for (uint32_t i = 0; i < n; i++) {
        unsigned char *ent = b->buf + p + 48 + (size_t)i * 24;
        put32(ent, (uint32_t)e[i].flags);
        put32(ent + 4, (uint32_t)s);
        memcpy(b->buf + p + s, e[i].key, strlen(e[i].key) + 1);
        s += strlen(e[i].key) + 1;
        put32(ent + 8, (uint32_t)s);
        memcpy(b->buf + p + s, e[i].value, strlen(e[i].value) + 1);
        s += strlen(e[i].value) + 1;
    }
    put32(b->buf + p + 24, (uint32_t)(s - strings));
    b->len = p + s;
}

static const struct spec sample[] = {
    {0x0303, "libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1"},
    {0x0003, "libcuda.so.1", "/usr/lib/i386-linux-gnu/libcuda.so.1"},
    {0x0002, "libold.so.1", "/lib/libold.so.1"},
    {0x0303, "libnvidia-ml.so.1", "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"},
};
#define NSAMPLE ((uint32_t)(sizeof(sample) / sizeof(sample[0])))

static int check_sample(const struct nvc_ldcache *c)
{
    CHECK(c->nentries == NSAMPLE);
    for (size_t i = 0; i < NSAMPLE; i++) {
        CHECK(c->entries[i].flags == sample[i].flags);
        CHECK_STR(c->entries[i].key, sample[i].key);
        CHECK_STR(c->entries[i].value, sample[i].value);
    }
    return 0;
}

static int expect_invalid(const void *data, size_t len, const char *reason)
{
    struct nvc_ldcache c;
    struct nvc_error err;

    if (nvc_ldcache_parse(data, len, "/x/ld.so.cache", &c, &err) == 0) {
        fprintf(stderr, "# accepted a cache that is %s\n", reason);
        nvc_ldcache_free(&c);
        return -1;
    }
    CHECK(err.code == NVC_ERR_LDCACHE_INVALID);
    CHECK(strstr(err.msg, "/x/ld.so.cache") != NULL);
    if (strstr(err.msg, reason) == NULL) {
        fprintf(stderr, "# expected \"%s\" in \"%s\"\n", reason, err.msg);
        return -1;
    }
    CHECK(c.entries == NULL && c.data == NULL);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static int test_arch_filter(void)
{
    struct nvc_ldcache_entry e = {0};
#if defined(__x86_64__)
    CHECK(nvc_ldcache_arch(0) == 0x0300 && nvc_ldcache_arch(1) == 0x0000);
    e.flags = 0x0303; /* libc6,x86-64 */
    CHECK(nvc_ldcache_entry_usable(&e, 0) && !nvc_ldcache_entry_usable(&e, 1));
    e.flags = 0x0003; /* libc6 (i386) */
    CHECK(!nvc_ldcache_entry_usable(&e, 0) && nvc_ldcache_entry_usable(&e, 1));
    e.flags = 0x0001; /* ELF, libc unknown */
    CHECK(!nvc_ldcache_entry_usable(&e, 0) && nvc_ldcache_entry_usable(&e, 1));
    e.flags = 0x0803; /* x32 */
    CHECK(!nvc_ldcache_entry_usable(&e, 0) && !nvc_ldcache_entry_usable(&e, 1));
#elif defined(__aarch64__)
    CHECK(nvc_ldcache_arch(0) == 0x0a00 && nvc_ldcache_arch(1) == 0x0900);
    e.flags = 0x0a03;
    CHECK(nvc_ldcache_entry_usable(&e, 0) && !nvc_ldcache_entry_usable(&e, 1));
    e.flags = 0x0903;
    CHECK(!nvc_ldcache_entry_usable(&e, 0) && nvc_ldcache_entry_usable(&e, 1));
#endif
    e.flags = 0x0002; /* libc5: not ELF */
    CHECK(!nvc_ldcache_entry_usable(&e, 0) && !nvc_ldcache_entry_usable(&e, 1));
    e.flags = nvc_ldcache_arch(0) >= 0 ? nvc_ldcache_arch(0) : 0; /* arch bits without the ELF bit */
    CHECK(!nvc_ldcache_entry_usable(&e, 0));
    return 0;
}

/* Strip ", OS ABI: ..." / ", hwcap: ..." from ldconfig -p's description. */
static void base_desc(char *d)
{
    char *x = strstr(d, ", OS ABI");
    if (x)
        *x = '\0';
    x = strstr(d, ", hwcap");
    if (x)
        *x = '\0';
}

static int32_t desc_flags(const char *d)
{
    if (strcmp(d, "libc6,x86-64") == 0)
        return 0x0303;
    if (strcmp(d, "libc6,AArch64") == 0)
        return 0x0a03;
    if (strcmp(d, "libc6") == 0)
        return 0x0003;
    if (strcmp(d, "ELF") == 0)
        return 0x0001;
    return -1;
}

/* Our parse of a real cache must list what `ldconfig -p -C` lists, in the same order. */
static int test_real_cache_matches_ldconfig(void)
{
    static char out[1 << 16];
    char *argv[] = {(char *)fx_ldconfig(), "-p", "-C", CACHE, NULL};
    struct nvc_ldcache c;
    struct nvc_error err;
    size_t i = 0;
    char *line, *save = NULL;
    int saw_tls = 0;

    if (!have_real_cache)
        return absent_cache("the comparison with ldconfig -p");
    CHECK(nvc_ldcache_load(rootfd, R, "/etc/ld.so.cache", &c, &err) == 0);
    CHECK(fx_run_output(argv, out, sizeof(out)) == 0);
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char key[512], desc[512], value[1024];
        if (line[0] != '\t')
            continue;
        if (sscanf(line, "\t%511s (%511[^)]) => %1023s", key, desc, value) != 3) {
            fprintf(stderr, "# unparsed ldconfig line: %s\n", line);
            goto fail;
        }
        if (i >= c.nentries) {
            fprintf(stderr, "# ldconfig lists more entries than we parsed\n");
            goto fail;
        }
        base_desc(desc);
        if (strcmp(c.entries[i].key, key) != 0 || strcmp(c.entries[i].value, value) != 0 ||
            (desc_flags(desc) >= 0 && desc_flags(desc) != c.entries[i].flags)) {
            fprintf(stderr, "# entry %zu: ldconfig %s (%s) => %s, we %s (0x%04x) => %s\n", i, key, desc, value,
                    c.entries[i].key, (unsigned)c.entries[i].flags, c.entries[i].value);
            goto fail;
        }
        /* (Current ldconfig no longer records the ABI tag as osversion: not checked.) */
        if (strncmp(key, "libnvidia-tls.so", 16) == 0)
            saw_tls = 1;
        i++;
    }
    if (i != c.nentries || i < 5 || !saw_tls) {
        fprintf(stderr, "# ldconfig listed %zu entries, we parsed %zu\n", i, c.nentries);
        goto fail;
    }
    nvc_ldcache_free(&c);
    return 0;
fail:
    nvc_ldcache_free(&c);
    return -1;
}

static int test_handbuilt(void)
{
    static struct built b;
    struct nvc_ldcache c;
    struct nvc_error err;

    /* new format alone, then behind libc5 tables of several sizes (alignment 0 and 4) */
    build(&b, 0, 0, sample, NSAMPLE);
    CHECK(nvc_ldcache_parse(b.buf, b.len, "new", &c, &err) == 0);
    CHECK(check_sample(&c) == 0);
    nvc_ldcache_free(&c);
    CHECK(c.entries == NULL && c.nentries == 0);
    for (uint32_t nold = 0; nold < 4; nold++) {
        build(&b, 1, nold, sample, NSAMPLE);
        CHECK(b.hdr % 8 == 0);
        CHECK(nvc_ldcache_parse(b.buf, b.len, "old+new", &c, &err) == 0);
        CHECK(check_sample(&c) == 0);
        nvc_ldcache_free(&c);
    }
    /* an empty but valid cache */
    build(&b, 0, 0, NULL, 0);
    CHECK(nvc_ldcache_parse(b.buf, b.len, "empty", &c, &err) == 0);
    CHECK(c.nentries == 0);
    nvc_ldcache_free(&c);
    return 0;
}

static int test_rejections(void)
{
    static struct built b;
    unsigned char *h;

    CHECK(expect_invalid("", 0, "empty") == 0);
    CHECK(expect_invalid("glibc-ld.so.cache1.1", 20, "truncated header") == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    h = b.buf + b.hdr;
    b.buf[0] = 'G';
    CHECK(expect_invalid(b.buf, b.len, "unsupported file format") == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    memcpy(b.buf + 17, "1.0", 3);
    CHECK(expect_invalid(b.buf, b.len, "unsupported file format") == 0);
    /* libc5 magic: truncated header, table larger than the file, nothing after it */
    CHECK(expect_invalid("ld.so-1.7.0\0\1", 13, "truncated libc5 header") == 0);
    build(&b, 1, 2, sample, NSAMPLE);
    put32(b.buf + 12, 0x7fffffff);
    CHECK(expect_invalid(b.buf, b.len, "libc5 entry count exceeds the file") == 0);
    build(&b, 1, 2, sample, NSAMPLE);
    CHECK(expect_invalid(b.buf, 16 + 24, "libc5-only") == 0);
    /* counts and offsets */
    build(&b, 0, 0, sample, NSAMPLE);
    put32(h + 20, 0xffffffff);
    CHECK(expect_invalid(b.buf, b.len, "entry count exceeds the file") == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    put32(h + 20, (uint32_t)(b.len / 24)); /* fits 32-bit maths, not the file */
    CHECK(expect_invalid(b.buf, b.len, "entry count exceeds the file") == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    put32(h + 24, 0xfffffff0);
    CHECK(expect_invalid(b.buf, b.len, "string table exceeds the file") == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    put32(h + 48 + 4, (uint32_t)b.len); /* key offset == size */
    CHECK(expect_invalid(b.buf, b.len, "entry 0 has a string outside the file") == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    put32(h + 48 + 24 + 8, 0xffffffff); /* value offset far out */
    CHECK(expect_invalid(b.buf, b.len, "entry 1 has a string outside the file") == 0);
    /* the last string loses its NUL: the file ends inside it */
    build(&b, 0, 0, sample, NSAMPLE);
    put32(h + 24, 0);
    CHECK(expect_invalid(b.buf, b.len - 1, "not NUL-terminated") == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    b.buf[28] = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 2 : 3;
    CHECK(expect_invalid(b.buf, b.len, "byte order") == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    put32(h + 32, (uint32_t)b.len + 100);
    CHECK(expect_invalid(b.buf, b.len, "extension offset") == 0);
    return 0;
}

static int test_load_errors(void)
{
    struct nvc_ldcache c;
    struct nvc_error err;
    char p[PATH_MAX];
    int fd;

    CHECK(nvc_ldcache_load(rootfd, R, "/etc/missing.cache", &c, &err) < 0);
    CHECK(err.code == NVC_ERR_SYSTEM && err.sys_errno == ENOENT);
    CHECK(strstr(err.msg, "/etc/missing.cache") != NULL);
    CHECK(nvc_ldcache_load(rootfd, R, "/etc", &c, &err) < 0);
    CHECK(err.code == NVC_ERR_LDCACHE_INVALID && strstr(err.msg, "not a regular file"));
    CHECK(fx_write_str(R, "etc/empty.cache", "") == 0);
    CHECK(nvc_ldcache_load(rootfd, R, "/etc/empty.cache", &c, &err) < 0);
    CHECK(err.code == NVC_ERR_LDCACHE_INVALID && strstr(err.msg, "empty"));
    /* a FIFO is refused without being opened for reading (which would block) */
    CHECK(fx_path(p, sizeof(p), "%s/etc/fifo.cache", R) == 0);
    CHECK(mkfifo(p, 0644) == 0);
    CHECK(nvc_ldcache_load(rootfd, R, "/etc/fifo.cache", &c, &err) < 0);
    CHECK(err.code == NVC_ERR_LDCACHE_INVALID && strstr(err.msg, "not a regular file"));
    /* a sparse 65 MiB file is refused from its size alone */
    CHECK(fx_path(p, sizeof(p), "%s/etc/huge.cache", R) == 0);
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)NVC_LDCACHE_MAX_SIZE + 1) == 0);
    close(fd);
    CHECK(nvc_ldcache_load(rootfd, R, "/etc/huge.cache", &c, &err) < 0);
    CHECK(err.code == NVC_ERR_LDCACHE_INVALID && strstr(err.msg, "64 MiB"));
    CHECK(strstr(err.msg, "/etc/huge.cache") != NULL);
    return 0;
}

/* The cache path is resolved inside the root: a link out of it lands back inside. */
static int test_load_through_symlink(void)
{
    static struct built b;
    struct nvc_ldcache c;
    struct nvc_error err;

    build(&b, 0, 0, sample, NSAMPLE);
    CHECK(fx_write(R, "real.cache", b.buf, b.len) == 0);
    CHECK(fx_write_str(T, "real.cache", "garbage outside the root") == 0);
    CHECK(fx_symlink(R, "etc/link.cache", "../../../../../real.cache") == 0);
    CHECK(nvc_ldcache_load(rootfd, R, "/etc/link.cache", &c, &err) == 0);
    CHECK(check_sample(&c) == 0);
    nvc_ldcache_free(&c);
    return 0;
}

static int parse_quiet(const void *data, size_t len)
{
    struct nvc_ldcache c;
    struct nvc_error err;
    size_t total = 0;

    if (nvc_ldcache_parse(data, len, "fuzz", &c, &err) < 0)
        return -1;
    /* Touch every string so that ASan sees any read past the copy. */
    for (size_t i = 0; i < c.nentries; i++)
        total += strlen(c.entries[i].key) + strlen(c.entries[i].value);
    nvc_ldcache_free(&c);
    return total == (size_t)-1 ? -1 : 0;
}

/* Every prefix of a valid cache: parsed or rejected, never read out of bounds; every
 * prefix that cuts into the header, entries or string table is rejected. */
static int check_prefixes(const unsigned char *data, size_t len, size_t hdr)
{
    uint32_t n, strl;
    size_t needed;

    memcpy(&n, data + hdr + 20, 4);
    memcpy(&strl, data + hdr + 24, 4);
    needed = hdr + 48 + (size_t)n * 24 + strl;
    CHECK(parse_quiet(data, len) == 0);
    for (size_t l = 0; l < len; l++) {
        int r = parse_quiet(data, l);
        if (l < needed && r == 0) {
            fprintf(stderr, "# prefix of %zu bytes (< %zu) accepted\n", l, needed);
            return -1;
        }
    }
    return 0;
}

static int test_truncations(void)
{
    static struct built b;
    char *data;
    size_t len;

    build(&b, 1, 3, sample, NSAMPLE);
    CHECK(check_prefixes(b.buf, b.len, b.hdr) == 0);
    build(&b, 0, 0, sample, NSAMPLE);
    CHECK(check_prefixes(b.buf, b.len, b.hdr) == 0);
    if (!have_real_cache && absent_cache("the truncations of a real cache") != TEST_SKIP)
        return -1;
    if (!have_real_cache)
        return 0;
    CHECK(fx_read_file(CACHE, &data, &len) == 0);
    if (check_prefixes((unsigned char *)data, len, 0) < 0) {
        free(data);
        return -1;
    }
    free(data);
    return 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Random corruption: must never crash or read out of bounds (run under ASan). */
static int test_fuzz(void)
{
    static struct built b;
    unsigned char *m;
    int accepted = 0;

    build(&b, 1, 1, sample, NSAMPLE);
    m = malloc(b.len);
    CHECK(m != NULL);
    for (int iter = 0; iter < 50000; iter++) {
        int flips = 1 + (int)(next_rand() % 6);
        memcpy(m, b.buf, b.len);
        for (int f = 0; f < flips; f++) {
            size_t at = next_rand() % b.len;
            if (next_rand() % 4 == 0 && at + 4 <= b.len)
                put32(m + at, next_rand() % 2 ? next_rand() : next_rand() % 512);
            else
                m[at] = (unsigned char)next_rand();
        }
        accepted += parse_quiet(m, 1 + next_rand() % b.len) == 0;
    }
    free(m);
    fprintf(stderr, "# fuzz: %d of 50000 mutants parsed\n", accepted);
    return 0;
}

static void teardown(void)
{
    if (rootfd >= 0)
        close(rootfd);
    if (T[0])
        fx_rmrf(T);
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_arch_filter), TEST(test_real_cache_matches_ldconfig), TEST(test_handbuilt),   TEST(test_rejections),
        TEST(test_load_errors), TEST(test_load_through_symlink),        TEST(test_truncations), TEST(test_fuzz),
    };
    return RUN_FIXTURE_TESTS(setup, teardown, tests);
}
