#!/usr/bin/env bash
# An in-process library must stay lean (DESIGN.md): its NEEDED entries are libc, libstdc++,
# libgcc, libm, the dynamic loader and our own recorder, nothing else (no libprotobuf, libpython,
# libcupti, libcuda), and it exports only its C ABI.
#   in_process_library.sh LIBRARY EXPORT_REGEX
set -euo pipefail
library=$1
exports=$2
needed=$(readelf -d "$library" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
status=0
for entry in $needed; do
  case "$entry" in
    libc.so.*|libstdc++.so.*|libgcc_s.so.*|libm.so.*|ld-linux*.so.*|libdl.so.*|libpthread.so.*) ;;
    libprofilemate_recorder.so) ;;
    *) echo "FAIL: $library needs $entry"; status=1 ;;
  esac
done
exported=$(nm -D --defined-only "$library" | awk '{print $3}' | grep -Ev "$exports" || true)
if [ -n "$exported" ]; then
  echo "FAIL: $library exports more than its C ABI ($exports):"
  echo "$exported"
  status=1
fi
[ "$status" -eq 0 ] && echo "ok: $library needs only: $(echo $needed) and exports only $exports"
exit "$status"
