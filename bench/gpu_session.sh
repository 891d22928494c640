#!/usr/bin/env bash
# One short GPU session, prepared: the figures bench/RESULTS.md's "GPU throughput" section asks for, then
# (with time left) a task controller trained on the GPU. For a GPU machine with PyTorch; without internet,
# install the extras first (scripts/offline_wheels.sh).
#
#   bash bench/gpu_session.sh OUTDIR [HLC_TASK] [HLC_SECONDS]
#
# OUTDIR receives: env.txt (GPU, versions), bench_4096.txt, bench_1024.txt (bench gpu_throughput at 4096 and
# 1024 characters), bench_4096_host.txt (4096, host-copy environment), and with HLC_TASK: hlc_TASK.log, hlc_TASK.pt (inference), hlc_TASK_state.pt (resumable).
# The HLC run is stopped with SIGINT after HLC_SECONDS (default 240), so it saves.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bash bench/gpu_session.sh OUTDIR [HLC_TASK] [HLC_SECONDS]}
task=${2:-}
hlc_seconds=${3:-240}
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

for n in 4096 1024; do
    timeout 240 python3 launch.py bench gpu_throughput --device cuda --envs "$n" --iterations 4 2>&1 |
        tee "$out/bench_$n.txt"
done
# the same at 4096 with the host-copy environment: what the device arrays buy
timeout 240 python3 launch.py bench gpu_throughput --device cuda --envs 4096 --iterations 4 --arrays host 2>&1 |
    tee "$out/bench_4096_host.txt"

if [ -n "$task" ]; then
    run=runs/gpu_hlc_$task
    timeout -s INT "$hlc_seconds" python3 launch.py train hlc --task "$task" --llc checkpoints/llc.pt \
        --preset reference --device cuda --out "$run" --checkpoint-every 10 --no-progress 2>&1 |
        tee "$out/hlc_$task.log"
    cp "$run/hlc.pt" "$out/hlc_$task.pt" 2>/dev/null
    cp "$run/checkpoint.pt" "$out/hlc_${task}_state.pt" 2>/dev/null
fi
ls -la "$out"
