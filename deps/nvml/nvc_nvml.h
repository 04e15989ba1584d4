#ifndef NVC_NVML_H
#define NVC_NVML_H

/* The part of the NVML ABI that nvc-ts uses, declared by us from the documented
 * facts (symbol names, numeric codes, struct layouts). The helper dlopens the
 * library and resolves these symbols one by one; the mock library used by the
 * tests and by --simulate defines them. Nothing links against NVML. */

typedef int nvc_nvml_return;
typedef struct nvc_nvml_device_opaque *nvc_nvml_device;

/* Return codes we name in messages; others are reported by number and nvmlErrorString. */
enum {
    NVC_NVML_SUCCESS = 0,
    NVC_NVML_ERROR_UNINITIALIZED = 1,
    NVC_NVML_ERROR_INVALID_ARGUMENT = 2,
    NVC_NVML_ERROR_NOT_SUPPORTED = 3,
    NVC_NVML_ERROR_NO_PERMISSION = 4,
    NVC_NVML_ERROR_ALREADY_INITIALIZED = 5,
    NVC_NVML_ERROR_NOT_FOUND = 6,
    NVC_NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVC_NVML_ERROR_INSUFFICIENT_POWER = 8,
    NVC_NVML_ERROR_DRIVER_NOT_LOADED = 9,
    NVC_NVML_ERROR_TIMEOUT = 10,
    NVC_NVML_ERROR_IRQ_ISSUE = 11,
    NVC_NVML_ERROR_LIBRARY_NOT_FOUND = 12,
    NVC_NVML_ERROR_FUNCTION_NOT_FOUND = 13,
    NVC_NVML_ERROR_CORRUPTED_INFOROM = 14,
    NVC_NVML_ERROR_GPU_IS_LOST = 15,
    NVC_NVML_ERROR_RESET_REQUIRED = 16,
    NVC_NVML_ERROR_OPERATING_SYSTEM = 17,
    NVC_NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
    NVC_NVML_ERROR_IN_USE = 19,
    NVC_NVML_ERROR_MEMORY = 20,
    NVC_NVML_ERROR_NO_DATA = 21,
    NVC_NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
    NVC_NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
    NVC_NVML_ERROR_NOT_READY = 27,
    NVC_NVML_ERROR_GPU_NOT_FOUND = 28,
    NVC_NVML_ERROR_INVALID_STATE = 29,
    NVC_NVML_ERROR_UNKNOWN = 999,
};

/* nvmlBrandType_t values. */
enum {
    NVC_NVML_BRAND_UNKNOWN = 0,
    NVC_NVML_BRAND_QUADRO = 1,
    NVC_NVML_BRAND_TESLA = 2,
    NVC_NVML_BRAND_NVS = 3,
    NVC_NVML_BRAND_GRID = 4,
    NVC_NVML_BRAND_GEFORCE = 5,
    NVC_NVML_BRAND_TITAN = 6,
    NVC_NVML_BRAND_NVIDIA_VAPPS = 7,
    NVC_NVML_BRAND_NVIDIA_VPC = 8,
    NVC_NVML_BRAND_NVIDIA_VCS = 9,
    NVC_NVML_BRAND_NVIDIA_VWS = 10,
    NVC_NVML_BRAND_NVIDIA_CLOUD_GAMING = 11,
    NVC_NVML_BRAND_QUADRO_RTX = 12,
    NVC_NVML_BRAND_NVIDIA_RTX = 13,
    NVC_NVML_BRAND_NVIDIA = 14,
    NVC_NVML_BRAND_GEFORCE_RTX = 15,
    NVC_NVML_BRAND_TITAN_RTX = 16,
};

enum { NVC_NVML_MIG_DISABLE = 0, NVC_NVML_MIG_ENABLE = 1 };

/* Buffer sizes the API documents as sufficient. */
enum {
    NVC_NVML_NAME_BUFFER = 96,
    NVC_NVML_UUID_BUFFER = 96,
    NVC_NVML_DRIVER_VERSION_BUFFER = 80,
};

/* Layout of nvmlPciInfo_t as nvmlDeviceGetPciInfo_v3 fills it (68 bytes).
 * The older exports, nvmlDeviceGetPciInfo and nvmlDeviceGetPciInfo_v2, date from
 * the 52-byte layout: the same first 36 bytes (a 16-byte "%04x:%02x:%02x.0" bus
 * id, then domain, bus, device, pciDeviceId, pciSubSystemId) followed by four
 * reserved words where bus_id now starts. Handing them this struct is safe: they
 * write a prefix of it, and the numeric fields sit at the same offsets. */
struct nvc_nvml_pci_info {
    char bus_id_legacy[16];
    unsigned int domain;
    unsigned int bus;
    unsigned int device;
    unsigned int pci_device_id;
    unsigned int pci_subsystem_id;
    char bus_id[32];
};

/* Bytes of nvmlPciInfo_t that nvmlDeviceGetPciInfo and nvmlDeviceGetPciInfo_v2 write. */
enum { NVC_NVML_PCI_INFO_V2_SIZE = 52 };

/* Function types, one per symbol we resolve. The symbol names are in native/driver/nvml_ops.c;
 * the older variants (nvmlInit, nvmlDeviceGetCount, nvmlDeviceGetHandleByIndex,
 * nvmlDeviceGetPciInfo, nvmlDeviceGetPciInfo_v2) have the same types as their successors. */
typedef nvc_nvml_return (*nvc_nvml_init_fn)(void);                              /* nvmlInit_v2 */
typedef nvc_nvml_return (*nvc_nvml_shutdown_fn)(void);                          /* nvmlShutdown */
typedef const char *(*nvc_nvml_error_string_fn)(nvc_nvml_return);               /* nvmlErrorString */
typedef nvc_nvml_return (*nvc_nvml_driver_version_fn)(char *, unsigned int);    /* nvmlSystemGetDriverVersion */
typedef nvc_nvml_return (*nvc_nvml_cuda_version_fn)(int *);                     /* nvmlSystemGetCudaDriverVersion */
typedef nvc_nvml_return (*nvc_nvml_count_fn)(unsigned int *);                   /* nvmlDeviceGetCount_v2 */
typedef nvc_nvml_return (*nvc_nvml_handle_fn)(unsigned int, nvc_nvml_device *); /* nvmlDeviceGetHandleByIndex_v2 */
typedef nvc_nvml_return (*nvc_nvml_string_fn)(nvc_nvml_device, char *, unsigned int);    /* GetName, GetUUID */
typedef nvc_nvml_return (*nvc_nvml_pci_fn)(nvc_nvml_device, struct nvc_nvml_pci_info *); /* nvmlDeviceGetPciInfo_v3 */
typedef nvc_nvml_return (*nvc_nvml_int_pair_fn)(nvc_nvml_device, int *, int *);          /* GetCudaComputeCapability */
typedef nvc_nvml_return (*nvc_nvml_uint_fn)(nvc_nvml_device, unsigned int *); /* GetBrand, GetMinorNumber, ... */
typedef nvc_nvml_return (*nvc_nvml_uint_pair_fn)(nvc_nvml_device, unsigned int *, unsigned int *); /* GetMigMode */
typedef nvc_nvml_return (*nvc_nvml_child_fn)(nvc_nvml_device, unsigned int,
                                             nvc_nvml_device *); /* GetMigDeviceHandleByIndex */

#endif
