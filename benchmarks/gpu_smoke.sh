#!/usr/bin/env bash
# The GPU smoke check, for a lent accelerator (run from the repository root, `PYTHONPATH=.`, any python3 with
# torch + CUDA, numba, scikit-learn, pandas; nothing installed). Under 8 minutes on one GPU; prints a
# line per step and a summary, exits 1 when a step failed:
#   1. backbone equivalence on CUDA: every usable backend on the GPU vs the CPU reference (benchmarks/gpu_checks.py)
#   2. the backbones benchmark on CUDA (forward + backward time and peak memory per backend)
#   3. a one-round tiny active-learning run on CUDA (synthetic rooms, ReDAL, MinkUNet x0.25)
# Usage: PYTHONPATH=. bash benchmarks/gpu_smoke.sh [OUT_DIR]
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${1:-${OUT:-/tmp/redal-gpu-smoke}}
mkdir -p "$OUT"
export PYTHONPATH=${PYTHONPATH:-.}
failed=0
step() {
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    echo "== $name"
    if timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; then
        echo "   ok ($((SECONDS - t0)) s)"
    else
        echo "   FAILED (exit $?, $((SECONDS - t0)) s); last lines of $OUT/$name.log:"; failed=$((failed + 1))
    fi
    tail -n 25 "$OUT/$name.log" | sed 's/^/   | /'
}
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
step equivalence 180 $PY benchmarks/gpu_checks.py
step backbones 240 $PY benchmarks/backbones.py --reps 5 --warmup 2 --inputs room kitti
cat > "$OUT/tiny.yaml" <<YAML
results_dir: $OUT/results
dataset: {name: synthetic-indoor, root: $OUT/rooms, knn: 16, generate: {scans: 8, points_per_room: 3000, seed: 0}}
model: {name: minkunet, width: 0.25, backend: auto}
train: {epochs_init: 3, epochs_finetune: 2, batch_size: 4, device: cuda, lr: 0.01}
active: {strategy: ReDAL, x_init: 30.0, x_active: 8.0, rounds: 1, clusters: 4}
YAML
step tiny_run 180 $PY -m redal_core.cli run "$OUT/tiny.yaml"
[ -f "$OUT/results/runs/synthetic-indoor-minkunet-redal-s0/env.json" ] && cat "$OUT/results/runs/synthetic-indoor-minkunet-redal-s0/env.json" | head -40
echo "gpu_smoke: $failed step(s) failed"
exit $((failed > 0))
