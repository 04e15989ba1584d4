#define _GNU_SOURCE
#include "ldcache.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

/* File layout (glibc's, all integers in the host's byte order):
 *
 *   optional libc5 prefix:  "ld.so-1.7.0" (11 bytes), pad to 12, u32 nlibs,
 *                           nlibs x 12-byte entries; the new header follows at the
 *                           next multiple of 8.
 *   new header (48 bytes):  "glibc-ld.so.cache" "1.1" (20 bytes), u32 nlibs,
 *                           u32 len_strings, u8 flags, 3 pad, u32 extension_offset,
 *                           3 x u32 unused
 *   nlibs x 24-byte entries: i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap
 *   string table, then optional extensions.
 *
 * key/value are offsets from the start of the new header. */

#define OLD_MAGIC       "ld.so-1.7.0"
#define OLD_MAGIC_LEN   11
#define OLD_HEADER_SIZE 16
#define OLD_NLIBS_OFF   12
#define OLD_ENTRY_SIZE  12

#define NEW_MAGIC       "glibc-ld.so.cache1.1"
#define NEW_MAGIC_LEN   20
#define NEW_HEADER_SIZE 48
#define NEW_NLIBS_OFF   20
#define NEW_STRLEN_OFF  24
#define NEW_FLAGS_OFF   28
#define NEW_EXT_OFF     32
#define NEW_ENTRY_SIZE  24
#define EXT_HEADER_SIZE 8 /* u32 magic, u32 count */

/* Low two bits of the header's flags byte: which byte order wrote the file. */
#define ENDIAN_MASK   3
#define ENDIAN_UNSET  0
#define ENDIAN_LITTLE 2
#define ENDIAN_BIG    3

static uint32_t get_u32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint64_t get_u64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static int invalid(struct nvc_error *err, const char *name, const char *what)
{
    return nvc_error_set(err, NVC_ERR_LDCACHE_INVALID, 0, "ldcache", name, "invalid ld.so cache %s: %s", name, what);
}

/* Where the new header starts, skipping a libc5 table in front of it. */
static int find_new_header(const char *d, size_t size, const char *name, size_t *hdr, struct nvc_error *err)
{
    uint32_t nold;
    size_t end;

    if (size < OLD_MAGIC_LEN || memcmp(d, OLD_MAGIC, OLD_MAGIC_LEN) != 0) {
        *hdr = 0;
        return 0;
    }
    if (size < OLD_HEADER_SIZE)
        return invalid(err, name, "truncated libc5 header");
    nold = get_u32(d + OLD_NLIBS_OFF);
    if (nold > (size - OLD_HEADER_SIZE) / OLD_ENTRY_SIZE)
        return invalid(err, name, "libc5 entry count exceeds the file");
    end = OLD_HEADER_SIZE + (size_t)nold * OLD_ENTRY_SIZE;
    end = (end + 7) & ~(size_t)7;
    if (end > size || size - end < NEW_HEADER_SIZE)
        return invalid(err, name, "libc5-only cache without the glibc (new format) part");
    *hdr = end;
    return 0;
}

static int native_endian_flag(void)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return ENDIAN_BIG;
#else
    return ENDIAN_LITTLE;
#endif
}

/* A string offset is usable when it lies in the file and a NUL follows inside it. */
static const char *string_at(const char *d, size_t size, size_t hdr, uint32_t off)
{
    size_t abs;

    if (off >= size - hdr)
        return NULL;
    abs = hdr + off;
    if (memchr(d + abs, '\0', size - abs) == NULL)
        return NULL;
    return d + abs;
}

static int parse_entries(const char *d, size_t size, size_t hdr, uint32_t n, const char *name,
                         struct nvc_ldcache_entry *out, struct nvc_error *err)
{
    const char *e = d + hdr + NEW_HEADER_SIZE;

    for (uint32_t i = 0; i < n; i++, e += NEW_ENTRY_SIZE) {
        out[i].flags = (int32_t)get_u32(e);
        out[i].key = string_at(d, size, hdr, get_u32(e + 4));
        out[i].value = string_at(d, size, hdr, get_u32(e + 8));
        out[i].osversion = get_u32(e + 12);
        out[i].hwcap = get_u64(e + 16);
        if (out[i].key == NULL || out[i].value == NULL) {
            char what[128];
            snprintf(what, sizeof(what), "entry %u has a string outside the file or not NUL-terminated", i);
            return invalid(err, name, what);
        }
    }
    return 0;
}

/* Validate data (size bytes, owned by the caller) and build the entry table. */
static int parse_owned(char *d, size_t size, const char *name, struct nvc_ldcache *out, struct nvc_error *err)
{
    struct nvc_ldcache_entry *entries = NULL;
    uint32_t n, len_strings, ext;
    size_t hdr = 0, table_end;
    int endian;

    if (size == 0)
        return invalid(err, name, "empty file");
    if (find_new_header(d, size, name, &hdr, err) < 0)
        return -1;
    if (size - hdr < NEW_HEADER_SIZE)
        return invalid(err, name, "truncated header");
    if (memcmp(d + hdr, NEW_MAGIC, NEW_MAGIC_LEN) != 0)
        return invalid(err, name, "unsupported file format (no glibc-ld.so.cache1.1 header)");
    endian = d[hdr + NEW_FLAGS_OFF] & ENDIAN_MASK;
    if (endian != ENDIAN_UNSET && endian != native_endian_flag())
        return invalid(err, name, "written for another byte order");

    n = get_u32(d + hdr + NEW_NLIBS_OFF);
    if (n > (size - hdr - NEW_HEADER_SIZE) / NEW_ENTRY_SIZE)
        return invalid(err, name, "entry count exceeds the file");
    table_end = hdr + NEW_HEADER_SIZE + (size_t)n * NEW_ENTRY_SIZE;
    len_strings = get_u32(d + hdr + NEW_STRLEN_OFF);
    if (len_strings > size - table_end)
        return invalid(err, name, "string table exceeds the file");
    ext = get_u32(d + hdr + NEW_EXT_OFF);
    if (ext != 0 && (ext > size || size - ext < EXT_HEADER_SIZE))
        return invalid(err, name, "extension offset outside the file");

    if (n > 0) {
        entries = calloc(n, sizeof(*entries));
        if (entries == NULL)
            return nvc_error_sys(err, "ldcache", name, "cannot allocate %u ld.so cache entries", n);
        if (parse_entries(d, size, hdr, n, name, entries, err) < 0) {
            free(entries);
            return -1;
        }
    }
    out->data = d;
    out->size = size;
    out->entries = entries;
    out->nentries = n;
    return 0;
}

