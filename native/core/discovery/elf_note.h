#ifndef NVC_ELF_NOTE_H
#define NVC_ELF_NOTE_H

/* Reading the GNU ABI tag note and the DT_SONAME of an ELF file. The driver may ship
 * more than one libnvidia-tls; only the one tagged for Linux 2.3.99 (the TLS model
 * current glibc uses) may be handed to a container. The soname names the link the
 * container needs (libcuda.so.1 -> libcuda.so.580.159.04). Input files come from a
 * possibly hostile root: every header field is checked against the file size, reads
 * are bounded. Only files of this machine's byte order are understood (32- and 64-bit). */

#include <stddef.h>
#include <stdint.h>

#include "nvc_error.h"

#define NVC_ELF_ABI_OS_LINUX 0

/* The four words of an NT_GNU_ABI_TAG (owner "GNU", type 1) descriptor. */
struct nvc_elf_abi_tag {
    uint32_t os; /* 0 = Linux */
    uint32_t major, minor, patch;
};

/* Look through the PT_NOTE segments of the ELF file open as fd. Returns 1 and fills
 * *tag when an ABI tag is present, 0 when the file is a valid ELF without one, -1 with
 * err filled: NVC_ERR_INVALID_ARGUMENT (sys_errno ENOEXEC) when it is not a well-formed
 * ELF of this byte order, NVC_ERR_SYSTEM / NVC_ERR_NO_MEMORY with the errno when it could
 * not be read (EIO, a file that shrank while being read: EIO too). Callers may take the
 * first for "not a library", never the second. name only feeds messages. */
int nvc_elf_read_abi_tag(int fd, const char *name, struct nvc_elf_abi_tag *tag, struct nvc_error *err);

/* 1 when the file's ABI tag is exactly {os, major.minor.patch}, 0 when it differs or
 * there is none, -1 as nvc_elf_read_abi_tag. */
int nvc_elf_abi_tag_is(int fd, const char *name, uint32_t os, uint32_t major, uint32_t minor, uint32_t patch,
                       struct nvc_error *err);

/* The DT_SONAME of the ELF file open as fd: the dynamic segment's DT_STRTAB address is
 * mapped to a file offset through the PT_LOAD segment that holds it, and the string
 * must be NUL-terminated within the file-backed part of that segment (and within
 * DT_STRSZ when given). Returns 1 with the soname in out (the bytes as stored: callers
 * that use it as a file name check it), 0 with out = "" when the file is a valid ELF
 * without PT_DYNAMIC or DT_SONAME, -1 with err filled as nvc_elf_read_abi_tag (also
 * for a soname of outsz bytes or more: NVC_ERR_INVALID_ARGUMENT, sys_errno
 * ENAMETOOLONG). */
int nvc_elf_read_soname(int fd, const char *name, char *out, size_t outsz, struct nvc_error *err);

#endif
