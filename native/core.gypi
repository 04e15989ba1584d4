# The C core's sources, shared by every target that links the core: every .c in native/core.
{
  "variables": {
    "nvc_core_sources": ["<!@(ls -1 native/core/*.c)"]
  }
}
