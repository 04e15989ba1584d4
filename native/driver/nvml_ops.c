#define _GNU_SOURCE
#include "nvml_api.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_MIG_PER_GPU 64

/* The PciInfo fallback below relies on these facts of nvmlPciInfo_t. */
_Static_assert(offsetof(struct nvc_nvml_pci_info, domain) == 16 && offsetof(struct nvc_nvml_pci_info, device) == 24,
               "domain, bus and device are where every nvmlPciInfo_t version has them");
_Static_assert(sizeof(struct nvc_nvml_pci_info) == 68 && NVC_NVML_PCI_INFO_V2_SIZE <= 68,
               "the v3 layout holds the older 52-byte one as a prefix");

/* Tell the core which NVML function runs next, so that a crash or a hang inside
 * it can be reported by name. A lost notice is harmless. */
static void announce(int sock, const char *fn, uint32_t device)
{
    uint8_t storage[256];
    struct nvc_wbuf b;
    nvc_proto_begin(&b, storage, sizeof(storage), NVC_OP_CALLING, 0);
    nvc_wire_put_str(&b, fn);
    nvc_wire_put_u32(&b, device);
    helper_send(sock, &b);
}

/* An NVML failure as the core reports it: the function as step, its return code, and the
 * GPU when there is one. A driver/library mismatch has a code of its own. */
static void reply_nvml_text(struct nvc_wbuf *reply, nvc_nvml_return ret, const char *fn, const char *text,
                            uint32_t device)
{
    static struct nvc_error e; /* 5 KiB: off the stack of a small single-threaded process */
    enum nvc_errcode code = ret == NVC_NVML_ERROR_LIB_RM_VERSION_MISMATCH ? NVC_ERR_VERSION_MISMATCH : NVC_ERR_NVML;
    if (device != NVC_PROTO_NO_DEVICE)
        nvc_error_set(&e, code, 0, fn, NULL, "%s failed for GPU %u: %s", fn, device, text);
    else
        nvc_error_set(&e, code, 0, fn, NULL, "%s failed: %s", fn, text);
    e.nvml_ret = (int)ret;
    nvc_proto_fail(reply, &e);
}

static void reply_load_error(struct nvc_wbuf *reply, const char *text)
{
    static struct nvc_error e;
    nvc_error_set(&e, NVC_ERR_NVML_LOAD, 0, "dlopen", NULL, "cannot load the NVML library: %s", text);
    nvc_proto_fail(reply, &e);
}

static void reply_nvml_error(struct nvml_api *api, struct nvc_wbuf *reply, nvc_nvml_return ret, const char *fn,
                             uint32_t device)
{
    const char *text = api->error_string ? api->error_string(ret) : NULL;
    reply_nvml_text(reply, ret, fn, text ? text : "unknown error", device);
}

/* Call an NVML function pointer announced by name; on failure fill the reply and
 * make the enclosing handler return. NULL pointers read as FUNCTION_NOT_FOUND. */
