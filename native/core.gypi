# The C core's sources by subsystem (native/README.md says what each holds). The addon links
# them all; each helper executable names the subsystems it is built from. Paths written here
# (not command output) are relative to this file, as gyp reads them.
{
  "variables": {
    "nvc_core_include_dirs": ["core/discovery", "core/driver-client", "core/wire", "core/setup", "core/util"],
    "nvc_core_discovery": ["<!@(ls -1 native/core/discovery/*.c)"],
    "nvc_core_driver_client": ["<!@(ls -1 native/core/driver-client/*.c)"],
    "nvc_core_wire": ["<!@(ls -1 native/core/wire/*.c)"],
    "nvc_core_setup": ["<!@(ls -1 native/core/setup/*.c)"],
    "nvc_core_util": ["<!@(ls -1 native/core/util/*.c)"]
  }
}
