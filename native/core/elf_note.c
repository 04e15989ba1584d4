#define _GNU_SOURCE
#include "elf_note.h"

#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what a hostile file can make us read: real libraries have about ten
 * program headers and note segments of a few hundred bytes. */
#define MAX_PHNUM 4096
#define MAX_NOTE_SEGMENT (1u << 20)

#define NOTE_HEADER_SIZE 12 /* u32 namesz, descsz, type */
#define ABI_TAG_DESC_SIZE 16

/* The fields of either class of header that matter here, widened. */
struct ehdr_info {
    int is64;
    uint64_t phoff;
    uint32_t phentsize, phnum;
};

struct note_seg {
    uint64_t offset, filesz, align;
};

static int bad_elf(struct nvc_error *err, const char *name, const char *what)
{
    return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENOEXEC, "elf", name, "%s is not a usable ELF file: %s",
                         name, what);
}

/* Read exactly len bytes at off; a short read means the file is shorter than its
 * headers claim. */
static int read_at(int fd, void *buf, size_t len, uint64_t off, const char *name, struct nvc_error *err)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return nvc_error_sys(err, "read", name, "cannot read %s", name);
        if (r == 0)
            return bad_elf(err, name, "truncated");
        got += (size_t)r;
    }
    return 0;
}

static unsigned char native_data(void)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return ELFDATA2MSB;
#else
    return ELFDATA2LSB;
#endif
}