#define CALL(api, sock, reply, dev, fnptr, name, ...)                                                                  \
    do {                                                                                                               \
        nvc_nvml_return ret_ = NVC_NVML_ERROR_FUNCTION_NOT_FOUND;                                                      \
        announce(sock, name, dev);                                                                                     \
        if ((fnptr) != NULL)                                                                                           \
            ret_ = (fnptr)(__VA_ARGS__);                                                                               \
        if (ret_ != NVC_NVML_SUCCESS) {                                                                                \
            reply_nvml_error(api, reply, ret_, name, dev);                                                             \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

/* Records the first missing symbol, with the older variants that were tried too. */
struct missing {
    char what[256];
};

/* names: the newest first, then the older variants tried, NULL-terminated (at most three). */
static void note_missing(struct missing *m, const char *const *names)
{
    if (m->what[0] != '\0')
        return;
    if (names[1] == NULL)
        snprintf(m->what, sizeof(m->what), "%s", names[0]);
    else if (names[2] == NULL)
        snprintf(m->what, sizeof(m->what), "%s (nor its older variant %s)", names[0], names[1]);
    else
        snprintf(m->what, sizeof(m->what), "%s (nor its older variants %s, %s)", names[0], names[1], names[2]);
}

static void *must_sym(void *handle, const char *name, struct missing *missing)
{
    const char *names[] = {name, NULL};
    void *p = dlsym(handle, name);
    if (p == NULL)
        note_missing(missing, names);
    return p;
}

/* The first of `names` (newest first, NULL-terminated) the library has. Only
 * variants that take the same arguments and leave the caller's memory as the
 * newest does may be listed together. */
static void *sym_variant(void *handle, const char *const *names, const char **chosen, struct missing *missing)
{
    for (size_t i = 0; names[i] != NULL; i++) {
        void *p = dlsym(handle, names[i]);
        if (p != NULL) {
            *chosen = names[i];
            return p;
        }
    }
    *chosen = names[0];
    note_missing(missing, names);
    return NULL;
}

/*
 * Why these fallbacks are sound:
 * - nvmlInit and nvmlInit_v2 both take nothing and initialise the library; the old
 *   one may also insist on every GPU being reachable, which at worst fails init.
 * - nvmlDeviceGetCount and nvmlDeviceGetHandleByIndex (v1) skip the GPUs the caller
 *   may not open and number the rest densely; their _v2 count every GPU and answer
 *   NO_PERMISSION for those. Each pair agrees with itself only, so the two are taken
 *   from the same generation, never mixed.
 * - nvmlDeviceGetPciInfo_v3, _v2 and the unversioned one fill the same first 36
 *   bytes (legacy bus id, domain, bus, device, ids); v3 alone fills the 32-byte
 *   busId after them, where the older ones had reserved words or nothing. We read
 *   only domain, bus and device and format the bus id ourselves, so the variants
 *   are equivalent to us, and the older ones write within our 68-byte struct.
 */
static const char *const INIT_NAMES[] = {"nvmlInit_v2", "nvmlInit", NULL};
static const char *const PCI_NAMES[] = {"nvmlDeviceGetPciInfo_v3", "nvmlDeviceGetPciInfo_v2", "nvmlDeviceGetPciInfo",
                                        NULL};

static void load_device_enumeration(struct nvml_api *api, struct missing *missing)
{
    void *count = dlsym(api->handle, "nvmlDeviceGetCount_v2");
    void *handle = dlsym(api->handle, "nvmlDeviceGetHandleByIndex_v2");

    api->device_count_name = "nvmlDeviceGetCount_v2";
    api->device_handle_name = "nvmlDeviceGetHandleByIndex_v2";
    if (count == NULL || handle == NULL) {
        void *count1 = dlsym(api->handle, "nvmlDeviceGetCount");
        void *handle1 = dlsym(api->handle, "nvmlDeviceGetHandleByIndex");
        if (count1 != NULL && handle1 != NULL) {
            count = count1;
            handle = handle1;
            api->device_count_name = "nvmlDeviceGetCount";
            api->device_handle_name = "nvmlDeviceGetHandleByIndex";
        } else {
            if (missing->what[0] == '\0')
                snprintf(missing->what, sizeof(missing->what), "%s (nor the older pair %s)",
                         count == NULL ? "nvmlDeviceGetCount_v2" : "nvmlDeviceGetHandleByIndex_v2",
                         "nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex");
            count = handle = NULL;
        }
    }
    api->device_count = (nvc_nvml_count_fn)count;
    api->device_handle = (nvc_nvml_handle_fn)handle;
}

int nvml_api_load(struct nvml_api *api, const char *path, struct nvc_wbuf *reply)
{
    struct missing missing = {.what = ""};
    char msg[1024];

    memset(api, 0, sizeof(*api));
    api->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (api->handle == NULL) {
        const char *why = dlerror();
        reply_load_error(reply, why ? why : "dlopen failed");
        return -1;
    }
    api->init = (nvc_nvml_init_fn)sym_variant(api->handle, INIT_NAMES, &api->init_name, &missing);
    api->shutdown = (nvc_nvml_shutdown_fn)must_sym(api->handle, "nvmlShutdown", &missing);
    api->error_string = (nvc_nvml_error_string_fn)must_sym(api->handle, "nvmlErrorString", &missing);
    api->driver_version = (nvc_nvml_driver_version_fn)must_sym(api->handle, "nvmlSystemGetDriverVersion", &missing);
    api->cuda_version = (nvc_nvml_cuda_version_fn)must_sym(api->handle, "nvmlSystemGetCudaDriverVersion", &missing);
    load_device_enumeration(api, &missing);
    api->device_name = (nvc_nvml_string_fn)must_sym(api->handle, "nvmlDeviceGetName", &missing);
    api->device_uuid = (nvc_nvml_string_fn)must_sym(api->handle, "nvmlDeviceGetUUID", &missing);
    api->device_pci = (nvc_nvml_pci_fn)sym_variant(api->handle, PCI_NAMES, &api->device_pci_name, &missing);
    api->device_cc = (nvc_nvml_int_pair_fn)must_sym(api->handle, "nvmlDeviceGetCudaComputeCapability", &missing);
    api->device_brand = (nvc_nvml_uint_fn)must_sym(api->handle, "nvmlDeviceGetBrand", &missing);
    api->device_minor = (nvc_nvml_uint_fn)must_sym(api->handle, "nvmlDeviceGetMinorNumber", &missing);
    /* Diagnostic only (doctor): a library without it still serves containers. */
    api->device_persistence = (nvc_nvml_uint_fn)dlsym(api->handle, "nvmlDeviceGetPersistenceMode");
    /* MIG arrived in later drivers: absence means "not MIG capable", not a broken library. */
    api->mig_mode = (nvc_nvml_uint_pair_fn)dlsym(api->handle, "nvmlDeviceGetMigMode");
    api->max_mig_count = (nvc_nvml_uint_fn)dlsym(api->handle, "nvmlDeviceGetMaxMigDeviceCount");
    api->mig_handle = (nvc_nvml_child_fn)dlsym(api->handle, "nvmlDeviceGetMigDeviceHandleByIndex");
    api->gpu_instance_id = (nvc_nvml_uint_fn)dlsym(api->handle, "nvmlDeviceGetGpuInstanceId");
    api->compute_instance_id = (nvc_nvml_uint_fn)dlsym(api->handle, "nvmlDeviceGetComputeInstanceId");
    if (missing.what[0] != '\0') {
        snprintf(msg, sizeof(msg), "%s: undefined symbol %s (not an NVML library, or one too old)", path, missing.what);
        reply_load_error(reply, msg);
        return -1;
    }
    return 0;
}

void nvml_op_init(struct nvml_api *api, int sock, struct nvc_wbuf *reply)
{
    CALL(api, sock, reply, NVC_PROTO_NO_DEVICE, api->init, api->init_name);
    nvc_wire_put_u32(reply, NVC_STATUS_OK);
}

void nvml_op_driver(struct nvml_api *api, int sock, struct nvc_wbuf *reply)
{
    char version[NVC_NVML_DRIVER_VERSION_BUFFER] = "";
    int cuda = 0;

    CALL(api, sock, reply, NVC_PROTO_NO_DEVICE, api->driver_version, "nvmlSystemGetDriverVersion", version,
         sizeof(version));
    CALL(api, sock, reply, NVC_PROTO_NO_DEVICE, api->cuda_version, "nvmlSystemGetCudaDriverVersion", &cuda);
    version[sizeof(version) - 1] = '\0';
    nvc_wire_put_u32(reply, NVC_STATUS_OK);
    nvc_wire_put_str(reply, version);
    nvc_wire_put_i32(reply, cuda);
}

void nvml_op_device_count(struct nvml_api *api, int sock, struct nvc_wbuf *reply)
{
    unsigned int count = 0;
    CALL(api, sock, reply, NVC_PROTO_NO_DEVICE, api->device_count, api->device_count_name, &count);
    nvc_wire_put_u32(reply, NVC_STATUS_OK);
    nvc_wire_put_u32(reply, count);
}

/*
 * A string getter called with the buffer size NVML documents as sufficient. An
 * answer that does not fit is an error of its own (rather than a truncated name
 * or UUID that would misidentify the GPU), said in words that point at the
 * driver, not at us. `mig` is the MIG slot when the handle is a MIG device's.
 */
static int get_string(struct nvml_api *api, int sock, struct nvc_wbuf *reply, uint32_t index, const unsigned *mig,
                      nvc_nvml_string_fn fn, const char *name, nvc_nvml_device dev, char *buf, unsigned size)
{
    nvc_nvml_return ret = NVC_NVML_ERROR_FUNCTION_NOT_FOUND;
    char text[256];

    announce(sock, name, index);
    if (fn != NULL)
        ret = fn(dev, buf, size);
    if (ret == NVC_NVML_SUCCESS) {
        buf[size - 1] = '\0';
        return 0;
    }
    if (ret != NVC_NVML_ERROR_INSUFFICIENT_SIZE) {
        reply_nvml_error(api, reply, ret, name, index);
        return -1;
    }
    if (mig != NULL)
        snprintf(text, sizeof(text),
                 "buffer too small: MIG device %u's answer does not fit the %u bytes NVML documents as enough", *mig,
                 size);
    else
        snprintf(text, sizeof(text), "buffer too small: the answer does not fit the %u bytes NVML documents as enough",
                 size);
    reply_nvml_text(reply, ret, name, text, index);
    return -1;
}

/* MIG mode: a GPU that cannot do MIG answers NOT_SUPPORTED (or lacks the symbol);
 * that is a fact about the GPU, not an error. */
static int mig_mode(struct nvml_api *api, int sock, struct nvc_wbuf *reply, uint32_t index, nvc_nvml_device dev,
                    unsigned *capable, unsigned *current)
{
    unsigned pending = 0;
    nvc_nvml_return ret = NVC_NVML_ERROR_FUNCTION_NOT_FOUND;

    *capable = 0;
    *current = 0;
    announce(sock, "nvmlDeviceGetMigMode", index);
    if (api->mig_mode != NULL)
        ret = api->mig_mode(dev, current, &pending);
    if (ret == NVC_NVML_ERROR_NOT_SUPPORTED || ret == NVC_NVML_ERROR_FUNCTION_NOT_FOUND) {
        *current = 0;
        return 0;
    }
    if (ret != NVC_NVML_SUCCESS) {
        reply_nvml_error(api, reply, ret, "nvmlDeviceGetMigMode", index);
        return -1;
    }
    *capable = 1;
    return 0;
}

/* Persistence mode is a diagnostic: a GPU that cannot say (NOT_SUPPORTED, an old library) is "unknown",
 * never a failed device query. */
static uint32_t persistence_mode(struct nvml_api *api, int sock, uint32_t index, nvc_nvml_device dev)
{
    unsigned mode = 0;

    announce(sock, "nvmlDeviceGetPersistenceMode", index);
    if (api->device_persistence == NULL || api->device_persistence(dev, &mode) != NVC_NVML_SUCCESS)
        return NVC_PERSISTENCE_UNKNOWN;
    return mode ? NVC_PERSISTENCE_ON : NVC_PERSISTENCE_OFF;
}

void nvml_op_device(struct nvml_api *api, int sock, uint32_t index, struct nvc_wbuf *reply)
{
    nvc_nvml_device dev = NULL;
    char name[NVC_NVML_NAME_BUFFER] = "";
    char uuid[NVC_NVML_UUID_BUFFER] = "";
    struct nvc_nvml_pci_info pci;
    int cc_major = 0, cc_minor = 0;
    unsigned brand = 0, minor = 0, capable = 0, current = 0, max_mig = 0;

    memset(&pci, 0, sizeof(pci));
    CALL(api, sock, reply, index, api->device_handle, api->device_handle_name, index, &dev);
    if (get_string(api, sock, reply, index, NULL, api->device_name, "nvmlDeviceGetName", dev, name, sizeof(name)) < 0)
        return;
    if (get_string(api, sock, reply, index, NULL, api->device_uuid, "nvmlDeviceGetUUID", dev, uuid, sizeof(uuid)) < 0)
        return;
    CALL(api, sock, reply, index, api->device_pci, api->device_pci_name, dev, &pci);
    CALL(api, sock, reply, index, api->device_cc, "nvmlDeviceGetCudaComputeCapability", dev, &cc_major, &cc_minor);
    CALL(api, sock, reply, index, api->device_brand, "nvmlDeviceGetBrand", dev, &brand);
    CALL(api, sock, reply, index, api->device_minor, "nvmlDeviceGetMinorNumber", dev, &minor);
    uint32_t persistence = persistence_mode(api, sock, index, dev);
    if (mig_mode(api, sock, reply, index, dev, &capable, &current) < 0)
        return;
    if (capable && current == NVC_NVML_MIG_ENABLE)
        CALL(api, sock, reply, index, api->max_mig_count, "nvmlDeviceGetMaxMigDeviceCount", dev, &max_mig);
    if (max_mig > MAX_MIG_PER_GPU)
        max_mig = MAX_MIG_PER_GPU;

    name[sizeof(name) - 1] = '\0';
    uuid[sizeof(uuid) - 1] = '\0';

    /* MIG devices go into a scratch buffer first: their count is known only at the end. */
    static uint8_t migs_storage[NVC_PROTO_MAX_MSG];
    struct nvc_wbuf migs;
    uint32_t nmig = 0;
    nvc_wire_begin_fixed(&migs, migs_storage, sizeof(migs_storage), 0, 0, 0); /* only its body is used */
    for (unsigned i = 0; i < max_mig; i++) {
        nvc_nvml_device mig = NULL;
        char mig_uuid[NVC_NVML_UUID_BUFFER] = "";
        unsigned gi = 0, ci = 0;
        nvc_nvml_return ret;

        announce(sock, "nvmlDeviceGetMigDeviceHandleByIndex", index);
        ret = api->mig_handle ? api->mig_handle(dev, i, &mig) : NVC_NVML_ERROR_FUNCTION_NOT_FOUND;
        if (ret == NVC_NVML_ERROR_NOT_FOUND)
            continue; /* MIG slots can be sparse */
        if (ret != NVC_NVML_SUCCESS) {
            reply_nvml_error(api, reply, ret, "nvmlDeviceGetMigDeviceHandleByIndex", index);
            return;
        }
        if (get_string(api, sock, reply, index, &i, api->device_uuid, "nvmlDeviceGetUUID", mig, mig_uuid,
                       sizeof(mig_uuid)) < 0)
            return;
        CALL(api, sock, reply, index, api->gpu_instance_id, "nvmlDeviceGetGpuInstanceId", mig, &gi);
        CALL(api, sock, reply, index, api->compute_instance_id, "nvmlDeviceGetComputeInstanceId", mig, &ci);
        mig_uuid[sizeof(mig_uuid) - 1] = '\0';
        nvc_wire_put_u32(&migs, i);
        nvc_wire_put_str(&migs, mig_uuid);
        nvc_wire_put_u32(&migs, gi);
        nvc_wire_put_u32(&migs, ci);
        nmig++;
    }

    nvc_wire_put_u32(reply, NVC_STATUS_OK);
    nvc_wire_put_u32(reply, index);
    nvc_wire_put_u32(reply, minor);
    nvc_wire_put_str(reply, name);
    nvc_wire_put_u32(reply, brand);
    nvc_wire_put_str(reply, uuid);
    nvc_wire_put_u32(reply, pci.domain);
    nvc_wire_put_u32(reply, pci.bus);
    nvc_wire_put_u32(reply, pci.device);
    nvc_wire_put_i32(reply, cc_major);
    nvc_wire_put_i32(reply, cc_minor);
    nvc_wire_put_u32(reply, capable);
    nvc_wire_put_u32(reply, current == NVC_NVML_MIG_ENABLE);
    nvc_wire_put_u32(reply, persistence);
    nvc_wire_put_u32(reply, nmig);
    if (migs.overflow != NVC_WIRE_OK)
        reply->overflow = NVC_WIRE_TOO_LARGE; /* helper_send turns it into an error reply */
    else
        nvc_wire_put_raw(reply, migs.data + NVC_WIRE_HEADER_SIZE, migs.len - NVC_WIRE_HEADER_SIZE);
}

void nvml_op_shutdown(struct nvml_api *api, int sock, struct nvc_wbuf *reply)
{
    CALL(api, sock, reply, NVC_PROTO_NO_DEVICE, api->shutdown, "nvmlShutdown");
    nvc_wire_put_u32(reply, NVC_STATUS_OK);
}

int helper_send(int sock, struct nvc_wbuf *b)
{
    size_t n = nvc_wire_end(b);
    if (n == 0) {
        /* A reply too large for a record: say so instead of sending garbage. */
        static struct nvc_error e;
        nvc_error_set(&e, NVC_ERR_SERVICE_PROTOCOL, 0, NULL, NULL, "reply does not fit in one protocol record");
        nvc_proto_fail(b, &e);
        n = nvc_wire_end(b);
    }
    ssize_t r;
    /* One record: a signal can only interrupt it whole, so it is sent again whole. */
    while ((r = send(sock, b->data, n, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    return r == (ssize_t)n ? 0 : -1;
}
