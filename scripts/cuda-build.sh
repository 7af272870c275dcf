#!/usr/bin/env bash
# Builds drg-core's CUDA test binary (feature `cuda`) on a machine WITHOUT a GPU or CUDA toolkit,
# to be carried to a GPU machine (which has the NVIDIA driver and cuBLAS/NVRTC but no Rust).
#
# dfdx 0.13 (`cuda`) needs: `nvcc` (its build script compiles its .cu kernels to PTX),
# `include/cuda.h` under CUDA_ROOT, `nvidia-smi` (asked for the compute capability), and, through
# cudarc 0.9, the libraries cuda, cublas, cublasLt, curand and nvrtc at link time.
# * nvcc, headers, NVRTC: PyPI wheels pinned to CUDA 13.0.x (the GPU machines' driver is 580 =
#   CUDA 13.0; nvcc 13.0.88 emits PTX 9.0, which that driver loads — later nvcc emit newer PTX).
# * nvidia-smi: a stand-in printing compute capability 9.0 (H100/H200).
# * libcuda / libcublas / libcublasLt / libcurand: link stubs with the real SONAMEs, defining
#   every function cudarc's bindings declare; at run time the loader binds the real libraries.
#
# Usage: scripts/cuda-build.sh [WORKDIR]   (default /tmp/drg-cuda-toolchain)
# Prints the path of the test binary `composite_ops` on its last line.
set -euo pipefail
WORK=${1:-/tmp/drg-cuda-toolchain}
REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$WORK/wheels" "$WORK/bin"

if [ ! -x "$WORK/x/nvidia/cu13/bin/nvcc" ]; then
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_27_x86_64 \
    -d "$WORK/wheels" \
    nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88 \
    nvidia-cuda-cccl==13.0.85 nvidia-cuda-runtime==13.0.96 nvidia-cuda-nvrtc==13.0.88
  for w in "$WORK"/wheels/*.whl; do unzip -qo "$w" -d "$WORK/x"; done
fi
ROOT="$WORK/x/nvidia/cu13"
mkdir -p "$ROOT/lib64"
ln -sf "$ROOT/lib/libnvrtc.so.13" "$ROOT/lib64/libnvrtc.so"
# nvcc looks for nvvm/ and crt next to its bin/
chmod +x "$ROOT"/bin/* "$ROOT"/nvvm/bin/* 2>/dev/null || true

# link stubs: every `pub fn NAME(` of cudarc's extern blocks, as a no-op C function
CUDARC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.9.15 | head -1)
stub() { # stub LIB SONAME SYS_RS
  local lib=$1 soname=$2 sys=$3
  grep -oE 'pub fn [A-Za-z_][A-Za-z0-9_]*\(' "$sys" | sed -E 's/pub fn (.*)\(/void \1(void) {}/' | sort -u > "$WORK/$lib.c"
  cc -shared -fPIC -o "$ROOT/lib64/$lib.so" -Wl,-soname,"$soname" "$WORK/$lib.c"
}
stub libcuda libcuda.so.1 "$CUDARC/src/driver/sys.rs"
stub libcublas libcublas.so.13 "$CUDARC/src/cublas/sys.rs"
stub libcublasLt libcublasLt.so.13 "$CUDARC/src/cublaslt/sys.rs"
stub libcurand libcurand.so.10 "$CUDARC/src/curand/sys.rs"

printf '#!/bin/sh\necho compute_cap\necho 9.0\n' > "$WORK/bin/nvidia-smi"
chmod +x "$WORK/bin/nvidia-smi"

cd "$REPO"
export CUDA_ROOT="$ROOT" PATH="$WORK/bin:$ROOT/bin:$PATH"
cargo test -p drg-core --features cuda --test composite_ops --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "composite_ops":
        print(m["executable"])'
