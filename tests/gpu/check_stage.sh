#!/usr/bin/env bash
# Checks that a folder made by stage.sh runs where it is carried: every ELF file in it resolves,
# through ldd with LD_LIBRARY_PATH unset, to libraries inside the folder or to the system's own
# (glibc's, libstdc++, libgcc_s, zlib), and needs no newer glibc or libstdc++ than Ubuntu 22.04's.
#   tests/gpu/check_stage.sh STAGE_DIR
# Exits 1 naming each file and library that breaks this.
set -euo pipefail
stage=$(cd "${1:?usage: check_stage.sh STAGE_DIR}" && pwd)
# What every Linux machine with a CUDA driver and PyTorch has.
system='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libz\.so\.1)$'
# Ubuntu 22.04's glibc and libstdc++ (GCC 12); newer symbol versions would not load there.
max_glibc=2.35
max_glibcxx=3.4.30

failures=0
fail() {
  echo "[check_stage] $1" >&2
  failures=$((failures + 1))
}
newer_than() { # VERSION BOUND: true when VERSION > BOUND
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -1)" = "$1" ]
}

elves=0
while IFS= read -r -d '' file; do
  [ "$(head -c 4 "$file" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
  elves=$((elves + 1))
  name=${file#"$stage"/}
  if ! listing=$(env -u LD_LIBRARY_PATH -u LD_PRELOAD ldd "$file" 2>&1); then
    fail "$name: ldd failed: $listing"
    continue
  fi
  while read -r line; do
    [ -n "$line" ] || continue
    case $line in
      *"not found"*) fail "$name: $line" ;;
      *" => "*)
        soname=${line%% => *}
        path=${line#* => }
        path=${path%% (*}
        if [[ $path != "$stage"/* ]] && ! [[ $soname =~ $system ]]; then
          fail "$name: needs $soname from $path, outside the stage and not a system library"
        fi
        ;;
      *) # the loader and the vDSO, printed without "=>"
        soname=$(basename "${line%% (*}")
        [[ $soname =~ $system ]] || fail "$name: unexpected ldd line: $line"
        ;;
    esac
  done <<<"$listing"
  if command -v objdump >/dev/null; then
    versions=$(objdump -T "$file" | grep -oE 'GLIBC(XX)?_[0-9.]+' | sort -u || true)
    glibc=$(grep -oP '^GLIBC_\K.*' <<<"$versions" | sort -V | tail -1 || true)
    glibcxx=$(grep -oP '^GLIBCXX_\K.*' <<<"$versions" | sort -V | tail -1 || true)
    [ -z "$glibc" ] || ! newer_than "$glibc" "$max_glibc" || fail "$name: needs GLIBC_$glibc (> $max_glibc)"
    [ -z "$glibcxx" ] || ! newer_than "$glibcxx" "$max_glibcxx" || fail "$name: needs GLIBCXX_$glibcxx (> $max_glibcxx)"
  fi
done < <(find "$stage" -type f -print0)

[ "$elves" -gt 0 ] || fail "no ELF file in $stage: not a stage (tests/gpu/stage.sh makes one)"
if [ "$failures" -gt 0 ]; then
  echo "[check_stage] $stage is not self-contained: $failures problem(s)" >&2
  exit 1
fi
echo "[check_stage] ok: $elves binaries in $stage need only system libraries from outside it"
