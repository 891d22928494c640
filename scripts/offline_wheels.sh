#!/usr/bin/env bash
# The GPU extras (MuJoCo, MuJoCo Warp, Warp) for a GPU machine without internet access that already has
# PyTorch (a cluster node, a cloud image): fetch them on a connected machine, copy the folders over, install.
#
#   scripts/offline_wheels.sh fetch DIR [PYTHON_VERSION] [PART_MB]   # the wheels; default 3.12, 25 MB parts
#   scripts/offline_wheels.sh pack DIR [PYTHON_VERSION] [PART_MB]    # smaller: an xz'd tree, CUDA only
#   scripts/offline_wheels.sh install TARGET DIR [DIR...]            # GPU machine: reassemble, install
#   export PYTHONPATH=TARGET:$PYTHONPATH
#
# `fetch` writes DIR/part1, DIR/part2, ...: the wheels (~160 MB; warp-lang's alone ~150 MB) cut into pieces
# of at most PART_MB for transfers with a size limit per copy. `pack` unpacks the same wheels into one
# site-packages tree without Warp's examples, tests and CPU compiler (warp-clang: Warp's CPU device is then
# unavailable, CUDA is not affected) and xz-compresses it: ~89 MB in all (Warp's 300 MB library packs to
# 80 MB), 2 min of one core to pack. `install` takes either kind of part folders, in any order.
set -euo pipefail

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

GPU_WHEELS=(mujoco==4.0.0 mujoco-core==4.0.0 mujoco-warp==4.0.0 warp-lang==1.19.0 array-api-compat==1.16.0)

download() { # download DIR PYTHON_VERSION
    local plats=()
    for n in 17 27 28 31 34 35; do plats+=(--platform "manylinux_2_${n}_x86_64"); done
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$2" --implementation cp \
        "${plats[@]}" --platform manylinux2014_x86_64 -d "$1" "${GPU_WHEELS[@]}"
}

split_parts() { # split_parts FILE DIR PART_MB: DIR/part1/FILE.part00, DIR/part2/FILE.part01, ...
    local file=$1 dir=$2 part_mb=$3 i=1
    rm -rf "$dir" && mkdir -p "$dir"
    split -b "${part_mb}M" -d -a 2 "$file" "$file.part"
    for piece in "$file".part*; do
        mkdir -p "$dir/part$i" && mv "$piece" "$dir/part$i/"
        i=$((i + 1))
    done
    echo "wrote $((i - 1)) parts under $dir ($(du -sh "$dir" | cut -f1)):"
    printf '  %s\n' "${GPU_WHEELS[@]}"
}

fetch() {
    local dir=$1 py=${2:-3.12} part_mb=${3:-25}
    download "$tmp" "$py"
    (cd "$tmp" && sha256sum ./*.whl >SHA256SUMS && tar -cf "$tmp/wheels.tar" ./*.whl SHA256SUMS)
    split_parts "$tmp/wheels.tar" "$dir" "$part_mb"
}

pack() {
    local dir=$1 py=${2:-3.12} part_mb=${3:-25}
    download "$tmp/whl" "$py"
    mkdir -p "$tmp/site"
    for w in "$tmp"/whl/*.whl; do python3 -m zipfile -e "$w" "$tmp/site"; done
    rm -rf "$tmp/site/warp/examples" "$tmp/site/warp/tests" "$tmp/site/warp/bin/warp-clang.so"
    (cd "$tmp/site" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum >"$tmp/sums" && mv "$tmp/sums" SHA256SUMS)
    tar -C "$tmp/site" -cf - . | xz -6 -T0 >"$tmp/site.tar.xz"
    split_parts "$tmp/site.tar.xz" "$dir" "$part_mb"
}

parts() { # parts NAME DIR...: the NAME.partNN files under the folders, in part order
    local name=$1
    shift
    find "$@" -name "$name.part*" | awk -F'part' '{print $NF" "$0}' | sort -n | cut -d' ' -f2-
}

install() {
    local target=$1
    shift
    if [ -n "$(parts site.tar.xz "$@")" ]; then
        mkdir -p "$tmp/site"
        cat $(parts site.tar.xz "$@") | xz -d -T0 | tar -x -C "$tmp/site" &&
            (cd "$tmp/site" && sha256sum -c --quiet SHA256SUMS) || {
            echo "offline_wheels: the parts do not unpack into the packed files (a part missing or cut short?)" >&2
            exit 1
        }
        mkdir -p "$target" && cp -a "$tmp/site/." "$target/"
    else
        cat $(parts wheels.tar "$@") >"$tmp/wheels.tar"
        tar -xf "$tmp/wheels.tar" -C "$tmp"
        (cd "$tmp" && sha256sum -c --quiet SHA256SUMS) || {
            echo "offline_wheels: the parts do not reassemble into the fetched wheels (a part missing?)" >&2
            exit 1
        }
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$target" \
            "$tmp"/*.whl
    fi
    echo "installed into $target: export PYTHONPATH=$target:\$PYTHONPATH"
}

case "${1:-}" in
fetch) shift && fetch "$@" ;;
pack) shift && pack "$@" ;;
install) shift && install "$@" ;;
*)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
