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
#include "fault_points.h"
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
            Elf64_Phdr ph = {.p_type = segs[i].type,
                             .p_offset = off,
                             .p_filesz = segs[i].len,
                             .p_memsz = segs[i].len,
                             .p_align = segs[i].align};
            memcpy(buf + ehsz + i * phsz, &ph, sizeof(ph));
        } else {
            Elf32_Phdr ph = {.p_type = segs[i].type,
                             .p_offset = (uint32_t)off,
                             .p_filesz = (uint32_t)segs[i].len,
                             .p_memsz = (uint32_t)segs[i].len,
                             .p_align = segs[i].align};
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
        return test_absent("cc", "objects built by the real toolchain");
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

    if (r == 0) /* a toolchain whose crt1.o carries no ABI tag */
        return test_absent("abi-note", "the tag of this very executable");
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
        return test_absent_part("cc", "the truncations of a compiled object");
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

/* ---- DT_SONAME ------------------------------------------------------------------------ */

static int read_soname_mem(const void *data, size_t len, char *out, size_t outsz, struct nvc_error *err)
{
    int fd = memfd_with(data, len);
    int r;

    if (fd < 0)
        return -2;
    r = nvc_elf_read_soname(fd, "mem", out, outsz, err);
    close(fd);
    return r;
}

static int read_soname_file(const char *path, char *out, size_t outsz, struct nvc_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int r;

    if (fd < 0)
        return -2;
    r = nvc_elf_read_soname(fd, path, out, outsz, err);
    close(fd);
    return r;
}

/* dir/rel as a shared object linked without -soname (fx_build_so always gives one). */
static int build_so_without_soname(const char *dir, const char *rel, int m32)
{
    char src[PATH_MAX], out[PATH_MAX];
    char *argv64[] = {(char *)fx_cc(), "-shared", "-fPIC", "-nostdlib", src, "-o", out, NULL};
    char *argv32[] = {(char *)fx_cc(), "-m32", "-shared", "-fPIC", "-nostdlib", src, "-o", out, NULL};

    if (fx_path(src, sizeof(src), "%s/plain.c", dir) < 0 || fx_path(out, sizeof(out), "%s/%s", dir, rel) < 0 ||
        fx_write_str(dir, "plain.c", "int nvc_plain_fn(void) { return 2; }\n") < 0)
        return -1;
    return fx_run(m32 ? argv32 : argv64) == 0 ? 0 : -1;
}

static int expect_soname(const char *rel, const char *want)
{
    char p[PATH_MAX], out[256];
    struct nvc_error err;
    int r;

    CHECK(fx_path(p, sizeof(p), "%s/%s", T, rel) == 0);
    r = read_soname_file(p, out, sizeof(out), &err);
    if (want == NULL) {
        CHECK(r == 0);
        CHECK(out[0] == '\0');
        return 0;
    }
    if (r != 1)
        fprintf(stderr, "# %s: r=%d (%s)\n", rel, r, r < 0 ? err.msg : "");
    CHECK(r == 1);
    CHECK_STR(out, want);
    /* exactly fitting, and one byte short */
    CHECK(read_soname_file(p, out, strlen(want) + 1, &err) == 1);
    CHECK_STR(out, want);
    CHECK(read_soname_file(p, out, strlen(want), &err) == -1);
    CHECK(err.code == NVC_ERR_INVALID_ARGUMENT && err.sys_errno == ENAMETOOLONG);
    CHECK(out[0] == '\0');
    return 0;
}

static int test_soname_compiled(void)
{
    char p[PATH_MAX], out[256];
    struct nvc_error err;

    if (fx_cc() == NULL)
        return test_absent("cc", "objects built by the real toolchain");
    CHECK(fx_build_so(T, "libcuda.so.580.159.04", "libcuda.so.1", NULL, 0) == 0);
    CHECK(fx_build_so(T, "tls-so.so", "libnvidia-tls.so.580.159.04", "2.3.99", 0) == 0);
    CHECK(build_so_without_soname(T, "plain.so", 0) == 0);
    CHECK(expect_soname("libcuda.so.580.159.04", "libcuda.so.1") == 0);
    CHECK(expect_soname("tls-so.so", "libnvidia-tls.so.580.159.04") == 0);
    CHECK(expect_soname("plain.so", NULL) == 0);
    if (fx_can_m32()) {
        CHECK(fx_build_so(T, "libcuda32.so", "libcuda.so.1", NULL, 1) == 0);
        CHECK(fx_build_so(T, "tls32-so.so", "libnvidia-tls.so.580.159.04", "2.3.99", 1) == 0);
        CHECK(build_so_without_soname(T, "plain32.so", 1) == 0);
        CHECK(expect_soname("libcuda32.so", "libcuda.so.1") == 0);
        CHECK(expect_soname("tls32-so.so", "libnvidia-tls.so.580.159.04") == 0);
        CHECK(expect_soname("plain32.so", NULL) == 0);
    } else {
        fprintf(stderr, "# no -m32 here: 32-bit sonames only from hand-built files\n");
    }
    /* an executable has a dynamic section but no soname (or, static, no dynamic segment) */
    CHECK(read_soname_file("/proc/self/exe", out, sizeof(out), &err) == 0);
    /* not a regular file; no room */
    CHECK(read_soname_file(T, out, sizeof(out), &err) == -1);
    CHECK(err.code == NVC_ERR_INVALID_ARGUMENT && err.sys_errno == ENOEXEC);
    CHECK(fx_path(p, sizeof(p), "%s/plain.so", T) == 0);
    CHECK(read_soname_file(p, out, 0, &err) == -1);
    return 0;
}

/* A hand-built shared object: two PT_LOADs, the second mapped at a virtual address
 * unlike its file offset, holding the string table and the dynamic array. */
#define DYN_BASE   0x400000u
#define DYN_SONAME "libhand.so.7"

struct dyn_layout {
    size_t len;
    size_t phoff, strtab, dynamic; /* file offsets */
    size_t ndyn;                   /* entries, DT_NULL included */
};

static size_t dyn_entry(unsigned char *p, int is64, int64_t tag, uint64_t val)
{
    if (is64) {
        Elf64_Dyn d = {.d_tag = tag, .d_un.d_val = val};
        memcpy(p, &d, sizeof(d));
        return sizeof(d);
    } else {
        Elf32_Dyn d = {.d_tag = (Elf32_Sword)tag, .d_un.d_val = (Elf32_Word)val};
        memcpy(p, &d, sizeof(d));
        return sizeof(d);
    }
}

static void put_phdr(unsigned char *buf, int is64, size_t at, uint32_t type, uint64_t off, uint64_t vaddr,
                     uint64_t filesz)
{
    if (is64) {
        Elf64_Phdr ph = {.p_type = type,
                         .p_offset = off,
                         .p_vaddr = vaddr,
                         .p_paddr = vaddr,
                         .p_filesz = filesz,
                         .p_memsz = filesz,
                         .p_align = 8};
        memcpy(buf + at, &ph, sizeof(ph));
    } else {
        Elf32_Phdr ph = {.p_type = type,
                         .p_offset = (uint32_t)off,
                         .p_vaddr = (uint32_t)vaddr,
                         .p_paddr = (uint32_t)vaddr,
                         .p_filesz = (uint32_t)filesz,
                         .p_memsz = (uint32_t)filesz,
                         .p_align = 8};
        memcpy(buf + at, &ph, sizeof(ph));
    }
}

/* ELF with PT_LOAD (headers), PT_LOAD (strings + dynamic), PT_DYNAMIC. The string
 * table is "\0libother.so\0" DYN_SONAME "\0"; DT_SONAME points at DYN_SONAME. */
static struct dyn_layout sample_dyn(unsigned char *buf, int is64)
{
    static const char strs[] = "\0libother.so\0" DYN_SONAME;
    size_t ehsz = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    size_t phsz = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    struct dyn_layout l;
    size_t off, seg2;

    /* the ELF header through make_elf, then our own program headers */
    make_elf(buf, is64, NULL, 0);
    if (is64) {
        ((Elf64_Ehdr *)buf)->e_phnum = 3;
        ((Elf64_Ehdr *)buf)->e_phentsize = (uint16_t)phsz;
    } else {
        ((Elf32_Ehdr *)buf)->e_phnum = 3;
        ((Elf32_Ehdr *)buf)->e_phentsize = (uint16_t)phsz;
    }
    l.phoff = ehsz;
    seg2 = align_to(ehsz + 3 * phsz, 16);
    memset(buf + ehsz, 0, seg2 - ehsz);
    l.strtab = seg2;
    memcpy(buf + l.strtab, strs, sizeof(strs)); /* sizeof includes the final NUL */
    l.dynamic = align_to(l.strtab + sizeof(strs), 8);
    memset(buf + l.strtab + sizeof(strs), 0, l.dynamic - l.strtab - sizeof(strs));
    off = l.dynamic;
    off += dyn_entry(buf + off, is64, DT_NEEDED, 1);
    off += dyn_entry(buf + off, is64, DT_STRTAB, DYN_BASE + l.strtab);
    off += dyn_entry(buf + off, is64, DT_STRSZ, sizeof(strs));
    off += dyn_entry(buf + off, is64, DT_SONAME, 13);
    off += dyn_entry(buf + off, is64, DT_NULL, 0);
    l.ndyn = 5;
    l.len = off;
    put_phdr(buf, is64, l.phoff, PT_LOAD, 0, 0, seg2);
    put_phdr(buf, is64, l.phoff + phsz, PT_LOAD, seg2, DYN_BASE + seg2, l.len - seg2);
    put_phdr(buf, is64, l.phoff + 2 * phsz, PT_DYNAMIC, l.dynamic, DYN_BASE + l.dynamic, l.len - l.dynamic);
    return l;
}

static size_t dyn_size(int is64)
{
    return is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
}

static size_t ph_size(int is64)
{
    return is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
}

/* Rewrite dynamic entry i. */
static void set_dyn(unsigned char *buf, int is64, const struct dyn_layout *l, size_t i, int64_t tag, uint64_t val)
{
    dyn_entry(buf + l->dynamic + i * dyn_size(is64), is64, tag, val);
}

static int soname_r(const unsigned char *buf, size_t len, const char *what, int want_r, const char *want)
{
    char out[64];
    struct nvc_error err;
    int r = read_soname_mem(buf, len, out, sizeof(out), &err);

    if (r != want_r) {
        fprintf(stderr, "# %s: expected %d, got %d (%s)\n", what, want_r, r, r == -1 ? err.msg : out);
        return -1;
    }
    if (r == 1)
        CHECK_STR(out, want);
    else
        CHECK(out[0] == '\0');
    if (r == -1) {
        CHECK(err.code == NVC_ERR_INVALID_ARGUMENT && err.sys_errno == ENOEXEC);
        CHECK(strstr(err.msg, "mem") != NULL);
    }
    return 0;
}

static int soname_cases(int is64)
{
    static unsigned char buf[4096];
    const size_t phsz = ph_size(is64);
    struct dyn_layout l;

    l = sample_dyn(buf, is64);
    CHECK(soname_r(buf, l.len, "sample", 1, DYN_SONAME) == 0);
    /* DT_SONAME pointing at the other string; the last DT_SONAME counts */
    set_dyn(buf, is64, &l, 0, DT_SONAME, 1);
    CHECK(soname_r(buf, l.len, "last soname wins", 1, DYN_SONAME) == 0);
    set_dyn(buf, is64, &l, 3, DT_SONAME, 1);
    CHECK(soname_r(buf, l.len, "other string", 1, "libother.so") == 0);
    /* without DT_STRSZ the segment bounds the string */
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 2, DT_DEBUG, 0);
    CHECK(soname_r(buf, l.len, "no strsz", 1, DYN_SONAME) == 0);
    /* empty soname (offset 0): returned as stored, callers judge */
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 3, DT_SONAME, 0);
    CHECK(soname_r(buf, l.len, "empty", 1, "") == 0);

    /* no soname: none, DT_NULL before it, no PT_DYNAMIC, empty PT_DYNAMIC */
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 3, DT_NEEDED, 1);
    CHECK(soname_r(buf, l.len, "no DT_SONAME", 0, NULL) == 0);
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 2, DT_NULL, 0);
    CHECK(soname_r(buf, l.len, "DT_NULL first", 0, NULL) == 0);
    l = sample_dyn(buf, is64);
    put_phdr(buf, is64, l.phoff + 2 * phsz, PT_NOTE, 0, 0, 0);
    CHECK(soname_r(buf, l.len, "no PT_DYNAMIC", 0, NULL) == 0);
    l = sample_dyn(buf, is64);
    put_phdr(buf, is64, l.phoff + 2 * phsz, PT_DYNAMIC, l.dynamic, 0, 0);
    CHECK(soname_r(buf, l.len, "empty PT_DYNAMIC", 0, NULL) == 0);
    /* a dynamic segment cut inside its DT_SONAME entry */
    l = sample_dyn(buf, is64);
    put_phdr(buf, is64, l.phoff + 2 * phsz, PT_DYNAMIC, l.dynamic, 0, 4 * dyn_size(is64) - 1);
    CHECK(soname_r(buf, l.len, "partial entry", 0, NULL) == 0);
    l = sample_dyn(buf, is64);
    CHECK(soname_r(buf, l.phoff + 2 * phsz, "truncated before PT_DYNAMIC", -1, NULL) == 0);
    CHECK(soname_r(buf, make_elf(buf, is64, NULL, 0), "no program headers", 0, NULL) == 0);

    /* malformed */
    l = sample_dyn(buf, is64);
    put_phdr(buf, is64, l.phoff, PT_DYNAMIC, l.dynamic, 0, l.len - l.dynamic);
    CHECK(soname_r(buf, l.len, "two PT_DYNAMIC", -1, NULL) == 0);
    l = sample_dyn(buf, is64);
    put_phdr(buf, is64, l.phoff + 2 * phsz, PT_DYNAMIC, l.dynamic, 0, l.len - l.dynamic + 1);
    CHECK(soname_r(buf, l.len, "dynamic past the end", -1, NULL) == 0);
    l = sample_dyn(buf, is64);
    put_phdr(buf, is64, l.phoff + 2 * phsz, PT_DYNAMIC, is64 ? UINT64_MAX - 8 : UINT32_MAX - 8, 0, 64);
    CHECK(soname_r(buf, l.len, "dynamic offset overflow", -1, NULL) == 0);
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 1, DT_DEBUG, 0);
    CHECK(soname_r(buf, l.len, "no DT_STRTAB", -1, NULL) == 0);
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 1, DT_STRTAB, l.strtab); /* the file offset, not the address */
    CHECK(soname_r(buf, l.len, "strtab given as a file offset", -1, NULL) == 0);
    set_dyn(buf, is64, &l, 1, DT_STRTAB, DYN_BASE - 1);
    CHECK(soname_r(buf, l.len, "strtab unmapped", -1, NULL) == 0);
    set_dyn(buf, is64, &l, 1, DT_STRTAB, DYN_BASE + l.len);
    CHECK(soname_r(buf, l.len, "strtab after the segment", -1, NULL) == 0);
    set_dyn(buf, is64, &l, 1, DT_STRTAB, is64 ? UINT64_MAX : UINT32_MAX);
    CHECK(soname_r(buf, l.len, "strtab at the top", -1, NULL) == 0);
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 3, DT_SONAME, 64);
    CHECK(soname_r(buf, l.len, "soname past strsz", -1, NULL) == 0);
    set_dyn(buf, is64, &l, 2, DT_DEBUG, 0);
    set_dyn(buf, is64, &l, 3, DT_SONAME, l.len);
    CHECK(soname_r(buf, l.len, "soname past the segment", -1, NULL) == 0);
    set_dyn(buf, is64, &l, 3, DT_SONAME, is64 ? UINT64_MAX : UINT32_MAX);
    CHECK(soname_r(buf, l.len, "soname offset overflow", -1, NULL) == 0);
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 2, DT_STRSZ, 13 + sizeof(DYN_SONAME) - 1); /* cuts the final NUL */
    CHECK(soname_r(buf, l.len, "strsz cuts the string", -1, NULL) == 0);
    set_dyn(buf, is64, &l, 2, DT_STRSZ, 13 + sizeof(DYN_SONAME));
    CHECK(soname_r(buf, l.len, "strsz exact", 1, DYN_SONAME) == 0);
    set_dyn(buf, is64, &l, 2, DT_STRSZ, is64 ? UINT64_MAX : UINT32_MAX);
    CHECK(soname_r(buf, l.len, "strsz huge", 1, DYN_SONAME) == 0);
    /* the segment ends inside the string though the file goes on (NUL included) */
    l = sample_dyn(buf, is64);
    set_dyn(buf, is64, &l, 2, DT_DEBUG, 0);
    put_phdr(buf, is64, l.phoff + phsz, PT_LOAD, l.strtab, DYN_BASE + l.strtab, 13 + 4);
    CHECK(soname_r(buf, l.len, "segment cuts the string", -1, NULL) == 0);
    /* the loaded segment itself reaching past the file */
    l = sample_dyn(buf, is64);
    put_phdr(buf, is64, l.phoff + phsz, PT_LOAD, l.strtab, DYN_BASE + l.strtab, l.len);
    CHECK(soname_r(buf, l.len, "load past the end", -1, NULL) == 0);
    /* a string table whose segment ends before any NUL */
    l = sample_dyn(buf, is64);
    memset(buf + l.strtab + 13, 'x', sizeof(DYN_SONAME));
    set_dyn(buf, is64, &l, 2, DT_DEBUG, 0);
    put_phdr(buf, is64, l.phoff + phsz, PT_LOAD, l.strtab, DYN_BASE + l.strtab, 13 + sizeof(DYN_SONAME));
    CHECK(soname_r(buf, l.len, "unterminated", -1, NULL) == 0);
    return 0;
}

