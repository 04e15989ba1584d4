/*
 * mock_nvml.c: a stand-in for libnvidia-ml.so.1 that describes a simulated host.
 *
 * It defines the NVML subset declared in deps/nvml/nvc_nvml.h and nothing else
 * (every other symbol is static). The answers come from a text file, the spec,
 * read once by a constructor when the library is loaded: that is before the
 * loading process may chroot or drop privileges, so the spec never needs to be
 * visible from inside the chroot.
 *
 * Where the spec is
 *   `libnvidia-ml.spec` in the directory of the path the library was loaded by
 *   (as dladdr reports it); failing that, beside the library's real path. The
 *   environment variable NVC_MOCK_NVML_SPEC (read with secure_getenv) names a
 *   different file. NVC_MOCK_NVML_DEBUG=1 prints spec errors on stderr.
 *   A missing, unreadable or malformed spec never crashes the loader: every
 *   nvmlInit_v2 then fails with NVML_ERROR_UNKNOWN (999).
 *
 * Spec format (text, one directive per line)
 *   Blank lines and lines whose first non-blank character is '#' are ignored.
 *   A line is a keyword followed by arguments separated by blanks; numbers are
 *   C literals (decimal, 0x hex), unsigned unless said otherwise. Lines are at
 *   most 1023 characters.
 *
 *   mock-nvml 1                 required, the first directive: format version 1
 *   driver <version>            required, e.g. `driver 580.159.04`
 *   cuda <int>                  required, e.g. `cuda 13000` (CUDA 13.0)
 *
 *   gpu <index>                 starts the description of the next GPU; indices
 *                               must count up from 0 (at most 64 GPUs). The
 *                               directives below apply to the latest `gpu`.
 *   name <text...>              required; the rest of the line, e.g. `name Tesla T4`
 *   uuid <GPU-...>              required
 *   pci <domain> <bus> <device> [<pci device id> [<subsystem id>]]
 *                               required; function is always 0
 *   minor <n>                   required, the /dev/nvidia<n> minor
 *   brand <n>                   required, an nvmlBrandType_t value (2 Tesla, 14 NVIDIA...)
 *   cc <major> <minor>          required, CUDA compute capability
 *   persistence on|off|unsupported
 *                               GetPersistenceMode's answer (default on)
 *   mig unsupported             (default) GetMigMode answers NOT_SUPPORTED
 *   mig disabled [<max>]        MIG capable, mode 0; max MIG device count (default 7)
 *   mig enabled [<max>]         MIG capable, mode 1
 *   migdev <uuid> <gi> <ci> [<name...>]
 *                               a MIG device of an enabled GPU (at most 8 per GPU
 *                               and at most <max>); the name defaults to
 *                               "<gpu name> MIG <gi>.<ci>"
 *   migslot <n>                 the NVML MIG device index (slot) of the latest
 *                               migdev; by default its position among the GPU's
 *                               migdev lines. Slots are distinct and below <max>;
 *                               the slots no device holds are the gaps that
 *                               GetMigDeviceHandleByIndex answers NOT_FOUND for.
 *
 *   Names and UUIDs may be up to 255 characters: longer than the buffers NVML
 *   documents as sufficient (96), so that a caller passing those sizes meets
 *   NVML_ERROR_INSUFFICIENT_SIZE, as with a driver whose strings outgrew them.
 *
 *   fault <fn> crash [device <i>]        raise(SIGSEGV)
 *   fault <fn> abort [device <i>]        abort()
 *   fault <fn> hang [device <i>]         block forever (pause() in a loop)
 *   fault <fn> exit [<status>] [device <i>]  _exit(status), status defaults to 1
 *   fault <fn> error <code> [device <i>] return <code> (for nvmlErrorString: return NULL)
 *   fault <fn> fork [device <i>]         fork a child that sleeps forever (pause()), as a
 *                                        driver library starting a helper of its own would;
 *                                        the call itself then goes on as usual
 *   fault <fn> daemon [device <i>]       the same, the child in a session of its own (setsid)
 *   delay <fn> <ms>                      sleep <ms> milliseconds on every call of <fn>
 *     <fn> is one of the NVML function names below, or `@load` (fault only,
 *     kinds crash/abort/hang/exit): act in the constructor, i.e. during dlopen.
 *     `device <i>` restricts a fault to calls about GPU <i>: the index argument
 *     of nvmlDeviceGetHandleByIndex(_v2), or the handle of GPU <i> or of one of its
 *     MIG devices; such a fault never fires on calls that concern no device.
 *     The first matching fault wins. Delays act before faults, faults before
 *     any other check (so they fire even before nvmlInit_v2).
 *
 * Versioned symbols
 *   Like a real driver, the library exports the older variants beside the
 *   current ones: nvmlInit, nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex,
 *   nvmlDeviceGetPciInfo and nvmlDeviceGetPciInfo_v2. The first three answer as
 *   their _v2 (a simulated host has no GPU its caller may not open, which is
 *   where they differ). The two old PciInfo variants write only the 52-byte
 *   layout they were made for (see nvc_nvml.h) and leave the rest untouched.
 *   Faults and delays name each variant separately. A simulated host hides
 *   chosen symbols by renaming them in its copy of this library's dynamic
 *   symbol table (lib/testing/symbols.ts); no exported function calls another
 *   through the symbol table, so any of them can go.
 *
 * Behaviour of note
 *   nvmlInit_v2/nvmlShutdown are reference counted like the real library; every
 *   other call before init (or after the last shutdown) answers UNINITIALIZED.
 *   NULL pointers and unknown handles answer INVALID_ARGUMENT, buffers shorter
 *   than the answer plus its NUL answer INSUFFICIENT_SIZE.
 *   MIG device handles are distinct from GPU handles. On a MIG handle: GetUUID,
 *   GetName, GetGpuInstanceId and GetComputeInstanceId answer for the MIG
 *   device; GetPciInfo_v3, GetBrand, GetPersistenceMode and GetCudaComputeCapability answer the
 *   parent's values; GetMinorNumber, GetMigMode, GetMaxMigDeviceCount and
 *   GetMigDeviceHandleByIndex answer NOT_SUPPORTED. On a GPU handle the instance
 *   id calls answer NOT_SUPPORTED.
 *   GetMigMode answers NOT_SUPPORTED on a GPU without MIG, GetMaxMigDeviceCount
 *   answers 0 for a GPU whose MIG mode is not enabled, and
 *   GetMigDeviceHandleByIndex answers NOT_SUPPORTED without MIG and NOT_FOUND for
 *   every index that no MIG device occupies (also when MIG is disabled).
 *
 * Build: gcc -std=gnu11 -shared -fPIC -Ideps/nvml -Wl,-soname,libnvidia-ml.so.1
 *        -o libnvidia-ml.so.1 native/mock-nvml/mock_nvml.c  (add -ldl on glibc < 2.34)
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvc_nvml.h"

#define EXPORT __attribute__((visibility("default")))

#define SPEC_NAME       "libnvidia-ml.spec"
#define MAX_GPUS        64
#define MAX_MIG         8
#define MAX_FAULTS      64
#define MAX_DELAYS      64
#define LINE_MAX_LEN    1024
#define DEFAULT_MAX_MIG 7
/* Room for names and UUIDs beyond NVML's documented 96 bytes (see the spec format). */
#define TEXT_MAX 256

