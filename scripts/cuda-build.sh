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
# dfdx compiles some kernels (reshape, concat, ...) at run time with NVRTC, and the include paths it
# gives NVRTC are baked in at build time: $CUDA_ROOT/include and dfdx's build OUT_DIR (its .cuh
# files). The bundle therefore carries both, as a tarball with absolute paths, and its run script
# unpacks them at the same paths on the GPU machine before running the tests.
#
# Usage: scripts/cuda-build.sh BUNDLE_DIR [WORKDIR]   (WORKDIR default /tmp/drg-cuda-toolchain)
# BUNDLE_DIR receives: composite_ops (the test binary), nvrtc-includes.tar.gz, layers.npz and
# run-on-gpu.sh (run it there from BUNDLE_DIR's parent: `bash BUNDLE/run-on-gpu.sh`).
set -euo pipefail
BUNDLE=$(mkdir -p "$1" && cd "$1" && pwd)
WORK=${2:-/tmp/drg-cuda-toolchain}
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
BIN=$(cargo test -p drg-core --features cuda --test composite_ops --no-run --message-format=json \
  | python3 -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "composite_ops":
        print(m["executable"])')
# dfdx's build OUT_DIR (absolute; the one whose path is baked into the binary)
OUT_DIR="$REPO/target/debug/$(strings "$BIN" | grep -oE 'build/dfdx-[0-9a-f]+/out' | head -1)"
test -f "$OUT_DIR/cuda_utils.cuh"
cp "$BIN" "$BUNDLE/composite_ops"
tar -czPf "$BUNDLE/nvrtc-includes.tar.gz" "$ROOT/include" "$OUT_DIR"/*.cuh
# the fixture path is compiled in (CARGO_MANIFEST_DIR/../../shared/fixtures)
FIX="$(cd "$REPO/drg-core" && pwd)/../../shared/fixtures"
cp "$FIX/layers.npz" "$BUNDLE/"
cat > "$BUNDLE/run-on-gpu.sh" <<RUN
#!/usr/bin/env bash
# Runs the composite-op tests (CPU and CUDA) on a GPU machine with the driver and the cuBLAS and
# NVRTC libraries (PyPI nvidia-cublas / nvidia-cuda-nvrtc or a toolkit) but no Rust.
set -euo pipefail
B=\$(cd "\$(dirname "\$0")" && pwd)
tar -xzPf "\$B/nvrtc-includes.tar.gz"
mkdir -p "$REPO/drg-core" "$FIX" && cp "\$B/layers.npz" "$FIX/"
for lib in libcublas.so.13 libnvrtc.so.13; do
  d=\$(dirname "\$(find /opt /usr -name \$lib 2>/dev/null | head -1)")
  export LD_LIBRARY_PATH=\$d:\${LD_LIBRARY_PATH:-}
done
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv
chmod +x "\$B/composite_ops"
"\$B/composite_ops" --test-threads=1 "\$@"
RUN
echo "$BUNDLE"
