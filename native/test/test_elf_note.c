#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elf_note.h"
#include "fixture.h"
#include "harness.h"

static char T[PATH_MAX];

/* ---- in-memory files --------------------------------------------------------------- */

static int memfd_with(const void *data, size_t len)
{
    int fd = memfd_create("elf", MFD_CLOEXEC);

    if (fd < 0)
        return -1;
    if (len > 0 && write(fd, data, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

/* nvc_elf_read_abi_tag on bytes; *tag filled when 1. */
static int read_tag_mem(const void *data, size_t len, struct nvc_elf_abi_tag *tag, struct nvc_error *err)
{
    int fd = memfd_with(data, len);
    int r;

    if (fd < 0)
        return -2;
    r = nvc_elf_read_abi_tag(fd, "mem", tag, err);
    close(fd);
    return r;
}

static int read_tag_file(const char *path, struct nvc_elf_abi_tag *tag, struct nvc_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int r;

    if (fd < 0)
        return -2;
    r = nvc_elf_read_abi_tag(fd, path, tag, err);
    close(fd);
    return r;
}

/* ---- hand-built ELF files ------------------------------------------------------------ */

struct seg {
    uint32_t type;
    uint32_t align;
    const unsigned char *data;
    size_t len;
};

static size_t align_to(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* One note: header, name padded and descriptor padded the binutils way. */
static size_t note(unsigned char *out, const char *owner, uint32_t type, const uint32_t *desc, uint32_t descsz,
                   size_t a)
{
    uint32_t namesz = (uint32_t)strlen(owner) + 1;
    uint32_t h[3] = {namesz, descsz, type};
    size_t d;

    memset(out, 0, align_to(align_to(12 + namesz, a) + descsz, a));
    memcpy(out, h, 12);
    memcpy(out + 12, owner, namesz);
    d = align_to(12 + namesz, a);
    memcpy(out + d, desc, descsz);
    return align_to(d + descsz, a);
}

static size_t make_elf(unsigned char *buf, int is64, const struct seg *segs, size_t nseg)
{
    size_t ehsz = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    size_t phsz = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    size_t off = align_to(ehsz + nseg * phsz, 8);

    memset(buf, 0, off);
    memcpy(buf, ELFMAG, SELFMAG);
    buf[EI_CLASS] = is64 ? ELFCLASS64 : ELFCLASS32;
    buf[EI_DATA] = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? ELFDATA2MSB : ELFDATA2LSB;
    buf[EI_VERSION] = EV_CURRENT;
    if (is64) {
        Elf64_Ehdr *e = (Elf64_Ehdr *)buf;
        e->e_type = ET_DYN;
        e->e_phoff = ehsz;
        e->e_phentsize = (uint16_t)phsz;
        e->e_phnum = (uint16_t)nseg;
        e->e_ehsize = (uint16_t)ehsz;
    } else {
        Elf32_Ehdr *e = (Elf32_Ehdr *)buf;
        e->e_type = ET_DYN;
        e->e_phoff = (uint32_t)ehsz;
        e->e_phentsize = (uint16_t)phsz;
        e->e_phnum = (uint16_t)nseg;
        e->e_ehsize = (uint16_t)ehsz;
    }
    for (size_t i = 0; i < nseg; i++) {
        if (is64) {
            Elf64_Phdr ph = {.p_type = segs[i].type, .p_offset = off, .p_filesz = segs[i].len,
                             .p_memsz = segs[i].len, .p_align = segs[i].align};
            memcpy(buf + ehsz + i * phsz, &ph, sizeof(ph));
        } else {
            Elf32_Phdr ph = {.p_type = segs[i].type, .p_offset = (uint32_t)off, .p_filesz = (uint32_t)segs[i].len,
                             .p_memsz = (uint32_t)segs[i].len, .p_align = segs[i].align};
            memcpy(buf + ehsz + i * phsz, &ph, sizeof(ph));
        }
        memcpy(buf + off, segs[i].data, segs[i].len);
        off = align_to(off + segs[i].len, 8);
    }
    return off;
}

static const uint32_t tag_2399[4] = {0, 2, 3, 99};
static const uint32_t build_id[5] = {0x11111111, 0x22222222, 0x33333333, 0x44444444, 0x55555555};
static const uint32_t property[4] = {0xc0000002, 4, 3, 0}; /* x86 feature_1_and: IBT|SHSTK */

/* ELF64 with a 4-aligned segment (build-id) and an 8-aligned one (property, then the
 * ABI tag), plus a PT_LOAD the reader must ignore. */
static size_t sample64(unsigned char *buf)
{
    static unsigned char s1[256], s2[256];
    size_t l1 = note(s1, "GNU", NT_GNU_BUILD_ID, build_id, sizeof(build_id), 4);
    size_t l2 = note(s2, "GNU", 5 /* NT_GNU_PROPERTY_TYPE_0 */, property, sizeof(property), 8);
    struct seg segs[3];

    l2 += note(s2 + l2, "GNU", NT_GNU_ABI_TAG, tag_2399, sizeof(tag_2399), 8);
    segs[0] = (struct seg){PT_LOAD, 8, s1, 8};
    segs[1] = (struct seg){PT_NOTE, 4, s1, l1};
    segs[2] = (struct seg){PT_NOTE, 8, s2, l2};
    return make_elf(buf, 1, segs, 3);
}

static size_t sample32(unsigned char *buf, const char *owner, uint32_t type)
{
    static unsigned char s1[256];
    size_t l1 = note(s1, "Go", 4, build_id, 8, 4);
    struct seg seg;

    l1 += note(s1 + l1, owner, type, tag_2399, sizeof(tag_2399), 4);
    seg = (struct seg){PT_NOTE, 4, s1, l1};
    return make_elf(buf, 0, &seg, 1);
}

/* ---- tests ------------------------------------------------------------------------------ */

static int test_compiled_objects(void)
{
    struct nvc_elf_abi_tag t;
    struct nvc_error err;
    char p[PATH_MAX];
    int fd;

    if (fx_cc() == NULL)
        return TEST_SKIP;
    CHECK(fx_build_so(T, "tls.so", "libnvidia-tls.so.1", "2.3.99", 0) == 0);
    CHECK(fx_build_so(T, "old.so", "libnvidia-tls.so.1", "2.6.32", 0) == 0);
    CHECK(fx_build_so(T, "none.so", "libnone.so.1", NULL, 0) == 0);
    CHECK(fx_path(p, sizeof(p), "%s/tls.so", T) == 0);
    CHECK(read_tag_file(p, &t, &err) == 1);
    CHECK(t.os == 0 && t.major == 2 && t.minor == 3 && t.patch == 99);
    fd = open(p, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(nvc_elf_abi_tag_is(fd, p, NVC_ELF_ABI_OS_LINUX, 2, 3, 99, &err) == 1);
    close(fd);
    CHECK(fx_path(p, sizeof(p), "%s/old.so", T) == 0);
    CHECK(read_tag_file(p, &t, &err) == 1);
    CHECK(t.major == 2 && t.minor == 6 && t.patch == 32);
    fd = open(p, O_RDONLY | O_CLOEXEC);
    CHECK(nvc_elf_abi_tag_is(fd, p, NVC_ELF_ABI_OS_LINUX, 2, 3, 99, &err) == 0);
    close(fd);
    CHECK(fx_path(p, sizeof(p), "%s/none.so", T) == 0);
    CHECK(read_tag_file(p, &t, &err) == 0);
    if (fx_can_m32()) {
        CHECK(fx_build_so(T, "tls32.so", "libnvidia-tls.so.1", "2.3.99", 1) == 0);
        CHECK(fx_path(p, sizeof(p), "%s/tls32.so", T) == 0);
        CHECK(read_tag_file(p, &t, &err) == 1);
        CHECK(t.os == 0 && t.major == 2 && t.minor == 3 && t.patch == 99);
    }
    return 0;
}

/* A glibc-linked executable carries the tag from crt1.o (its value depends on the distro). */
static int test_own_executable(void)
{
    struct nvc_elf_abi_tag t;
    struct nvc_error err;
    int r = read_tag_file("/proc/self/exe", &t, &err);

    if (r == 0)
        return TEST_SKIP; /* a toolchain without the note */
    CHECK(r == 1);
    CHECK(t.os == NVC_ELF_ABI_OS_LINUX && t.major >= 2);
    return 0;
}

static int test_handbuilt(void)
{
    static unsigned char buf[4096];
    struct nvc_elf_abi_tag t;
    struct nvc_error err;
    size_t len;

    len = sample64(buf);
    CHECK(read_tag_mem(buf, len, &t, &err) == 1);
    CHECK(t.os == 0 && t.major == 2 && t.minor == 3 && t.patch == 99);
    len = sample32(buf, "GNU", NT_GNU_ABI_TAG);
    CHECK(read_tag_mem(buf, len, &t, &err) == 1);
    CHECK(t.major == 2 && t.minor == 3 && t.patch == 99);
    /* other owners or other types are not the tag */
    len = sample32(buf, "GNV", NT_GNU_ABI_TAG);
    CHECK(read_tag_mem(buf, len, &t, &err) == 0);
    len = sample32(buf, "GNU", NT_GNU_BUILD_ID);
    CHECK(read_tag_mem(buf, len, &t, &err) == 0);
    /* no program headers at all */
    len = make_elf(buf, 1, NULL, 0);
    CHECK(read_tag_mem(buf, len, &t, &err) == 0);
    return 0;
}

static int expect_bad(const void *data, size_t len, const char *what)
{
    struct nvc_elf_abi_tag t;
    struct nvc_error err;
    int r = read_tag_mem(data, len, &t, &err);

    if (r != -1) {
        fprintf(stderr, "# %s: expected -1, got %d\n", what, r);
        return -1;
    }
    CHECK(err.code == NVC_ERR_INVALID_ARGUMENT && err.sys_errno == ENOEXEC);
    CHECK(strstr(err.msg, "mem") != NULL);
    return 0;
}

static int test_rejections(void)
{
    static unsigned char buf[4096];
    struct nvc_elf_abi_tag t;
    struct nvc_error err;
    Elf64_Ehdr *e = (Elf64_Ehdr *)buf;
    Elf64_Phdr *ph;
    size_t len;
    int fd;

    CHECK(expect_bad("#!/bin/sh\necho not an ELF file at all\n", 39, "script") == 0);
    CHECK(expect_bad("\177ELF", 4, "tiny") == 0);
    len = sample64(buf);
    buf[EI_DATA] = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
    CHECK(expect_bad(buf, len, "foreign byte order") == 0);
    len = sample64(buf);
    buf[EI_CLASS] = ELFCLASSNONE;
    CHECK(expect_bad(buf, len, "class none") == 0);
    len = sample64(buf);
    e->e_phentsize = 12;
    CHECK(expect_bad(buf, len, "phentsize") == 0);
    len = sample64(buf);
    e->e_phoff = len - 8;
    CHECK(expect_bad(buf, len, "phoff") == 0);
    len = sample64(buf);
    e->e_phoff = UINT64_MAX - 16;
    CHECK(expect_bad(buf, len, "phoff overflow") == 0);
    len = sample64(buf);
    e->e_phnum = PN_XNUM;
    CHECK(expect_bad(buf, len, "phnum") == 0);
    len = sample64(buf);
    ph = (Elf64_Phdr *)(buf + e->e_phoff) + 2;
    ph->p_filesz = len;
    CHECK(expect_bad(buf, len, "note past the end") == 0);
    len = sample64(buf);
    ph = (Elf64_Phdr *)(buf + e->e_phoff) + 2;
    ph->p_offset = UINT64_MAX - 4;
    CHECK(expect_bad(buf, len, "note offset overflow") == 0);
    /* malformed notes inside a valid segment end the walk quietly */
    len = sample64(buf);
    ph = (Elf64_Phdr *)(buf + e->e_phoff) + 2;
    memset(buf + ph->p_offset, 0xff, 4); /* namesz 0xffffffff */
    CHECK(read_tag_mem(buf, len, &t, &err) == 0);
    len = sample64(buf);
    ph = (Elf64_Phdr *)(buf + e->e_phoff) + 2;
    memset(buf + ph->p_offset + 4, 0xff, 4); /* descsz 0xffffffff */
    CHECK(read_tag_mem(buf, len, &t, &err) == 0);
    /* not a regular file */
    fd = open(T, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(nvc_elf_read_abi_tag(fd, T, &t, &err) == -1);
    close(fd);
    return 0;
}

/* Every prefix gives "no usable ELF" or the tag, never a wrong answer or a bad read. */
static int check_prefixes(const unsigned char *data, size_t len, size_t step)
{
    struct nvc_elf_abi_tag t;
    struct nvc_error err;
    int fd = memfd_create("prefix", MFD_CLOEXEC);

    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    for (size_t l = len + 1; l-- > 0;) {
        int r;
        if (l % step != 0 && l + 64 < len && l > 1024)
            continue; /* every byte near both ends, a sample of the middle */
        CHECK(ftruncate(fd, (off_t)l) == 0);
        r = nvc_elf_read_abi_tag(fd, "prefix", &t, &err);
        if (l == len && r != 1) {
            close(fd);
            return -1;
        }
        if (r != -1 && !(r == 1 && t.major == 2 && t.minor == 3 && t.patch == 99)) {
            fprintf(stderr, "# prefix %zu: r=%d\n", l, r);
            close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

static int test_truncations(void)
{
    static unsigned char buf[4096];
    char p[PATH_MAX], *data;
    size_t len;
    int r;

    len = sample64(buf);
    CHECK(check_prefixes(buf, len, 1) == 0);
    len = sample32(buf, "GNU", NT_GNU_ABI_TAG);
    CHECK(check_prefixes(buf, len, 1) == 0);
    if (fx_cc() == NULL)
        return 0;
    CHECK(fx_build_so(T, "trunc.so", "libnvidia-tls.so.1", "2.3.99", 0) == 0);
    CHECK(fx_path(p, sizeof(p), "%s/trunc.so", T) == 0);
    CHECK(fx_read_file(p, &data, &len) == 0);
    r = check_prefixes((unsigned char *)data, len, 7);
    free(data);
    return r;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static int test_fuzz(void)
{
    static unsigned char base[4096], m[4096];
    struct nvc_elf_abi_tag t;
    struct nvc_error err;
    size_t len = sample64(base);
    int found = 0, fd = memfd_create("fuzz", MFD_CLOEXEC);

    CHECK(fd >= 0);
    for (int iter = 0; iter < 20000; iter++) {
        int flips = 1 + (int)(next_rand() % 4);
        memcpy(m, base, len);
        for (int f = 0; f < flips; f++) {
            size_t at = next_rand() % len;
            if (next_rand() % 3 == 0 && at + 4 <= len) {
                uint32_t v = next_rand() % 2 ? next_rand() : next_rand() % 256;
                memcpy(m + at, &v, 4);
            } else {
                m[at] = (unsigned char)next_rand();
            }
        }
        CHECK(ftruncate(fd, 0) == 0);
        CHECK(pwrite(fd, m, len, 0) == (ssize_t)len);
        found += nvc_elf_read_abi_tag(fd, "fuzz", &t, &err) == 1;
    }
    close(fd);
    fprintf(stderr, "# fuzz: tag still found in %d of 20000 mutants\n", found);
    return 0;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_compiled_objects), TEST(test_own_executable), TEST(test_handbuilt),
        TEST(test_rejections), TEST(test_truncations), TEST(test_fuzz),
    };
    int r;

    if (fx_tmpdir(T, sizeof(T)) < 0) {
        printf("Bail out! no temporary directory\n");
        return 1;
    }
    r = RUN_TESTS(tests);
    fx_rmrf(T);
    return r;
}