/* Declare every exported function through the function types of nvc_nvml.h, so
 * that a definition disagreeing with the consumer's view fails to compile. */
#define DECLARE_AS(fn, type) extern __typeof__(*(type)0) fn EXPORT
DECLARE_AS(nvmlInit_v2, nvc_nvml_init_fn);
DECLARE_AS(nvmlInit, nvc_nvml_init_fn);
DECLARE_AS(nvmlShutdown, nvc_nvml_shutdown_fn);
DECLARE_AS(nvmlErrorString, nvc_nvml_error_string_fn);
DECLARE_AS(nvmlSystemGetDriverVersion, nvc_nvml_driver_version_fn);
DECLARE_AS(nvmlSystemGetCudaDriverVersion, nvc_nvml_cuda_version_fn);
DECLARE_AS(nvmlDeviceGetCount_v2, nvc_nvml_count_fn);
DECLARE_AS(nvmlDeviceGetCount, nvc_nvml_count_fn);
DECLARE_AS(nvmlDeviceGetHandleByIndex_v2, nvc_nvml_handle_fn);
DECLARE_AS(nvmlDeviceGetHandleByIndex, nvc_nvml_handle_fn);
DECLARE_AS(nvmlDeviceGetName, nvc_nvml_string_fn);
DECLARE_AS(nvmlDeviceGetUUID, nvc_nvml_string_fn);
DECLARE_AS(nvmlDeviceGetPciInfo_v3, nvc_nvml_pci_fn);
DECLARE_AS(nvmlDeviceGetPciInfo_v2, nvc_nvml_pci_fn);
DECLARE_AS(nvmlDeviceGetPciInfo, nvc_nvml_pci_fn);
DECLARE_AS(nvmlDeviceGetCudaComputeCapability, nvc_nvml_int_pair_fn);
DECLARE_AS(nvmlDeviceGetBrand, nvc_nvml_uint_fn);
DECLARE_AS(nvmlDeviceGetMinorNumber, nvc_nvml_uint_fn);
DECLARE_AS(nvmlDeviceGetPersistenceMode, nvc_nvml_uint_fn);
DECLARE_AS(nvmlDeviceGetMigMode, nvc_nvml_uint_pair_fn);
DECLARE_AS(nvmlDeviceGetMaxMigDeviceCount, nvc_nvml_uint_fn);
DECLARE_AS(nvmlDeviceGetMigDeviceHandleByIndex, nvc_nvml_child_fn);
DECLARE_AS(nvmlDeviceGetGpuInstanceId, nvc_nvml_uint_fn);
DECLARE_AS(nvmlDeviceGetComputeInstanceId, nvc_nvml_uint_fn);

/* The functions a fault or delay may name, in one table; F_LOAD is the constructor. */
enum fn_id {
    F_LOAD,
    F_INIT,
    F_SHUTDOWN,
    F_ERROR_STRING,
    F_DRIVER_VERSION,
    F_CUDA_VERSION,
    F_COUNT,
    F_HANDLE_BY_INDEX,
    F_NAME,
    F_UUID,
    F_PCI_INFO,
    F_COMPUTE_CAPABILITY,
    F_BRAND,
    F_MINOR,
    F_MIG_MODE,
    F_MAX_MIG_COUNT,
    F_MIG_HANDLE_BY_INDEX,
    F_GPU_INSTANCE_ID,
    F_COMPUTE_INSTANCE_ID,
    F_INIT_V1,
    F_COUNT_V1,
    F_HANDLE_BY_INDEX_V1,
    F_PCI_INFO_V2,
    F_PCI_INFO_V1,
    F_PERSISTENCE_MODE,
    F_COUNT_OF_FNS
};

static const char *const fn_names[F_COUNT_OF_FNS] = {
    [F_LOAD] = "@load",
    [F_INIT] = "nvmlInit_v2",
    [F_SHUTDOWN] = "nvmlShutdown",
    [F_ERROR_STRING] = "nvmlErrorString",
    [F_DRIVER_VERSION] = "nvmlSystemGetDriverVersion",
    [F_CUDA_VERSION] = "nvmlSystemGetCudaDriverVersion",
    [F_COUNT] = "nvmlDeviceGetCount_v2",
    [F_HANDLE_BY_INDEX] = "nvmlDeviceGetHandleByIndex_v2",
    [F_NAME] = "nvmlDeviceGetName",
    [F_UUID] = "nvmlDeviceGetUUID",
    [F_PCI_INFO] = "nvmlDeviceGetPciInfo_v3",
    [F_COMPUTE_CAPABILITY] = "nvmlDeviceGetCudaComputeCapability",
    [F_BRAND] = "nvmlDeviceGetBrand",
    [F_MINOR] = "nvmlDeviceGetMinorNumber",
    [F_MIG_MODE] = "nvmlDeviceGetMigMode",
    [F_MAX_MIG_COUNT] = "nvmlDeviceGetMaxMigDeviceCount",
    [F_MIG_HANDLE_BY_INDEX] = "nvmlDeviceGetMigDeviceHandleByIndex",
    [F_GPU_INSTANCE_ID] = "nvmlDeviceGetGpuInstanceId",
    [F_COMPUTE_INSTANCE_ID] = "nvmlDeviceGetComputeInstanceId",
    [F_INIT_V1] = "nvmlInit",
    [F_COUNT_V1] = "nvmlDeviceGetCount",
    [F_HANDLE_BY_INDEX_V1] = "nvmlDeviceGetHandleByIndex",
    [F_PCI_INFO_V2] = "nvmlDeviceGetPciInfo_v2",
    [F_PCI_INFO_V1] = "nvmlDeviceGetPciInfo",
    [F_PERSISTENCE_MODE] = "nvmlDeviceGetPersistenceMode",
};

