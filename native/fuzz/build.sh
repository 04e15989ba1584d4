#!/bin/sh
# Builds every libFuzzer target of native/fuzz/targets with clang, ASan and UBSan.
#   sh native/fuzz/build.sh [OUT]      (OUT defaults to build/fuzz)
# The core is compiled once into an archive with the same sanitizers (coverage-
# instrumented, without libFuzzer's main); a target that needs a static parser includes
# that one .c, whose definitions then win over the archive's (an archive member is only
# pulled for a symbol still undefined).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
native=$(dirname "$here")
out=${1:-build/fuzz}
cc=${CC_FUZZ:-clang}
mkdir -p "$out/obj"

san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
cflags="-std=gnu11 -Wall -Wextra -Werror -Wno-unused-function $san"
inc="-I$native/include -I$native/core/discovery -I$native/core/driver-client -I$native/core/wire \
-I$native/core/setup -I$native/core/util -I$native/../deps/nvml"

objs=""
for src in "$native"/core/*/*.c "$native"/cdi-hook/json.c; do
  rel=${src#"$native"/}
  obj="$out/obj/$(echo "$rel" | tr / _ | sed 's/\.c$/.o/')"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
    $cc $cflags -fsanitize=fuzzer-no-link $inc -c "$src" -o "$obj"
  fi
  objs="$objs $obj"
done
rm -f "$out/libcore.a"
ar rcs "$out/libcore.a" $objs

for t in "$here"/targets/*.c; do
  name=$(basename "$t" .c)
  bin="$out/$name"
  # Rebuild when the target or anything in the core changed.
  if [ ! -f "$bin" ] || [ "$t" -nt "$bin" ] || [ "$out/libcore.a" -nt "$bin" ] || [ "$here/fuzz.h" -nt "$bin" ]; then
    $cc $cflags -fsanitize=fuzzer $inc "$t" "$out/libcore.a" -ldl -lpthread -o "$bin"
  fi
done
# The seed writer (not a fuzz target): plain ASan/UBSan, no libFuzzer.
if [ ! -f "$out/make-seeds" ] || [ "$here/seeds.c" -nt "$out/make-seeds" ] || [ "$out/libcore.a" -nt "$out/make-seeds" ]; then
  $cc $cflags $inc "$here/seeds.c" "$out/libcore.a" -fsanitize=fuzzer-no-link -ldl -lpthread -o "$out/make-seeds"
fi
echo "fuzz targets in $out"