static int test_soname_handbuilt(void)
{
    CHECK(soname_cases(1) == 0);
    CHECK(soname_cases(0) == 0);
    return 0;
}

/* Every prefix gives -1 or the right soname (a cut file never has "no soname"). */
static int check_soname_prefixes(const unsigned char *data, size_t len, size_t step, const char *want)
{
    char out[256];
    struct nvc_error err;
    int fd = memfd_create("prefix", MFD_CLOEXEC);

    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    for (size_t l = len + 1; l-- > 0;) {
        int r;
        if (l % step != 0 && l + 64 < len && l > 1024)
            continue;
        CHECK(ftruncate(fd, (off_t)l) == 0);
        r = nvc_elf_read_soname(fd, "prefix", out, sizeof(out), &err);
        if ((l == len && r != 1) || !(r == -1 || (r == 1 && strcmp(out, want) == 0))) {
            fprintf(stderr, "# soname prefix %zu of %zu: r=%d\n", l, len, r);
            close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

static int test_soname_truncations(void)
{
    static unsigned char buf[4096];
    char p[PATH_MAX], *data;
    struct dyn_layout l;
    size_t len;
    int r = 0;

    l = sample_dyn(buf, 1);
    CHECK(check_soname_prefixes(buf, l.len, 1, DYN_SONAME) == 0);
    l = sample_dyn(buf, 0);
    CHECK(check_soname_prefixes(buf, l.len, 1, DYN_SONAME) == 0);
    if (fx_cc() == NULL)
        return test_absent_part("cc", "the truncations of a compiled object");
    CHECK(fx_build_so(T, "trunc-soname.so", "libcuda.so.1", NULL, 0) == 0);
    CHECK(fx_path(p, sizeof(p), "%s/trunc-soname.so", T) == 0);
    CHECK(fx_read_file(p, &data, &len) == 0);
    r = check_soname_prefixes((unsigned char *)data, len, 7, "libcuda.so.1");
    free(data);
    if (r == 0 && fx_can_m32()) {
        CHECK(fx_build_so(T, "trunc-soname32.so", "libcuda.so.1", NULL, 1) == 0);
        CHECK(fx_path(p, sizeof(p), "%s/trunc-soname32.so", T) == 0);
        CHECK(fx_read_file(p, &data, &len) == 0);
        r = check_soname_prefixes((unsigned char *)data, len, 7, "libcuda.so.1");
        free(data);
    }
    return r;
}

static int fuzz_soname(int is64, size_t outsz)
{
    static unsigned char base[4096], m[4096];
    char out[64];
    struct nvc_error err;
    struct dyn_layout l = sample_dyn(base, is64);
    int found = 0, fd = memfd_create("fuzz", MFD_CLOEXEC);

    CHECK(fd >= 0);
    CHECK(outsz <= sizeof(out));
    for (int iter = 0; iter < 20000; iter++) {
        int flips = 1 + (int)(next_rand() % 4), r;
        size_t len = l.len;
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
        if (next_rand() % 8 == 0)
            len = next_rand() % (len + 1);
        CHECK(ftruncate(fd, 0) == 0);
        CHECK(pwrite(fd, m, len, 0) == (ssize_t)len);
        memset(out, 0x55, sizeof(out));
        r = nvc_elf_read_soname(fd, "fuzz", out, outsz, &err);
        CHECK(r >= -1 && r <= 1);
        CHECK(memchr(out, '\0', outsz) != NULL);
        if (r == 1 && strcmp(out, DYN_SONAME) == 0)
            found++;
    }
    close(fd);
    fprintf(stderr, "# soname fuzz (%d-bit, %zu-byte buffer): soname still read in %d of 20000 mutants\n",
            is64 ? 64 : 32, outsz, found);
    return 0;
}

static int test_soname_fuzz(void)
{
    CHECK(fuzz_soname(1, 64) == 0);
    CHECK(fuzz_soname(0, 64) == 0);
    CHECK(fuzz_soname(1, 8) == 0);
    return 0;
}

/* A file that cannot be read, or ends before the size fstat gave, is a system error
 * (EIO...), never "not a usable ELF" (NVC_ERR_INVALID_ARGUMENT): discovery may pass over
 * the latter, not the former (issue 11). Our own executable, through fault_points.h. */
static int test_read_errors(void)
{
    static const struct {
        const char *call;
        int err, want_errno;
        const char *step;
    } cases[] = {
        {"pread", EIO, EIO, "read"},
        {"pread", 0, EIO, "read"}, /* the end of the file, early */
        {"pread", ENOMEM, ENOMEM, "read"},
        {"fstat", EIO, EIO, "fstat"},
    };
    char self[PATH_MAX], out[256];
    struct nvc_elf_abi_tag t;
    struct nvc_error err;
    const char *base;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    int fd, r = 0;

    CHECK(n > 0);
    self[n] = '\0';
    base = strrchr(self, '/');
    CHECK(base != NULL);
    fd = open(self, O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(nvc_elf_read_soname(fd, self, out, sizeof(out), &err) >= 0); /* unarmed: readable */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int soname = 0; soname < 2; soname++) {
            int got;
            unsigned hits;

            fp_arm(cases[i].call, base, cases[i].err);
            got = soname ? nvc_elf_read_soname(fd, self, out, sizeof(out), &err)
                         : nvc_elf_read_abi_tag(fd, self, &t, &err);
            hits = fp_disarm();
            if (got != -1 || hits == 0 ||
                err.code != (cases[i].want_errno == ENOMEM ? NVC_ERR_NO_MEMORY : NVC_ERR_SYSTEM) ||
                err.sys_errno != cases[i].want_errno || strcmp(err.step, cases[i].step) != 0 ||
                strcmp(err.path, self) != 0) {
                fprintf(stderr, "# %s %s with %s: %d (%u hits), %s errno %d step %s: %s\n",
                        soname ? "soname" : "abi tag", cases[i].call, strerror(cases[i].err), got, hits,
                        nvc_errcode_string(err.code), err.sys_errno, err.step, err.msg);
                r = -1;
            }
        }
    }
    close(fd);
    return r;
}

int main(void)
{
    static const struct test_case tests[] = {
        TEST(test_compiled_objects), TEST(test_own_executable),   TEST(test_handbuilt),
        TEST(test_rejections),       TEST(test_truncations),      TEST(test_fuzz),
        TEST(test_soname_compiled),  TEST(test_soname_handbuilt), TEST(test_soname_truncations),
        TEST(test_soname_fuzz),      TEST(test_read_errors),
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