enum fault_kind { FAULT_CRASH, FAULT_ABORT, FAULT_HANG, FAULT_EXIT, FAULT_ERROR, FAULT_FORK, FAULT_DAEMON };
enum mig_state { MIG_UNSUPPORTED, MIG_DISABLED, MIG_ENABLED };
enum persistence_state { PERSISTENCE_ON, PERSISTENCE_OFF, PERSISTENCE_UNSUPPORTED };

struct fault {
    enum fn_id fn;
    enum fault_kind kind;
    int code;   /* the NVML return for FAULT_ERROR, the exit status for FAULT_EXIT */
    int device; /* GPU index, or -1 for any call */
};

struct delay {
    enum fn_id fn;
    unsigned int ms;
};

struct gpu;

/* Handles are pointers to these records; the tag tells the two kinds apart. */
enum handle_tag { TAG_GPU = 0x47505521, TAG_MIG = 0x4d494721 };

struct mig {
    enum handle_tag tag;
    struct gpu *parent;
    char uuid[TEXT_MAX];
    char name[TEXT_MAX];
    unsigned int gi;
    unsigned int ci;
    unsigned int slot; /* GetMigDeviceHandleByIndex's index */
};

struct gpu {
    enum handle_tag tag;
    unsigned int index;
    bool have_name, have_uuid, have_pci, have_minor, have_brand, have_cc;
    char name[TEXT_MAX];
    char uuid[TEXT_MAX];
    unsigned int domain, bus, device, pci_device_id, pci_subsystem_id;
    unsigned int minor;
    unsigned int brand;
    int cc_major, cc_minor;
    enum persistence_state persistence;
    enum mig_state mig;
    unsigned int max_mig;
    unsigned int nmig;
    struct mig migs[MAX_MIG];
};

static struct {
    bool valid; /* the spec was read and is well formed */
    char driver[NVC_NVML_DRIVER_VERSION_BUFFER];
    int cuda;
    unsigned int ngpus;
    struct gpu gpus[MAX_GPUS];
    unsigned int nfaults;
    struct fault faults[MAX_FAULTS];
    unsigned int ndelays;
    struct delay delays[MAX_DELAYS];
} host;

static atomic_int init_count;
static bool debug;

/* ---------- spec reading ---------- */

struct parser {
    const char *path;
    unsigned int line;
    bool have_magic, have_driver, have_cuda;
};

__attribute__((format(printf, 2, 3))) static int spec_error(const struct parser *p, const char *fmt, ...)
{
    if (debug) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "mock-nvml: %s:%u: ", p->path, p->line);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    return -1;
}

static int parse_uint(const char *s, unsigned int *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtoul(s, &end, 0);
    if (errno != 0 || *end != '\0' || v > UINT_MAX)
        return -1;
    *out = (unsigned int)v;
    return 0;
}

