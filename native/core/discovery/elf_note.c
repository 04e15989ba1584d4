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
#define MAX_PHNUM        4096
#define MAX_NOTE_SEGMENT (1u << 20)
/* A library's dynamic section holds a few dozen entries (16 bytes each on 64-bit). */
#define MAX_DYNAMIC_SEGMENT (1u << 20)

#define NOTE_HEADER_SIZE  12 /* u32 namesz, descsz, type */
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
    return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENOEXEC, "elf", name, "%s is not a usable ELF file: %s", name,
                         what);
}

/* Read exactly len bytes at off. Every caller has checked the range against the size
 * fstat gave, so an end of file here means the library shrank while being read (or the
 * read went wrong): a system error on a file that exists, never "not an ELF file". */
static int read_at(int fd, void *buf, size_t len, uint64_t off, const char *name, struct nvc_error *err)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return nvc_error_sys(err, "read", name, "cannot read %s", name);
        if (r == 0) {
            errno = EIO;
            return nvc_error_sys(err, "read", name, "%s ended at byte %llu, before the size it had a moment ago", name,
                                 (unsigned long long)(off + got));
        }
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

/* The fields of either class of program header that matter here, widened. */
struct phdr_info {
    uint32_t type;
    uint64_t offset, vaddr, filesz, align;
};

static void phdr_get(const struct ehdr_info *h, const char *p, struct phdr_info *out)
{
    if (h->is64) {
        Elf64_Phdr ph;
        memcpy(&ph, p, sizeof(ph));
        *out = (struct phdr_info){ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_filesz, ph.p_align};
    } else {
        Elf32_Phdr ph;
        memcpy(&ph, p, sizeof(ph));
        *out = (struct phdr_info){ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_filesz, ph.p_align};
    }
}

