#!/usr/bin/env bash
# The GPU measurements in one call on a GPU machine without network (after benchmarks/gpu_wheels.sh
# on a machine with one): `bash benchmarks/gpu_run.sh`, with .whl/ copied beside the checkout.
# Installs the carried wheels, then writes to $OUT (JSON, one file per benchmark, and a log):
# CLIP ViT-B/32 images/s with the pil (12 CPU workers), tensor, tensor+cpu and nvimgcodec decoders in the same
# run, and channels-last against NCHW for timm classifiers in bf16.  Each step has
# its own time limit, so one that hangs leaves the others' results.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.csv" 2>&1
bench() {  # name, time limit, module and arguments
    local name=$1 limit=$2
    shift 2
    timeout "$limit" python3 -W ignore -m "$@" > "$OUT/$name.json" 2>> "$OUT/log.txt"
    echo "$name: exit $?" | tee -a "$OUT/log.txt"
}
bench decode 300 benchmarks.bench_gpu_decode --only-throughput --decoders pil,tensor,tensor+cpu,nvimgcodec --images 4096 --repeat 2
bench memory_format 150 benchmarks.bench_memory_format --device cuda --precision bf16 --batch 256 \
    --models resnet50,efficientnet_b0,convnext_tiny,vit_base_patch16_224
tail -n 30 "$OUT"/*.json
