{
  "includes": ["native/core.gypi"],
  "variables": {
    "nvc_c_flags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-format-truncation", "-fvisibility=hidden", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong"]
  },
  "target_defaults": {
    "include_dirs": ["native/include", "<@(nvc_core_include_dirs)", "native/addon", "deps/nvml"],
    "cflags_c": ["<@(nvc_c_flags)"],
    "cflags!": ["-fno-exceptions"],
    "conditions": [["OS!='linux'", { "type": "none" }]]
  },
  "targets": [
    {
      "target_name": "nvc_ts",
      "sources": ["native/addon/addon.cc", "native/addon/container.cc", "native/addon/kmod.cc", "native/addon/peercred.cc", "native/addon/lstat_batch.cc", "<@(nvc_core_discovery)", "<@(nvc_core_driver_client)", "<@(nvc_core_wire)", "<@(nvc_core_setup)", "<@(nvc_core_util)"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "nvc-ts-driver",
      "type": "executable",
      "#": "the driver service: NVML behind the driver protocol",
      "sources": ["<!@(ls -1 native/driver/*.c)", "native/core/wire/wire.c", "native/core/wire/driver_proto.c", "native/core/util/error.c", "native/core/util/fdutil.c"],
      "libraries": ["-ldl"]
    },
    {
      "target_name": "nvc-ts-exec",
      "type": "executable",
      "#": "the executor: applies a plan in the container's mount namespace",
      "sources": ["<!@(ls -1 native/exec/*.c)", "native/core/wire/wire.c", "native/core/wire/plan_codec.c", "native/core/util/path.c", "native/core/util/error.c", "native/core/util/fdutil.c", "native/core/util/pidref.c"]
    },
    {
      "target_name": "nvc-ts-ldconfig",
      "type": "executable",
      "#": "the confined ldconfig runner",
      "sources": ["<!@(ls -1 native/ldconfig/*.c)", "native/core/wire/wire.c", "native/core/wire/ldconfig_report.c", "native/core/util/error.c", "native/core/util/fdutil.c", "native/core/util/pidref.c"]
    },
    {
      "target_name": "nvc-ts-cdi-hook",
      "type": "executable",
      "#": "the hook CDI specs name: symlinks, ld.so.cache and the params copy at container creation",
      "include_dirs": ["native/exec"],
      "sources": ["<!@(ls -1 native/cdi-hook/*.c)", "native/exec/sysmount.c", "native/core/setup/ldconfig_client.c", "native/core/wire/wire.c", "native/core/wire/ldconfig_report.c", "native/core/util/path.c", "native/core/util/child.c", "native/core/util/error.c", "native/core/util/fdutil.c"]
    },
    {
      "target_name": "nvc-ts-cli",
      "type": "executable",
      "#": "the native client of `nvc-ts serve` (installable as nvidia-container-cli); node's path is baked in as the fallback's default",
      "defines": ["NVC_CLIENT_NODE=\"<!(node -p process.execPath)\""],
      "sources": ["native/client/client.c"]
    },
    {
      "target_name": "nvc-mock-nvml",
      "#": "an 'executable' linked with -shared: gyp then names it exactly libnvc-mock-nvml.so, which no .node loader mistakes for the addon",
      "type": "executable",
      "product_name": "libnvc-mock-nvml.so",
      "sources": ["native/mock-nvml/mock_nvml.c"],
      "cflags_c!": ["-fvisibility=hidden"],
      "cflags_c": ["-fPIC"],
      "ldflags": ["-shared", "-Wl,-soname,libnvidia-ml.so.1"],
      "libraries": ["-ldl"]
    }
  ]
}
