#!/usr/bin/env bash
# Run on a machine with network, before benchmarks/gpu_run.sh: the wheels a GPU machine without network lacks (it has torch,
# torchvision, timm, pillow and numpy, and no network), at the versions of requirements.lock, for
# its Python 3.12, into .whl/ (ignored by git; name it in the device call's carry).  31 MB: with
# the 11 MB working tree, inside the 64 MiB a call carries.  The device command is
# benchmarks/gpu_run.sh.  Polars (54 MB) is not among them: the benchmarks' import path avoids it.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGES="open-clip-torch ftfy wcwidth nvidia-nvimgcodec-cu13 nvidia-nvjpeg"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir .whl
for name in $PACKAGES; do
    pin=$(grep -i "^${name}==" requirements.lock) || { echo "$name is not in requirements.lock" >&2; exit 1; }
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$pin"
done
du -sh .whl
