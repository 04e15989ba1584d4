/* The ELF reader (GNU ABI tag note and DT_SONAME) over a file of hostile bytes. */
#include "../fuzz.h"

#include <sys/mman.h>

#include "elf_note.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    struct nvc_elf_abi_tag tag;
    struct nvc_error err;
    char soname[256];

    if (fd < 0 && (fd = memfd_create("elf", MFD_CLOEXEC)) < 0)
        abort();
    if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        abort();
    if (nvc_elf_read_abi_tag(fd, "fuzz", &tag, &err) < 0)
        fuzz_touch(err.msg);
    if (nvc_elf_read_soname(fd, "fuzz", soname, sizeof(soname), &err) < 0)
        fuzz_touch(err.msg);
    else
        fuzz_touch(soname);
    return 0;
}