static int read_ehdr(int fd, uint64_t size, const char *name, struct ehdr_info *h, struct nvc_error *err)
{
    unsigned char ident[EI_NIDENT];

    if (size < EI_NIDENT)
        return bad_elf(err, name, "too small");
    if (read_at(fd, ident, sizeof(ident), 0, name, err) < 0)
        return -1;
    if (memcmp(ident, ELFMAG, SELFMAG) != 0)
        return bad_elf(err, name, "no ELF magic");
    if (ident[EI_DATA] != native_data())
        return bad_elf(err, name, "byte order of another machine");
    if (ident[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr e;
        if (size < sizeof(e))
            return bad_elf(err, name, "truncated header");
        if (read_at(fd, &e, sizeof(e), 0, name, err) < 0)
            return -1;
        *h = (struct ehdr_info){1, e.e_phoff, e.e_phentsize, e.e_phnum};
        if (h->phnum > 0 && h->phentsize != sizeof(Elf64_Phdr))
            return bad_elf(err, name, "unexpected program header size");
    } else if (ident[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr e;
        if (size < sizeof(e))
            return bad_elf(err, name, "truncated header");
        if (read_at(fd, &e, sizeof(e), 0, name, err) < 0)
            return -1;
        *h = (struct ehdr_info){0, e.e_phoff, e.e_phentsize, e.e_phnum};
        if (h->phnum > 0 && h->phentsize != sizeof(Elf32_Phdr))
            return bad_elf(err, name, "unexpected program header size");
    } else {
        return bad_elf(err, name, "unknown ELF class");
    }
    /* PN_XNUM (count stored elsewhere) only occurs in huge core dumps, never in libraries. */
    if (h->phnum >= PN_XNUM || h->phnum > MAX_PHNUM)
        return bad_elf(err, name, "too many program headers");
    if (h->phoff > size || (uint64_t)h->phnum * h->phentsize > size - h->phoff)
        return bad_elf(err, name, "program headers outside the file");
    return 0;
}

static void phdr_note(const struct ehdr_info *h, const char *p, int *is_note, struct note_seg *seg)
{
    if (h->is64) {
        Elf64_Phdr ph;
        memcpy(&ph, p, sizeof(ph));
        *is_note = ph.p_type == PT_NOTE;
        *seg = (struct note_seg){ph.p_offset, ph.p_filesz, ph.p_align};
    } else {
        Elf32_Phdr ph;
        memcpy(&ph, p, sizeof(ph));
        *is_note = ph.p_type == PT_NOTE;
        *seg = (struct note_seg){ph.p_offset, ph.p_filesz, ph.p_align};
    }
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Walk the notes of one segment. Name and descriptor are padded to the segment's
 * alignment (4, or 8 for segments such as .note.gnu.property), counted from the start
 * of each note as binutils does. A note running past the end stops the walk. */
static int scan_notes(const unsigned char *buf, uint64_t len, uint64_t seg_align, struct nvc_elf_abi_tag *tag)
{
    uint64_t a = seg_align == 8 ? 8 : 4;
    uint64_t off = 0;

    while (len - off >= NOTE_HEADER_SIZE) {
        uint32_t w[3];
        uint64_t desc, next;

        memcpy(w, buf + off, sizeof(w));
        desc = align_up(NOTE_HEADER_SIZE + (uint64_t)w[0], a);
        if (desc > len - off || w[1] > len - off - desc)
            return 0;
        if (w[0] == 4 && memcmp(buf + off + NOTE_HEADER_SIZE, "GNU", 4) == 0 && w[2] == NT_GNU_ABI_TAG &&
            w[1] >= ABI_TAG_DESC_SIZE) {
            uint32_t d[4];
            memcpy(d, buf + off + desc, sizeof(d));
            *tag = (struct nvc_elf_abi_tag){d[0], d[1], d[2], d[3]};
            return 1;
        }
        next = align_up(desc + w[1], a);
        if (next > len - off)
            return 0;
        off += next;
    }
    return 0;
}

static int scan_segment(int fd, uint64_t size, const struct note_seg *seg, const char *name,
                        struct nvc_elf_abi_tag *tag, struct nvc_error *err)
{
    unsigned char *buf;
    int r;

    if (seg->filesz == 0)
        return 0;
    if (seg->offset > size || seg->filesz > size - seg->offset)
        return bad_elf(err, name, "note segment outside the file");
    if (seg->filesz > MAX_NOTE_SEGMENT)
        return bad_elf(err, name, "note segment too large");
    buf = malloc((size_t)seg->filesz);
    if (buf == NULL)
        return nvc_error_sys(err, "elf", name, "cannot allocate a note buffer");
    r = read_at(fd, buf, (size_t)seg->filesz, seg->offset, name, err);
    if (r == 0)
        r = scan_notes(buf, seg->filesz, seg->align, tag);
    free(buf);
    return r;
}

int nvc_elf_read_abi_tag(int fd, const char *name, struct nvc_elf_abi_tag *tag, struct nvc_error *err)
{
    struct ehdr_info h = {0};
    struct stat st;
    char *phdrs;
    size_t phsize;
    int r = 0;

    if (name == NULL)
        name = "<fd>";
    if (fstat(fd, &st) < 0)
        return nvc_error_sys(err, "fstat", name, "cannot stat %s", name);
    if (!S_ISREG(st.st_mode))
        return bad_elf(err, name, "not a regular file");
    if (read_ehdr(fd, (uint64_t)st.st_size, name, &h, err) < 0)
        return -1;
    if (h.phnum == 0)
        return 0;
    phsize = (size_t)h.phnum * h.phentsize;
    phdrs = malloc(phsize);
    if (phdrs == NULL)
        return nvc_error_sys(err, "elf", name, "cannot allocate program headers");
    if (read_at(fd, phdrs, phsize, h.phoff, name, err) < 0) {
        free(phdrs);
        return -1;
    }
    for (uint32_t i = 0; i < h.phnum && r == 0; i++) {
        struct note_seg seg;
        int is_note;
        phdr_note(&h, phdrs + (size_t)i * h.phentsize, &is_note, &seg);
        if (is_note)
            r = scan_segment(fd, (uint64_t)st.st_size, &seg, name, tag, err);
    }
    free(phdrs);
    return r;
}

int nvc_elf_abi_tag_is(int fd, const char *name, uint32_t os, uint32_t major, uint32_t minor, uint32_t patch,
                       struct nvc_error *err)
{
    struct nvc_elf_abi_tag t;
    int r = nvc_elf_read_abi_tag(fd, name, &t, err);

    if (r <= 0)
        return r;
    return t.os == os && t.major == major && t.minor == minor && t.patch == patch;
}
