#ifndef NVC_HELPER_NVML_API_H
#define NVC_HELPER_NVML_API_H

#include "nvc_nvml.h"
#include "driver_proto.h"

/* The NVML entry points, resolved from the dlopen'ed library. Optional ones
 * (MIG) may be NULL on old drivers and then read as "not supported". Where a
 * symbol has older variants, the *_name field is the one resolved, so that
 * progress notices and errors name the function actually called. */
struct nvml_api {
    void *handle;
    const char *init_name;
    const char *device_count_name;
    const char *device_handle_name;
    const char *device_pci_name;
    nvc_nvml_init_fn init;
    nvc_nvml_shutdown_fn shutdown;
    nvc_nvml_error_string_fn error_string;
    nvc_nvml_driver_version_fn driver_version;
    nvc_nvml_cuda_version_fn cuda_version;
    nvc_nvml_count_fn device_count;
    nvc_nvml_handle_fn device_handle;
    nvc_nvml_string_fn device_name;
    nvc_nvml_string_fn device_uuid;
    nvc_nvml_pci_fn device_pci;
    nvc_nvml_int_pair_fn device_cc;
    nvc_nvml_uint_fn device_brand;
    nvc_nvml_uint_fn device_minor;
    nvc_nvml_uint_fn device_persistence;
    nvc_nvml_uint_pair_fn mig_mode;
    nvc_nvml_uint_fn max_mig_count;
    nvc_nvml_child_fn mig_handle;
    nvc_nvml_uint_fn gpu_instance_id;
    nvc_nvml_uint_fn compute_instance_id;
};

/* dlopen + dlsym. On failure writes a LOAD reply into reply and returns -1. */
int nvml_api_load(struct nvml_api *api, const char *path, struct nvc_wbuf *reply);

/* Handlers: each fills reply, status first (an NVML failure becomes an NVML status,
 * not a return value); the socket is where CALLING notices go before each NVML call. */
void nvml_op_init(struct nvml_api *api, int sock, struct nvc_wbuf *reply);
void nvml_op_driver(struct nvml_api *api, int sock, struct nvc_wbuf *reply);
void nvml_op_device_count(struct nvml_api *api, int sock, struct nvc_wbuf *reply);
void nvml_op_device(struct nvml_api *api, int sock, uint32_t index, struct nvc_wbuf *reply);
void nvml_op_shutdown(struct nvml_api *api, int sock, struct nvc_wbuf *reply);

/* Sends one finished record; returns -1 when the core is gone. */
int helper_send(int sock, struct nvc_wbuf *b);

#endif