static int parse_int(const char *s, int *out)
{
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, 0);
    if (errno != 0 || *end != '\0' || v < INT_MIN || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int copy_text(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);

    if (len == 0 || len >= size)
        return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

static int lookup_fn(const char *name, enum fn_id *out)
{
    for (int i = 0; i < F_COUNT_OF_FNS; ++i) {
        if (strcmp(fn_names[i], name) == 0) {
            *out = (enum fn_id)i;
            return 0;
        }
    }
    return -1;
}

/* Splits at blanks; returns the number of tokens, or -1 when there are too many. */
static int tokenize(char *s, char **tok, int max)
{
    int n = 0;

    for (;;) {
        while (*s == ' ' || *s == '\t')
            ++s;
        if (*s == '\0')
            return n;
        if (n == max)
            return -1;
        tok[n++] = s;
        while (*s != '\0' && *s != ' ' && *s != '\t')
            ++s;
        if (*s != '\0')
            *s++ = '\0';
    }
}

static int parse_fault(struct parser *p, char **tok, int ntok)
{
    struct fault f = {.code = 0, .device = -1};
    int i = 3;

    if (ntok < 3)
        return spec_error(p, "fault needs a function and a kind");
    if (host.nfaults == MAX_FAULTS)
        return spec_error(p, "too many faults");
    if (lookup_fn(tok[1], &f.fn) < 0)
        return spec_error(p, "unknown function '%s'", tok[1]);

    if (strcmp(tok[2], "crash") == 0) {
        f.kind = FAULT_CRASH;
    } else if (strcmp(tok[2], "abort") == 0) {
        f.kind = FAULT_ABORT;
    } else if (strcmp(tok[2], "hang") == 0) {
        f.kind = FAULT_HANG;
    } else if (strcmp(tok[2], "exit") == 0) {
        f.kind = FAULT_EXIT;
        f.code = 1;
        if (i < ntok && strcmp(tok[i], "device") != 0) {
            if (parse_int(tok[i], &f.code) < 0 || f.code < 0 || f.code > 255)
                return spec_error(p, "bad exit status '%s'", tok[i]);
            ++i;
        }
    } else if (strcmp(tok[2], "fork") == 0) {
        f.kind = FAULT_FORK;
    } else if (strcmp(tok[2], "daemon") == 0) {
        f.kind = FAULT_DAEMON;
    } else if (strcmp(tok[2], "error") == 0) {
        f.kind = FAULT_ERROR;
        if (i >= ntok || parse_int(tok[i], &f.code) < 0 || f.code == NVC_NVML_SUCCESS)
            return spec_error(p, "fault kind 'error' needs a non-zero NVML return code");
        if (f.fn == F_LOAD)
            return spec_error(p, "@load faults cannot return an error");
        ++i;
    } else {
        return spec_error(p, "unknown fault kind '%s'", tok[2]);
    }

    if (i < ntok) {
        unsigned int dev;
        if (strcmp(tok[i], "device") != 0 || i + 2 != ntok || parse_uint(tok[i + 1], &dev) < 0 || dev >= MAX_GPUS)
            return spec_error(p, "expected 'device <index>' at the end of the fault");
        f.device = (int)dev;
    }
    host.faults[host.nfaults++] = f;
    return 0;
}

static int parse_line(struct parser *p, char *line)
{
    char *tok[16];
    char *rest;
    int ntok;
    struct gpu *g = host.ngpus > 0 ? &host.gpus[host.ngpus - 1] : NULL;
    unsigned int u;

    /* `name` keeps the rest of the line, blanks included. */
    while (*line == ' ' || *line == '\t')
        ++line;
    if (*line == '\0' || *line == '#')
        return 0;
    if (strncmp(line, "name", 4) == 0 && (line[4] == ' ' || line[4] == '\t')) {
        rest = line + 4;
        while (*rest == ' ' || *rest == '\t')
            ++rest;
        for (size_t n = strlen(rest); n > 0 && (rest[n - 1] == ' ' || rest[n - 1] == '\t'); --n)
            rest[n - 1] = '\0';
        if (!p->have_magic)
            return spec_error(p, "the first directive must be 'mock-nvml 1'");
        if (g == NULL)
            return spec_error(p, "'name' outside a gpu");
        if (copy_text(g->name, sizeof(g->name), rest) < 0)
            return spec_error(p, "bad GPU name");
        g->have_name = true;
        return 0;
    }

    ntok = tokenize(line, tok, (int)(sizeof(tok) / sizeof(tok[0])));
    if (ntok < 0)
        return spec_error(p, "too many fields");

    if (!p->have_magic) {
        if (ntok != 2 || strcmp(tok[0], "mock-nvml") != 0 || strcmp(tok[1], "1") != 0)
            return spec_error(p, "the first directive must be 'mock-nvml 1'");
        p->have_magic = true;
        return 0;
    }

    if (strcmp(tok[0], "driver") == 0) {
        if (ntok != 2 || copy_text(host.driver, sizeof(host.driver), tok[1]) < 0)
            return spec_error(p, "usage: driver <version>");
        p->have_driver = true;
    } else if (strcmp(tok[0], "cuda") == 0) {
        if (ntok != 2 || parse_int(tok[1], &host.cuda) < 0)
            return spec_error(p, "usage: cuda <int>");
        p->have_cuda = true;
    } else if (strcmp(tok[0], "gpu") == 0) {
        if (ntok != 2 || parse_uint(tok[1], &u) < 0 || u != host.ngpus)
            return spec_error(p, "usage: gpu <index>, indices counting up from 0");
        if (host.ngpus == MAX_GPUS)
            return spec_error(p, "too many GPUs");
        g = &host.gpus[host.ngpus++];
        memset(g, 0, sizeof(*g));
        g->tag = TAG_GPU;
        g->index = u;
        g->mig = MIG_UNSUPPORTED;
    } else if (strcmp(tok[0], "fault") == 0) {
        return parse_fault(p, tok, ntok);
    } else if (strcmp(tok[0], "delay") == 0) {
        struct delay d;
        if (ntok != 3 || lookup_fn(tok[1], &d.fn) < 0 || d.fn == F_LOAD || parse_uint(tok[2], &d.ms) < 0)
            return spec_error(p, "usage: delay <function> <ms>");
        if (host.ndelays == MAX_DELAYS)
            return spec_error(p, "too many delays");
        host.delays[host.ndelays++] = d;
    } else if (g == NULL) {
        return spec_error(p, "unknown directive '%s' (or GPU directive before 'gpu')", tok[0]);
    } else if (strcmp(tok[0], "uuid") == 0) {
        if (ntok != 2 || copy_text(g->uuid, sizeof(g->uuid), tok[1]) < 0)
            return spec_error(p, "usage: uuid <uuid>");
        g->have_uuid = true;
    } else if (strcmp(tok[0], "pci") == 0) {
        if (ntok < 4 || ntok > 6 || parse_uint(tok[1], &g->domain) < 0 || parse_uint(tok[2], &g->bus) < 0 ||
            parse_uint(tok[3], &g->device) < 0 || g->bus > 0xff || g->device > 0x1f ||
            (ntok > 4 && parse_uint(tok[4], &g->pci_device_id) < 0) ||
            (ntok > 5 && parse_uint(tok[5], &g->pci_subsystem_id) < 0))
            return spec_error(p, "usage: pci <domain> <bus> <device> [<device id> [<subsystem id>]]");
        g->have_pci = true;
    } else if (strcmp(tok[0], "minor") == 0) {
        if (ntok != 2 || parse_uint(tok[1], &g->minor) < 0)
            return spec_error(p, "usage: minor <n>");
        g->have_minor = true;
    } else if (strcmp(tok[0], "brand") == 0) {
        if (ntok != 2 || parse_uint(tok[1], &g->brand) < 0)
            return spec_error(p, "usage: brand <n>");
        g->have_brand = true;
    } else if (strcmp(tok[0], "cc") == 0) {
        if (ntok != 3 || parse_int(tok[1], &g->cc_major) < 0 || parse_int(tok[2], &g->cc_minor) < 0)
            return spec_error(p, "usage: cc <major> <minor>");
        g->have_cc = true;
    } else if (strcmp(tok[0], "persistence") == 0) {
        if (ntok == 2 && strcmp(tok[1], "on") == 0)
            g->persistence = PERSISTENCE_ON;
        else if (ntok == 2 && strcmp(tok[1], "off") == 0)
            g->persistence = PERSISTENCE_OFF;
        else if (ntok == 2 && strcmp(tok[1], "unsupported") == 0)
            g->persistence = PERSISTENCE_UNSUPPORTED;
        else
            return spec_error(p, "usage: persistence on|off|unsupported");
    } else if (strcmp(tok[0], "mig") == 0) {
        if (ntok == 2 && strcmp(tok[1], "unsupported") == 0) {
            g->mig = MIG_UNSUPPORTED;
            g->max_mig = 0;
        } else if ((ntok == 2 || ntok == 3) && (strcmp(tok[1], "disabled") == 0 || strcmp(tok[1], "enabled") == 0)) {
            g->mig = strcmp(tok[1], "enabled") == 0 ? MIG_ENABLED : MIG_DISABLED;
            g->max_mig = DEFAULT_MAX_MIG;
            if (ntok == 3 && (parse_uint(tok[2], &g->max_mig) < 0 || g->max_mig > MAX_MIG))
                return spec_error(p, "MIG device count must be at most %d", MAX_MIG);
        } else {
            return spec_error(p, "usage: mig unsupported | mig disabled [<max>] | mig enabled [<max>]");
        }
        if (g->nmig > g->max_mig || (g->nmig > 0 && g->mig != MIG_ENABLED))
            return spec_error(p, "MIG mode conflicts with the MIG devices already listed");
    } else if (strcmp(tok[0], "migdev") == 0) {
        struct mig *m;
        if (g->mig != MIG_ENABLED)
            return spec_error(p, "'migdev' needs 'mig enabled' first");
        if (g->nmig == g->max_mig)
            return spec_error(p, "more MIG devices than the GPU's maximum (%u)", g->max_mig);
        if (ntok < 4)
            return spec_error(p, "usage: migdev <uuid> <gi> <ci> [<name...>]");
        m = &g->migs[g->nmig];
        memset(m, 0, sizeof(*m));
        m->tag = TAG_MIG;
        m->parent = g;
        m->slot = g->nmig;
        if (copy_text(m->uuid, sizeof(m->uuid), tok[1]) < 0 || parse_uint(tok[2], &m->gi) < 0 ||
            parse_uint(tok[3], &m->ci) < 0)
            return spec_error(p, "usage: migdev <uuid> <gi> <ci> [<name...>]");
        if (ntok > 4) {
            /* The tokenizer cut the name at blanks; glue the words back with single spaces. */
            size_t len = 0;
            for (int i = 4; i < ntok; ++i) {
                size_t n = strlen(tok[i]);
                if (len + n + 2 > sizeof(m->name))
                    return spec_error(p, "MIG device name too long");
                if (len > 0)
                    m->name[len++] = ' ';
                memcpy(m->name + len, tok[i], n);
                len += n;
                m->name[len] = '\0';
            }
        } else {
            m->name[0] = '\0'; /* filled in once the GPU's name is known */
        }
        g->nmig++;
    } else if (strcmp(tok[0], "migslot") == 0) {
        if (g->nmig == 0)
            return spec_error(p, "'migslot' needs a 'migdev' first");
        if (ntok != 2 || parse_uint(tok[1], &g->migs[g->nmig - 1].slot) < 0)
            return spec_error(p, "usage: migslot <n>");
    } else {
        return spec_error(p, "unknown directive '%s'", tok[0]);
    }
    return 0;
}

static int check_gpu(struct parser *p, const struct gpu *g)
{
    if (!g->have_name || !g->have_uuid || !g->have_pci || !g->have_minor || !g->have_brand || !g->have_cc)
        return spec_error(p, "gpu %u lacks one of name, uuid, pci, minor, brand, cc", g->index);
    for (unsigned int i = 0; i < host.ngpus; ++i) {
        const struct gpu *o = &host.gpus[i];
        if (o != g && o->minor == g->minor)
            return spec_error(p, "gpus %u and %u share minor %u", o->index, g->index, g->minor);
    }
    for (unsigned int i = 0; i < g->nmig; ++i) {
        if (g->migs[i].slot >= g->max_mig)
            return spec_error(p, "gpu %u: MIG slot %u is not below the maximum (%u)", g->index, g->migs[i].slot,
                              g->max_mig);
        for (unsigned int j = 0; j < i; ++j) {
            if (g->migs[j].slot == g->migs[i].slot)
                return spec_error(p, "gpu %u: two MIG devices in slot %u", g->index, g->migs[i].slot);
        }
    }
    return 0;
}

static int read_spec(const char *path)
{
    struct parser p = {.path = path, .line = 0};
    char buf[LINE_MAX_LEN];
    FILE *f;
    int rv = 0;

    f = fopen(path, "re");
    if (f == NULL) {
        p.line = 0;
        return spec_error(&p, "cannot open: %s", strerror(errno));
    }
    while (fgets(buf, sizeof(buf), f) != NULL) {
        size_t len = strlen(buf);
        ++p.line;
        if (len > 0 && buf[len - 1] == '\n') {
            buf[--len] = '\0';
        } else if (!feof(f)) {
            rv = spec_error(&p, "line too long");
            break;
        }
        if (len > 0 && buf[len - 1] == '\r')
            buf[--len] = '\0';
        if (memchr(buf, '\0', len) != NULL) {
            rv = spec_error(&p, "NUL byte in line");
            break;
        }
        if (parse_line(&p, buf) < 0) {
            rv = -1;
            break;
        }
    }
    if (rv == 0 && ferror(f))
        rv = spec_error(&p, "read error");
    fclose(f);
    if (rv < 0)
        return -1;

    ++p.line;
    if (!p.have_magic || !p.have_driver || !p.have_cuda)
        return spec_error(&p, "missing 'mock-nvml 1', 'driver' or 'cuda'");
    for (unsigned int i = 0; i < host.ngpus; ++i) {
        struct gpu *g = &host.gpus[i];
        if (check_gpu(&p, g) < 0)
            return -1;
        for (unsigned int j = 0; j < g->nmig; ++j) {
            struct mig *m = &g->migs[j];
            char name[sizeof(m->name)];
            if (m->name[0] != '\0')
                continue;
            snprintf(name, sizeof(name), "%.200s MIG %u.%u", g->name, m->gi, m->ci);
            memcpy(m->name, name, sizeof(name));
        }
    }
    return 0;
}

/* Candidate spec paths: beside the path we were loaded by, then beside our real path. */
static int spec_path_candidates(char out[2][PATH_MAX])
{
    Dl_info info;
    char real[PATH_MAX];
    int n = 0;

    if (dladdr(&host, &info) == 0 || info.dli_fname == NULL)
        return 0;
    for (int pass = 0; pass < 2; ++pass) {
        const char *lib = info.dli_fname;
        const char *slash;
        int len;

        if (pass == 1) {
            if (realpath(info.dli_fname, real) == NULL)
                break;
            lib = real;
        }
        slash = strrchr(lib, '/');
        if (slash == NULL)
            len = snprintf(out[n], PATH_MAX, "%s", SPEC_NAME);
        else
            len = snprintf(out[n], PATH_MAX, "%.*s/%s", (int)(slash - lib), lib, SPEC_NAME);
        if (len < 0 || len >= PATH_MAX)
            continue;
        if (n == 1 && strcmp(out[0], out[1]) == 0)
            continue;
        ++n;
    }
    return n;
}

static void act(const struct fault *f);

__attribute__((constructor)) static void mock_nvml_load(void)
{
    const char *env = secure_getenv("NVC_MOCK_NVML_DEBUG");
    char paths[2][PATH_MAX];
    int n;

    debug = env != NULL && *env != '\0' && strcmp(env, "0") != 0;
    env = secure_getenv("NVC_MOCK_NVML_SPEC");
    if (env != NULL && *env != '\0') {
        host.valid = read_spec(env) == 0;
    } else {
        n = spec_path_candidates(paths);
        for (int i = 0; i < n && !host.valid; ++i) {
            if (i > 0 && access(paths[i], F_OK) != 0)
                continue;
            memset(&host, 0, sizeof(host));
            host.valid = read_spec(paths[i]) == 0;
        }
    }
    if (!host.valid) {
        memset(&host, 0, sizeof(host));
        return;
    }
    for (unsigned int i = 0; i < host.nfaults; ++i) {
        if (host.faults[i].fn == F_LOAD)
            act(&host.faults[i]);
    }
}

/* ---------- faults, delays, handles ---------- */

static void sleep_ms(unsigned int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void act(const struct fault *f)
{
    switch (f->kind) {
    case FAULT_CRASH:
        raise(SIGSEGV);
        /* A handler or an ignore disposition may have let us through. */
        signal(SIGSEGV, SIG_DFL);
        raise(SIGSEGV);
        abort();
    case FAULT_ABORT: abort();
    case FAULT_HANG:
        for (;;)
            pause();
    case FAULT_EXIT: _exit(f->code);
    case FAULT_ERROR: break;
    case FAULT_FORK:
    case FAULT_DAEMON:
        if (fork() == 0) {
            if (f->kind == FAULT_DAEMON)
                setsid();
            for (;;)
                pause();
        }
        break;
    }
}

/*
 * Runs the delays and faults of `fn`; `device` is the GPU index the call is
 * about, or -1. Returns the NVML code of an error fault, or NVC_NVML_SUCCESS.
 */
static nvc_nvml_return hooks(enum fn_id fn, int device)
{
    for (unsigned int i = 0; i < host.ndelays; ++i) {
        if (host.delays[i].fn == fn)
            sleep_ms(host.delays[i].ms);
    }
    for (unsigned int i = 0; i < host.nfaults; ++i) {
        const struct fault *f = &host.faults[i];
        if (f->fn != fn || (f->device >= 0 && f->device != device))
            continue;
        act(f);
        return f->code;
    }
    return NVC_NVML_SUCCESS;
}

static bool initialized(void)
{
    return atomic_load(&init_count) > 0;
}

/* Maps an opaque handle back to our records without dereferencing foreign pointers. */
static struct gpu *as_gpu(nvc_nvml_device h)
{
    uintptr_t p = (uintptr_t)(void *)h;
    uintptr_t lo = (uintptr_t)&host.gpus[0];
    uintptr_t hi = (uintptr_t)&host.gpus[host.ngpus];

    if (p < lo || p >= hi || (p - lo) % sizeof(struct gpu) != 0)
        return NULL;
    return (struct gpu *)(void *)h;
}

static struct mig *as_mig(nvc_nvml_device h)
{
    for (unsigned int i = 0; i < host.ngpus; ++i) {
        struct gpu *g = &host.gpus[i];
        for (unsigned int j = 0; j < g->nmig; ++j) {
            if ((void *)&g->migs[j] == (void *)h)
                return &g->migs[j];
        }
    }
    return NULL;
}

/* The GPU index a handle concerns (the parent's for a MIG handle), or -1. */
static int device_of(nvc_nvml_device h)
{
    struct gpu *g = as_gpu(h);
    struct mig *m;

    if (g != NULL)
        return (int)g->index;
    m = as_mig(h);
    return m != NULL ? (int)m->parent->index : -1;
}

/* Common prologue: delays/faults, then the init check. */
#define PROLOGUE(fn, device)                                                                                           \
    do {                                                                                                               \
        nvc_nvml_return r_ = hooks((fn), (device));                                                                    \
        if (r_ != NVC_NVML_SUCCESS)                                                                                    \
            return r_;                                                                                                 \
        if (!initialized())                                                                                            \
            return NVC_NVML_ERROR_UNINITIALIZED;                                                                       \
    } while (0)

static nvc_nvml_return put_string(char *buf, unsigned int length, const char *value)
{
    size_t len = strlen(value);

    if (buf == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if (length < len + 1)
        return NVC_NVML_ERROR_INSUFFICIENT_SIZE;
    memcpy(buf, value, len + 1);
    return NVC_NVML_SUCCESS;
}

/* ---------- the NVML API ---------- */

/* The versioned variants share one body each, never calling one another through
 * the symbol table, so that hiding one symbol cannot break the library's loading. */
static nvc_nvml_return init_as(enum fn_id fn)
{
    nvc_nvml_return r = hooks(fn, -1);

    if (r != NVC_NVML_SUCCESS)
        return r;
    if (!host.valid)
        return NVC_NVML_ERROR_UNKNOWN;
    atomic_fetch_add(&init_count, 1);
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlInit_v2(void)
{
    return init_as(F_INIT);
}

nvc_nvml_return nvmlInit(void)
{
    return init_as(F_INIT_V1);
}

nvc_nvml_return nvmlShutdown(void)
{
    nvc_nvml_return r = hooks(F_SHUTDOWN, -1);
    int cur;

    if (r != NVC_NVML_SUCCESS)
        return r;
    cur = atomic_load(&init_count);
    do {
        if (cur <= 0)
            return NVC_NVML_ERROR_UNINITIALIZED;
    } while (!atomic_compare_exchange_weak(&init_count, &cur, cur - 1));
    return NVC_NVML_SUCCESS;
}

const char *nvmlErrorString(nvc_nvml_return result)
{
    if (hooks(F_ERROR_STRING, -1) != NVC_NVML_SUCCESS)
        return NULL;

    switch (result) {
    case NVC_NVML_SUCCESS: return "success";
    case NVC_NVML_ERROR_UNINITIALIZED: return "library not initialized";
    case NVC_NVML_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case NVC_NVML_ERROR_NOT_SUPPORTED: return "not supported by this device";
    case NVC_NVML_ERROR_NO_PERMISSION: return "permission denied";
    case NVC_NVML_ERROR_ALREADY_INITIALIZED: return "already initialized";
    case NVC_NVML_ERROR_NOT_FOUND: return "not found";
    case NVC_NVML_ERROR_INSUFFICIENT_SIZE: return "buffer too small";
    case NVC_NVML_ERROR_INSUFFICIENT_POWER: return "insufficient power supply";
    case NVC_NVML_ERROR_DRIVER_NOT_LOADED: return "kernel driver not loaded";
    case NVC_NVML_ERROR_TIMEOUT: return "timed out";
    case NVC_NVML_ERROR_IRQ_ISSUE: return "interrupt request problem";
    case NVC_NVML_ERROR_LIBRARY_NOT_FOUND: return "shared library not found";
    case NVC_NVML_ERROR_FUNCTION_NOT_FOUND: return "function not implemented by this library";
    case NVC_NVML_ERROR_CORRUPTED_INFOROM: return "corrupted inforom";
    case NVC_NVML_ERROR_GPU_IS_LOST: return "GPU has fallen off the bus";
    case NVC_NVML_ERROR_RESET_REQUIRED: return "GPU needs a reset";
    case NVC_NVML_ERROR_OPERATING_SYSTEM: return "operating system call failed";
    case NVC_NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "driver/library version mismatch";
    case NVC_NVML_ERROR_IN_USE: return "GPU in use";
    case NVC_NVML_ERROR_MEMORY: return "out of memory";
    case NVC_NVML_ERROR_NO_DATA: return "no data";
    case NVC_NVML_ERROR_INSUFFICIENT_RESOURCES: return "insufficient resources";
    case NVC_NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "structure version mismatch";
    case NVC_NVML_ERROR_NOT_READY: return "not ready";
    case NVC_NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
    case NVC_NVML_ERROR_INVALID_STATE: return "invalid state";
    case NVC_NVML_ERROR_UNKNOWN: return "unknown error";
    default: return "unrecognised error code";
    }
}

nvc_nvml_return nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
    PROLOGUE(F_DRIVER_VERSION, -1);
    return put_string(version, length, host.driver);
}

nvc_nvml_return nvmlSystemGetCudaDriverVersion(int *version)
{
    PROLOGUE(F_CUDA_VERSION, -1);
    if (version == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    *version = host.cuda;
    return NVC_NVML_SUCCESS;
}

static nvc_nvml_return count_as(enum fn_id fn, unsigned int *count)
{
    PROLOGUE(fn, -1);
    if (count == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    *count = host.ngpus;
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetCount_v2(unsigned int *count)
{
    return count_as(F_COUNT, count);
}

nvc_nvml_return nvmlDeviceGetCount(unsigned int *count)
{
    return count_as(F_COUNT_V1, count);
}

static nvc_nvml_return handle_as(enum fn_id fn, unsigned int index, nvc_nvml_device *device)
{
    PROLOGUE(fn, index < MAX_GPUS ? (int)index : -1);
    if (device == NULL || index >= host.ngpus)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    *device = (nvc_nvml_device)(void *)&host.gpus[index];
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvc_nvml_device *device)
{
    return handle_as(F_HANDLE_BY_INDEX, index, device);
}

nvc_nvml_return nvmlDeviceGetHandleByIndex(unsigned int index, nvc_nvml_device *device)
{
    return handle_as(F_HANDLE_BY_INDEX_V1, index, device);
}

nvc_nvml_return nvmlDeviceGetName(nvc_nvml_device device, char *name, unsigned int length)
{
    struct gpu *g;
    struct mig *m;

    PROLOGUE(F_NAME, device_of(device));
    if ((g = as_gpu(device)) != NULL)
        return put_string(name, length, g->name);
    if ((m = as_mig(device)) != NULL)
        return put_string(name, length, m->name);
    return NVC_NVML_ERROR_INVALID_ARGUMENT;
}

nvc_nvml_return nvmlDeviceGetUUID(nvc_nvml_device device, char *uuid, unsigned int length)
{
    struct gpu *g;
    struct mig *m;

    PROLOGUE(F_UUID, device_of(device));
    if ((g = as_gpu(device)) != NULL)
        return put_string(uuid, length, g->uuid);
    if ((m = as_mig(device)) != NULL)
        return put_string(uuid, length, m->uuid);
    return NVC_NVML_ERROR_INVALID_ARGUMENT;
}

/* The GPU whose properties a handle reports: itself, or a MIG device's parent. */
static struct gpu *gpu_or_parent(nvc_nvml_device device)
{
    struct gpu *g = as_gpu(device);
    struct mig *m;

    if (g != NULL)
        return g;
    m = as_mig(device);
    return m != NULL ? m->parent : NULL;
}

/* `full` is false for the variants made for the 52-byte layout: they write that
 * prefix only (its last 16 bytes reserved, zero) and never touch bus_id's tail. */
static nvc_nvml_return pci_as(enum fn_id fn, bool full, nvc_nvml_device device, struct nvc_nvml_pci_info *pci)
{
    struct gpu *g;
    struct nvc_nvml_pci_info out;

    PROLOGUE(fn, device_of(device));
    if ((g = gpu_or_parent(device)) == NULL || pci == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    memset(&out, 0, sizeof(out));
    snprintf(out.bus_id_legacy, sizeof(out.bus_id_legacy), "%04x:%02x:%02x.0", g->domain & 0xffff, g->bus, g->device);
    if (full)
        snprintf(out.bus_id, sizeof(out.bus_id), "%08x:%02x:%02x.0", g->domain, g->bus, g->device);
    out.domain = g->domain;
    out.bus = g->bus;
    out.device = g->device;
    out.pci_device_id = g->pci_device_id;
    out.pci_subsystem_id = g->pci_subsystem_id;
    memcpy(pci, &out, full ? sizeof(out) : (size_t)NVC_NVML_PCI_INFO_V2_SIZE);
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetPciInfo_v3(nvc_nvml_device device, struct nvc_nvml_pci_info *pci)
{
    return pci_as(F_PCI_INFO, true, device, pci);
}

nvc_nvml_return nvmlDeviceGetPciInfo_v2(nvc_nvml_device device, struct nvc_nvml_pci_info *pci)
{
    return pci_as(F_PCI_INFO_V2, false, device, pci);
}

nvc_nvml_return nvmlDeviceGetPciInfo(nvc_nvml_device device, struct nvc_nvml_pci_info *pci)
{
    return pci_as(F_PCI_INFO_V1, false, device, pci);
}

nvc_nvml_return nvmlDeviceGetCudaComputeCapability(nvc_nvml_device device, int *major, int *minor)
{
    struct gpu *g;

    PROLOGUE(F_COMPUTE_CAPABILITY, device_of(device));
    if ((g = gpu_or_parent(device)) == NULL || major == NULL || minor == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    *major = g->cc_major;
    *minor = g->cc_minor;
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetBrand(nvc_nvml_device device, unsigned int *type)
{
    struct gpu *g;

    PROLOGUE(F_BRAND, device_of(device));
    if ((g = gpu_or_parent(device)) == NULL || type == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    *type = g->brand;
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetPersistenceMode(nvc_nvml_device device, unsigned int *mode)
{
    struct gpu *g;

    PROLOGUE(F_PERSISTENCE_MODE, device_of(device));
    if ((g = gpu_or_parent(device)) == NULL || mode == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if (g->persistence == PERSISTENCE_UNSUPPORTED)
        return NVC_NVML_ERROR_NOT_SUPPORTED;
    *mode = g->persistence == PERSISTENCE_ON ? 1 : 0;
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetMinorNumber(nvc_nvml_device device, unsigned int *minor)
{
    struct gpu *g;

    PROLOGUE(F_MINOR, device_of(device));
    if (as_mig(device) != NULL)
        return minor == NULL ? NVC_NVML_ERROR_INVALID_ARGUMENT : NVC_NVML_ERROR_NOT_SUPPORTED;
    if ((g = as_gpu(device)) == NULL || minor == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    *minor = g->minor;
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetMigMode(nvc_nvml_device device, unsigned int *current, unsigned int *pending)
{
    struct gpu *g;

    PROLOGUE(F_MIG_MODE, device_of(device));
    if (current == NULL || pending == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if (as_mig(device) != NULL)
        return NVC_NVML_ERROR_NOT_SUPPORTED;
    if ((g = as_gpu(device)) == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if (g->mig == MIG_UNSUPPORTED)
        return NVC_NVML_ERROR_NOT_SUPPORTED;
    *current = *pending = g->mig == MIG_ENABLED ? NVC_NVML_MIG_ENABLE : NVC_NVML_MIG_DISABLE;
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetMaxMigDeviceCount(nvc_nvml_device device, unsigned int *count)
{
    struct gpu *g;

    PROLOGUE(F_MAX_MIG_COUNT, device_of(device));
    if (count == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if (as_mig(device) != NULL)
        return NVC_NVML_ERROR_NOT_SUPPORTED;
    if ((g = as_gpu(device)) == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    *count = g->mig == MIG_ENABLED ? g->max_mig : 0;
    return NVC_NVML_SUCCESS;
}

nvc_nvml_return nvmlDeviceGetMigDeviceHandleByIndex(nvc_nvml_device device, unsigned int index, nvc_nvml_device *mig)
{
    struct gpu *g;

    PROLOGUE(F_MIG_HANDLE_BY_INDEX, device_of(device));
    if (mig == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if (as_mig(device) != NULL)
        return NVC_NVML_ERROR_NOT_SUPPORTED;
    if ((g = as_gpu(device)) == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if (g->mig == MIG_UNSUPPORTED)
        return NVC_NVML_ERROR_NOT_SUPPORTED;
    for (unsigned int i = 0; i < g->nmig; ++i) {
        if (g->migs[i].slot == index) {
            *mig = (nvc_nvml_device)(void *)&g->migs[i];
            return NVC_NVML_SUCCESS;
        }
    }
    return NVC_NVML_ERROR_NOT_FOUND; /* an empty slot, or past the maximum */
}

nvc_nvml_return nvmlDeviceGetGpuInstanceId(nvc_nvml_device device, unsigned int *id)
{
    struct mig *m;

    PROLOGUE(F_GPU_INSTANCE_ID, device_of(device));
    if (id == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if ((m = as_mig(device)) != NULL) {
        *id = m->gi;
        return NVC_NVML_SUCCESS;
    }
    return as_gpu(device) != NULL ? NVC_NVML_ERROR_NOT_SUPPORTED : NVC_NVML_ERROR_INVALID_ARGUMENT;
}

nvc_nvml_return nvmlDeviceGetComputeInstanceId(nvc_nvml_device device, unsigned int *id)
{
    struct mig *m;

    PROLOGUE(F_COMPUTE_INSTANCE_ID, device_of(device));
    if (id == NULL)
        return NVC_NVML_ERROR_INVALID_ARGUMENT;
    if ((m = as_mig(device)) != NULL) {
        *id = m->ci;
        return NVC_NVML_SUCCESS;
    }
    return as_gpu(device) != NULL ? NVC_NVML_ERROR_NOT_SUPPORTED : NVC_NVML_ERROR_INVALID_ARGUMENT;
}
