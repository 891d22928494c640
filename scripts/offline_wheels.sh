#!/usr/bin/env bash
# The GPU extras (MuJoCo, MuJoCo Warp, Warp) as wheels for a GPU machine without internet access that already
# has PyTorch (a cluster node, a cloud image): fetch them on a connected machine, copy the folders over, install.
#
#   scripts/offline_wheels.sh fetch DIR [PYTHON_VERSION] [PART_MB]   # connected machine; default 3.12, 25 MB parts
#   scripts/offline_wheels.sh install TARGET DIR [DIR...]            # GPU machine: reassemble, pip install --target
#   export PYTHONPATH=TARGET:$PYTHONPATH
#
# `fetch` writes DIR/part1, DIR/part2, ...: the wheels cut into pieces of at most PART_MB (warp-lang's wheel is
# ~150 MB) for transfers with a size limit per copy. `install` takes the part folders in any order.
set -euo pipefail

GPU_WHEELS=(mujoco==4.0.0 mujoco-core==4.0.0 mujoco-warp==4.0.0 warp-lang==1.19.0 array-api-compat==1.16.0)

fetch() {
    local dir=$1 py=${2:-3.12} part_mb=${3:-25}
    local tmp
    tmp=$(mktemp -d)
    local plats=()
    for n in 17 27 28 31 34 35; do plats+=(--platform "manylinux_2_${n}_x86_64"); done
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
        "${plats[@]}" --platform manylinux2014_x86_64 -d "$tmp" "${GPU_WHEELS[@]}"
    (cd "$tmp" && sha256sum ./*.whl >SHA256SUMS && tar -cf "$tmp/wheels.tar" ./*.whl SHA256SUMS)
    rm -rf "$dir" && mkdir -p "$dir"
    split -b "${part_mb}M" -d -a 2 "$tmp/wheels.tar" "$tmp/wheels.tar.part"
    local i=1
    for piece in "$tmp"/wheels.tar.part*; do
        mkdir -p "$dir/part$i" && mv "$piece" "$dir/part$i/"
        i=$((i + 1))
    done
    rm -rf "$tmp"
    echo "wrote $((i - 1)) parts under $dir ($(du -sh "$dir" | cut -f1)) for Python $py:"
    printf '  %s\n' "${GPU_WHEELS[@]}"
}

install() {
    local target=$1
    shift
    local tmp
    tmp=$(mktemp -d)
    cat $(find "$@" -name 'wheels.tar.part*' | awk -F'part' '{print $NF" "$0}' | sort -n | cut -d' ' -f2-) \
        >"$tmp/wheels.tar"
    tar -xf "$tmp/wheels.tar" -C "$tmp"
    (cd "$tmp" && sha256sum -c --quiet SHA256SUMS) || {
        echo "offline_wheels: the parts do not reassemble into the fetched wheels (a part missing?)" >&2
        exit 1
    }
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$target" \
        "$tmp"/*.whl
    rm -rf "$tmp"
    echo "installed into $target: export PYTHONPATH=$target:\$PYTHONPATH"
}

case "${1:-}" in
fetch) shift && fetch "$@" ;;
install) shift && install "$@" ;;
*)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