static void phdr_note(const struct ehdr_info *h, const char *p, int *is_note, struct note_seg *seg)
{
    struct phdr_info ph;

    phdr_get(h, p, &ph);
    *is_note = ph.type == PT_NOTE;
    *seg = (struct note_seg){ph.offset, ph.filesz, ph.align};
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

/* Check that fd is a regular file holding a usable ELF header and read its program
 * headers. Returns 0 with *phdrs (malloc'd; NULL when phnum is 0), the header and the
 * file size filled, or -1. */
static int load_phdrs(int fd, const char *name, struct ehdr_info *h, uint64_t *size, char **phdrs,
                      struct nvc_error *err)
{
    struct stat st;
    size_t phsize;

    *phdrs = NULL;
    if (fstat(fd, &st) < 0)
        return nvc_error_sys(err, "fstat", name, "cannot stat %s", name);
    if (!S_ISREG(st.st_mode))
        return bad_elf(err, name, "not a regular file");
    *size = (uint64_t)st.st_size;
    if (read_ehdr(fd, *size, name, h, err) < 0)
        return -1;
    if (h->phnum == 0)
        return 0;
    phsize = (size_t)h->phnum * h->phentsize;
    *phdrs = malloc(phsize);
    if (*phdrs == NULL)
        return nvc_error_sys(err, "elf", name, "cannot allocate program headers");
    if (read_at(fd, *phdrs, phsize, h->phoff, name, err) < 0) {
        free(*phdrs);
        *phdrs = NULL;
        return -1;
    }
    return 0;
}

int nvc_elf_read_abi_tag(int fd, const char *name, struct nvc_elf_abi_tag *tag, struct nvc_error *err)
{
    struct ehdr_info h = {0};
    uint64_t size = 0;
    char *phdrs;
    int r = 0;

    if (name == NULL)
        name = "<fd>";
    if (load_phdrs(fd, name, &h, &size, &phdrs, err) < 0)
        return -1;
    for (uint32_t i = 0; i < h.phnum && r == 0; i++) {
        struct note_seg seg;
        int is_note;
        phdr_note(&h, phdrs + (size_t)i * h.phentsize, &is_note, &seg);
        if (is_note)
            r = scan_segment(fd, size, &seg, name, tag, err);
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

/* ---- DT_SONAME ---------------------------------------------------------------------- */

/* What the dynamic section says about the soname, widened. */
struct dyn_info {
    int has_soname, has_strtab, has_strsz;
    uint64_t soname, strtab, strsz; /* string table offset, virtual address, size */
};

/* Walk the entries up to DT_NULL (or the end of the segment; a partial last entry is
 * ignored). A tag given twice counts with its last value, as the loader and ldconfig
 * take it. */
static void scan_dynamic(const struct ehdr_info *h, const unsigned char *buf, uint64_t len, struct dyn_info *d)
{
    size_t esz = h->is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);

    for (uint64_t off = 0; len - off >= esz; off += esz) {
        int64_t tag;
        uint64_t val;

        if (h->is64) {
            Elf64_Dyn e;
            memcpy(&e, buf + off, sizeof(e));
            tag = e.d_tag;
            val = e.d_un.d_val;
        } else {
            Elf32_Dyn e;
            memcpy(&e, buf + off, sizeof(e));
            tag = e.d_tag;
            val = e.d_un.d_val;
        }
        if (tag == DT_NULL)
            break;
        if (tag == DT_SONAME)
            d->has_soname = 1, d->soname = val;
        else if (tag == DT_STRTAB)
            d->has_strtab = 1, d->strtab = val;
        else if (tag == DT_STRSZ)
            d->has_strsz = 1, d->strsz = val;
    }
}

static int read_dynamic(int fd, uint64_t size, const struct ehdr_info *h, const struct phdr_info *dyn, const char *name,
                        struct dyn_info *d, struct nvc_error *err)
{
    unsigned char *buf;
    int r;

    if (dyn->filesz == 0)
        return 0;
    if (dyn->offset > size || dyn->filesz > size - dyn->offset)
        return bad_elf(err, name, "dynamic segment outside the file");
    if (dyn->filesz > MAX_DYNAMIC_SEGMENT)
        return bad_elf(err, name, "dynamic segment too large");
    buf = malloc((size_t)dyn->filesz);
    if (buf == NULL)
        return nvc_error_sys(err, "elf", name, "cannot allocate a dynamic section buffer");
    r = read_at(fd, buf, (size_t)dyn->filesz, dyn->offset, name, err);
    if (r == 0)
        scan_dynamic(h, buf, dyn->filesz, d);
    free(buf);
    return r;
}

/* Read the string at file offset off, which must end (NUL included) before end. */
static int read_string(int fd, uint64_t off, uint64_t end, const char *name, char *out, size_t outsz,
                       struct nvc_error *err)
{
    uint64_t avail = end - off;
    size_t n = avail < outsz ? (size_t)avail : outsz;

    if (read_at(fd, out, n, off, name, err) < 0)
        return -1;
    if (memchr(out, '\0', n) != NULL)
        return 1;
    out[0] = '\0';
    if (avail > outsz)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, ENAMETOOLONG, "elf", name,
                             "the soname of %s is longer than %zu bytes", name, outsz - 1);
    return bad_elf(err, name, "soname not terminated within its segment");
}

int nvc_elf_read_soname(int fd, const char *name, char *out, size_t outsz, struct nvc_error *err)
{
    struct ehdr_info h = {0};
    struct dyn_info d = {0};
    struct phdr_info ph, dyn = {0}, load = {0};
    uint64_t size = 0, rel, str, end;
    int ndyn = 0, found_load = 0, r = 0;
    char *phdrs;

    if (name == NULL)
        name = "<fd>";
    if (out == NULL || outsz == 0)
        return nvc_error_set(err, NVC_ERR_INVALID_ARGUMENT, EINVAL, "elf", name, "no room for the soname of %s", name);
    out[0] = '\0';
    if (load_phdrs(fd, name, &h, &size, &phdrs, err) < 0)
        return -1;
    for (uint32_t i = 0; i < h.phnum; i++) {
        phdr_get(&h, phdrs + (size_t)i * h.phentsize, &ph);
        if (ph.type == PT_DYNAMIC && ndyn++ == 0)
            dyn = ph;
    }
    if (ndyn > 1) {
        free(phdrs);
        return bad_elf(err, name, "more than one dynamic segment");
    }
    if (ndyn == 1)
        r = read_dynamic(fd, size, &h, &dyn, name, &d, err);
    if (r < 0 || !d.has_soname) {
        free(phdrs);
        return r;
    }
    /* The loaded segment whose file-backed bytes hold the start of the string table. */
    for (uint32_t i = 0; i < h.phnum && !found_load; i++) {
        phdr_get(&h, phdrs + (size_t)i * h.phentsize, &ph);
        if (ph.type == PT_LOAD && d.strtab >= ph.vaddr && d.strtab - ph.vaddr < ph.filesz)
            load = ph, found_load = 1;
    }
    free(phdrs);
    if (!d.has_strtab)
        return bad_elf(err, name, "DT_SONAME without DT_STRTAB");
    if (!found_load)
        return bad_elf(err, name, "string table outside the loaded segments");
    if (load.offset > size || load.filesz > size - load.offset)
        return bad_elf(err, name, "loaded segment outside the file");
    rel = d.strtab - load.vaddr; /* < load.filesz */
    if (d.soname >= load.filesz - rel || (d.has_strsz && d.soname >= d.strsz))
        return bad_elf(err, name, "soname outside the string table");
    str = load.offset + rel + d.soname;
    end = load.offset + load.filesz;
    if (d.has_strsz && d.strsz < end - (load.offset + rel))
        end = load.offset + rel + d.strsz;
    return read_string(fd, str, end, name, out, outsz, err);
}