int nvc_ldcache_parse(const void *data, size_t size, const char *name, struct nvc_ldcache *out, struct nvc_error *err)
{
    char *copy;

    memset(out, 0, sizeof(*out));
    if (name == NULL)
        name = "<memory>";
    if (data == NULL || size == 0)
        return invalid(err, name, "empty file");
    if (size > NVC_LDCACHE_MAX_SIZE)
        return invalid(err, name, "larger than 64 MiB");
    copy = malloc(size);
    if (copy == NULL)
        return nvc_error_sys(err, "ldcache", name, "cannot allocate %zu bytes for the ld.so cache", size);
    memcpy(copy, data, size);
    if (parse_owned(copy, size, name, out, err) < 0) {
        free(copy);
        return -1;
    }
    return 0;
}

/* Open the cache for reading, refusing anything but a regular file before opening it
 * for real: a FIFO or device planted in the root must not block or be woken. */
static int open_cache(int rootfd, const char *path, const char *shown, struct nvc_error *err)
{
    int fd = nvc_path_open_regular_in_root(rootfd, path, shown, err);

    if (fd == NVC_PATH_NOT_REGULAR)
        return invalid(err, shown, "not a regular file");
    if (fd < 0)
        nvc_error_wrap(err, "opening the ld.so cache %s", shown);
    return fd;
}

/* Read a whole regular file of at most NVC_LDCACHE_MAX_SIZE bytes. */
static int read_bounded(int fd, const char *shown, char **data, size_t *len, struct nvc_error *err)
{
    struct stat st;
    size_t want, got = 0;
    char *buf;

    if (fstat(fd, &st) < 0)
        return nvc_error_sys(err, "fstat", shown, "cannot stat the ld.so cache");
    if (!S_ISREG(st.st_mode))
        return invalid(err, shown, "not a regular file");
    if (st.st_size <= 0)
        return invalid(err, shown, "empty file");
    if ((uint64_t)st.st_size > NVC_LDCACHE_MAX_SIZE)
        return invalid(err, shown, "larger than 64 MiB");
    want = (size_t)st.st_size;
    buf = malloc(want);
    if (buf == NULL)
        return nvc_error_sys(err, "ldcache", shown, "cannot allocate %zu bytes for the ld.so cache", want);
    while (got < want) {
        ssize_t r = pread(fd, buf + got, want - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            errno = e;
            return nvc_error_sys(err, "read", shown, "cannot read the ld.so cache");
        }
        if (r == 0) /* shrank meanwhile: parse what is there, bounds are checked anyway */
            break;
        got += (size_t)r;
    }
    *data = buf;
    *len = got;
    return 0;
}

int nvc_ldcache_load(int rootfd, const char *root_host_path, const char *cache_path_in_root, struct nvc_ldcache *out,
                     struct nvc_error *err)
{
    char shown[PATH_MAX];
    char *data = NULL;
    size_t len = 0;
    int fd;

    memset(out, 0, sizeof(*out));
    if (nvc_path_join(shown, sizeof(shown), root_host_path ? root_host_path : "/", cache_path_in_root) < 0)
        return nvc_error_sys(err, "ldcache", cache_path_in_root, "ld.so cache path too long");
    fd = open_cache(rootfd, cache_path_in_root, shown, err);
    if (fd < 0)
        return -1;
    if (read_bounded(fd, shown, &data, &len, err) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    if (len == 0) {
        free(data);
        return invalid(err, shown, "empty file");
    }
    if (parse_owned(data, len, shown, out, err) < 0) {
        free(data);
        return -1;
    }
    return 0;
}

void nvc_ldcache_free(struct nvc_ldcache *cache)
{
    if (cache == NULL)
        return;
    free(cache->entries);
    free(cache->data);
    memset(cache, 0, sizeof(*cache));
}

int nvc_ldcache_arch(int want32)
{
#if defined(__x86_64__)
    return want32 ? 0x0000 : 0x0300; /* i386 / x86-64 */
#elif defined(__aarch64__)
    return want32 ? 0x0900 : 0x0a00; /* ARM hard-float / AArch64 */
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return want32 ? -1 : 0x0500;
#else
    (void)want32;
    return -1;
#endif
}

int nvc_ldcache_entry_usable(const struct nvc_ldcache_entry *e, int want32)
{
    int arch = nvc_ldcache_arch(want32);
    uint32_t f = (uint32_t)e->flags;

    if (arch < 0 || !(f & NVC_LDCACHE_FLAG_ELF))
        return 0;
    return (f & NVC_LDCACHE_ARCH_MASK) == (uint32_t)arch;
}
