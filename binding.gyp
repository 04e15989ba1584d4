{
  "includes": ["native/core.gypi"],
  "variables": {
    "nvc_c_flags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-Wno-format-truncation", "-fvisibility=hidden", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong"]
  },
  "target_defaults": {
    "include_dirs": ["native/include", "native/core", "native/addon", "deps/nvml"],
    "cflags_c": ["<@(nvc_c_flags)"],
    "cflags!": ["-fno-exceptions"],
    "conditions": [["OS!='linux'", { "type": "none" }]]
  },
  "targets": [
    {
      "target_name": "nvc_ts",
      "sources": ["native/addon/addon.cc", "native/addon/container.cc", "<@(nvc_core_sources)"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror", "-fvisibility=hidden"],
      "libraries": ["-lpthread"]
    },
    {
      "target_name": "nvc-ts-driver",
      "type": "executable",
      "sources": ["native/helper/main.c", "native/helper/nvml_ops.c", "native/core/proto.c", "native/core/wire.c", "native/core/error.c", "native/core/fdutil.c"],
      "libraries": ["-ldl"]
    },
    {
      "target_name": "nvc-ts-exec",
      "type": "executable",
      "sources": ["<!@(ls -1 native/exec/*.c)", "native/core/plan_codec.c", "native/core/wire.c", "native/core/path.c", "native/core/error.c", "native/core/fdutil.c"]
    },
    {
      "target_name": "nvc-ts-ldconfig",
      "type": "executable",
      "sources": ["native/ldconfig/main.c", "native/ldconfig/confine.c", "native/ldconfig/sealed.c", "native/ldconfig/seccomp.c", "native/core/ldconfig_report.c", "native/core/wire.c", "native/core/error.c", "native/core/fdutil.c"]
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
