#!/usr/bin/env bash
# One short GPU session, prepared: the figures bench/RESULTS.md's "GPU throughput" section asks for, then
# (with time left) a task controller trained on the GPU. For a GPU machine with PyTorch; without internet,
# install the extras first (scripts/offline_wheels.sh fetch or pack, then install).
#
#   bash bench/gpu_session.sh OUTDIR [HLC_TASK] [TOTAL_SECONDS]
#
# Everything ends within TOTAL_SECONDS (default 900; a lent machine's per-command limit, say): the benchmark
# at 4096 characters first (it pays Warp's kernel compilation), then, while time is left, the host-copy
# environment at 4096 and the benchmark at 1024, and the HLC trains for what remains, stopped with SIGINT
# 25 s before the end so it saves. OUTDIR receives env.txt (GPU, versions), bench_4096.txt,
# bench_4096_host.txt, bench_1024.txt, dmon.txt (GPU utilisation every 5 s) and with HLC_TASK:
# hlc_TASK.log, hlc_TASK.pt (inference), hlc_TASK_state.pt (resumable).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash bench/gpu_session.sh OUTDIR [HLC_TASK] [TOTAL_SECONDS]}
task=${2:-}
t0=$(date +%s)
total=${3:-900}
left() { echo $((t0 + total - $(date +%s))); }
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
    echo "gpu_session: torch sees no CUDA device; this script is for a GPU machine" >&2
    exit 2
}

{
    date -u
    nvidia-smi -L || true
    python3 -c "import torch, mujoco, warp, mujoco_warp; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-'); print('mujoco', mujoco.__version__, 'warp', warp.__version__)"
    nproc
} 2>&1 | tee "$out/env.txt"
nvidia-smi dmon -s u -d 5 >"$out/dmon.txt" 2>&1 &
dmon=$!

bench() { # bench SECONDS FILE ARGS...: only when that much time is left
    local s=$1 file=$2
    shift 2
    if [ "$(left)" -lt "$((s + 30))" ]; then
        echo "gpu_session: skipped $file ($(left) s left)" | tee "$out/$file"
        return
    fi
    timeout "$s" python3 launch.py bench gpu_throughput --device cuda --iterations 4 "$@" 2>&1 | tee "$out/$file"
}
bench $((total / 3)) bench_4096.txt --envs 4096
bench 90 bench_4096_host.txt --envs 4096 --arrays host # what the device arrays buy
bench 60 bench_1024.txt --envs 1024

hlc_seconds=$(($(left) - 25))
if [ -n "$task" ] && [ "$hlc_seconds" -gt 60 ]; then
    run=runs/gpu_hlc_$task
    timeout -s INT -k 20 "$hlc_seconds" python3 launch.py train hlc --task "$task" --llc checkpoints/llc.pt \
        --preset reference --device cuda --out "$run" --checkpoint-every 10 --no-progress 2>&1 |
        tee "$out/hlc_$task.log"
    cp "$run/hlc.pt" "$out/hlc_$task.pt" 2>/dev/null
    cp "$run/checkpoint.pt" "$out/hlc_${task}_state.pt" 2>/dev/null
elif [ -n "$task" ]; then
    echo "gpu_session: no time left to train the $task HLC ($(left) s)"
fi
kill "$dmon" 2>/dev/null
ls -la "$out"
echo "gpu_session: $(($(date +%s) - t0)) s"
