#ifndef NVC_LDCACHE_H
#define NVC_LDCACHE_H

/* Our own reader of glibc's /etc/ld.so.cache: how the driver's libraries are found,
 * exactly where the dynamic loader of the driver root would find them. The file may
 * come from a hostile root, so every count, offset and string is checked against the
 * file's size before use. */

#include <stddef.h>
#include <stdint.h>

#include "nvc_error.h"

/* Refuse larger files: real caches are a few hundred KiB. */
#define NVC_LDCACHE_MAX_SIZE (64u << 20)

/* Entry flags: bit 0 = ELF library; bits 8-15 = architecture / ABI. */
#define NVC_LDCACHE_FLAG_ELF  0x0001
#define NVC_LDCACHE_ARCH_MASK 0xff00

struct nvc_ldcache_entry {
    int32_t flags;
    uint32_t osversion;
    uint64_t hwcap;
    const char *key;   /* soname, e.g. "libcuda.so.1"; points into the cache data */
    const char *value; /* path as the loader sees it, e.g. "/usr/lib/x86_64-linux-gnu/libcuda.so.1" */
};

struct nvc_ldcache {
    char *data; /* the whole file; keys and values point into it */
    size_t size;
    struct nvc_ldcache_entry *entries; /* in file order (the loader's preference order) */
    size_t nentries;
};

/* Parse a cache held in memory (copied; the caller keeps data). name is used in
 * messages only. Fails with NVC_ERR_LDCACHE_INVALID saying what is wrong. */
int nvc_ldcache_parse(const void *data, size_t size, const char *name, struct nvc_ldcache *out, struct nvc_error *err);

/* Read and parse the cache at cache_path_in_root, opened with the in-root resolver.
 * root_host_path is used in messages. A missing file fails with NVC_ERR_SYSTEM and
 * err->sys_errno == ENOENT. */
int nvc_ldcache_load(int rootfd, const char *root_host_path, const char *cache_path_in_root, struct nvc_ldcache *out,
                     struct nvc_error *err);

/* Frees what load/parse allocated and zeroes *cache (not the struct itself). */
void nvc_ldcache_free(struct nvc_ldcache *cache);

/* The (flags & NVC_LDCACHE_ARCH_MASK) value of this machine's 64-bit (want32 = 0) or
 * 32-bit (want32 = 1) libraries; -1 when there is no such ABI here. */
int nvc_ldcache_arch(int want32);

/* Whether an entry is an ELF library of the wanted word size for this machine. */
int nvc_ldcache_entry_usable(const struct nvc_ldcache_entry *e, int want32);

#endif
