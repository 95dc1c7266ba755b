#!/usr/bin/env bash
# The in-process library must stay lean (DESIGN.md): its NEEDED entries are libc, libstdc++,
# libgcc, libm, the dynamic loader and nothing else (no libprotobuf, libpython, libcupti, libcuda),
# and it exports only the pm_* C ABI.
set -euo pipefail
library=$1
needed=$(readelf -d "$library" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
status=0
for entry in $needed; do
  case "$entry" in
    libc.so.*|libstdc++.so.*|libgcc_s.so.*|libm.so.*|ld-linux*.so.*|libdl.so.*|libpthread.so.*) ;;
    *) echo "FAIL: $library needs $entry"; status=1 ;;
  esac
done
exported=$(nm -D --defined-only "$library" | awk '{print $3}' | grep -v '^pm_' || true)
if [ -n "$exported" ]; then
  echo "FAIL: $library exports more than the pm_* C ABI:"
  echo "$exported"
  status=1
fi
[ "$status" -eq 0 ] && echo "ok: $library needs only: $(echo $needed) and exports only pm_*"
exit "$status"
