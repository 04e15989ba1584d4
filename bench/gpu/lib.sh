# Sourced by the GPU scripts: what their containers share.
# min_rootfs DIR: a Debian-like rootfs with glibc and the C++ runtime copied from the host, empty
# /proc, /sys, /dev, /tmp and /run, and an ld.so.conf that the confined ldconfig reads.
min_rootfs() {
  local r=$1 l
  mkdir -p "$r"/{bin,etc/ld.so.conf.d,proc,sys,dev,tmp,run,nodes,usr/bin,usr/lib/x86_64-linux-gnu,lib/x86_64-linux-gnu,lib64}
  echo 12.0 > "$r/etc/debian_version"
  printf 'include /etc/ld.so.conf.d/*.conf\n/lib/x86_64-linux-gnu\n' > "$r/etc/ld.so.conf"
  for l in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libstdc++.so.6 libgcc_s.so.1; do
    cp -L "/lib/x86_64-linux-gnu/$l" "$r/lib/x86_64-linux-gnu/"
  done
  cp -L /lib64/ld-linux-x86-64.so.2 "$r/lib64/"
}

# time_starts WORK KIND: RUNS (default 7) runs of the bundle WORK/KIND (each from a fresh copy:
# hooks and CDI edits leave a configured rootfs behind), runc run to exit; prints the median, the
# minimum and every sample.
time_starts() {
  local work=$1 kind=$2 i s e rc med min
  local times=()
  for i in $(seq 1 "${RUNS:-7}"); do
    rm -rf "$work/run"; cp -a "$work/$kind" "$work/run"
    s=$(date +%s%N); runc run --bundle "$work/run" "nvc-t-$kind-$i" >/dev/null 2>&1; rc=$?; e=$(date +%s%N)
    times+=($(( (e - s) / 1000 )))
    [ $rc -eq 0 ] || echo "  $kind run $i rc=$rc"
  done
  med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (${RUNS:-7} + 1) / 2 ))p")
  min=$(printf '%s\n' "${times[@]}" | sort -n | head -1)
  echo "  $kind: median $((med / 1000)).$(( (med % 1000) / 100 )) ms, min $((min / 1000)).$(( (min % 1000) / 100 )) ms (us: $(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' '))"
}

# start_service WORK [GLOBAL OPTIONS...]: `nvc-ts [OPTIONS] serve` in the background on
# WORK/nvc-ts.sock, with the PATH runtimes give their hooks (the service answers clients of its
# own environment), waiting until its socket is there. Sets client (the package's native client),
# NVC_TS_SOCKET (exported), HOOK_PATH and serve (the service's pid).
start_service() {
  local work=$1 i
  shift
  client=$(node bin/nvc-ts.js paths --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).cli))')
  export NVC_TS_SOCKET=$work/nvc-ts.sock
  HOOK_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  PATH=$HOOK_PATH "$(command -v node)" bin/nvc-ts.js "$@" serve --socket "$NVC_TS_SOCKET" > "$work/serve.log" 2>&1 &
  serve=$!
  for i in $(seq 1 50); do [ -S "$NVC_TS_SOCKET" ] && break; sleep 0.1; done
}
