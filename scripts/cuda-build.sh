#!/usr/bin/env bash
# Builds the CUDA binaries (feature `cuda`) on a machine WITHOUT a GPU or CUDA toolkit, to be
# carried to a GPU machine (which has the NVIDIA driver and cuBLAS/NVRTC but no Rust): drg-core's
# composite-op test, the models' GPU training test (models/tests/cuda_train.rs) and `model_d`.
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
# BUNDLE_DIR receives: composite_ops and cuda_train (test binaries), model_d (release),
# nvrtc-includes.tar.gz, layers.npz and run-on-gpu.sh (run it there from BUNDLE_DIR's parent:
# `bash BUNDLE/run-on-gpu.sh --epochs 2`).
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
# A target folder of its own: the CUDA build must not replace the CPU binaries in target/.
TARGET="$REPO/target/cuda"
export CUDA_ROOT="$ROOT" PATH="$WORK/bin:$ROOT/bin:$PATH" CARGO_TARGET_DIR="$TARGET"
# artifact PROFILE_ARGS... : builds with cargo and prints the path of the named executable
artifact() {
  local name=$1; shift
  cargo "$@" --message-format=json | python3 -c 'import sys, json
name = sys.argv[1]
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == name:
        print(m["executable"])' "$name"
}
OPS=$(artifact composite_ops test -p drg-core --features cuda --test composite_ops --no-run)
TRAIN=$(artifact cuda_train test -p drg-models --features cuda --test cuda_train --no-run)
MODEL_D=$(artifact model_d build --release -p drg-models --features cuda --bin model_d)
for b in "$OPS" "$TRAIN" "$MODEL_D"; do
  strip -o "$BUNDLE/$(basename "$b" | sed -E 's/-[0-9a-f]{16}$//')" "$b"
done
# dfdx's build OUT_DIRs (absolute; the paths baked into the binaries, one per profile)
OUT_DIRS=$(for b in "$OPS" "$TRAIN" "$MODEL_D"; do
  profile=${b#"$TARGET"/}; profile=${profile%%/*}
  echo "$TARGET/$profile/$(strings "$b" | grep -oE 'build/dfdx-[0-9a-f]+/out' | head -1)"
done | sort -u)
for d in $OUT_DIRS; do test -f "$d/cuda_utils.cuh"; done
tar -czPf "$BUNDLE/nvrtc-includes.tar.gz" "$ROOT/include" $(for d in $OUT_DIRS; do echo "$d"/*.cuh; done)
# the fixture path is compiled in (CARGO_MANIFEST_DIR/../../shared/fixtures)
FIX="$(cd "$REPO/drg-core" && pwd)/../../shared/fixtures"
cp "$FIX/layers.npz" "$BUNDLE/"
cat > "$BUNDLE/run-on-gpu.sh" <<RUN
#!/usr/bin/env bash
# On a GPU machine with the driver and the cuBLAS and NVRTC libraries (PyPI nvidia-cublas /
# nvidia-cuda-nvrtc or a toolkit) but no Rust: the composite-op tests (CPU and CUDA), the GPU
# training tests (a CPU run resumed on the GPU matches the CPU's), then model D trained on the
# built-in dataset with --device cuda:0 (extra arguments go to model_d, e.g. --epochs 2).
set -euo pipefail
B=\$(cd "\$(dirname "\$0")" && pwd)
tar -xzPf "\$B/nvrtc-includes.tar.gz"
mkdir -p "$REPO/drg-core" "$FIX" && cp "\$B/layers.npz" "$FIX/"
for lib in libcublas.so.13 libnvrtc.so.13; do
  d=\$(dirname "\$(find /opt /usr -name \$lib 2>/dev/null | head -1)")
  export LD_LIBRARY_PATH=\$d:\${LD_LIBRARY_PATH:-}
done
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv
chmod +x "\$B/composite_ops" "\$B/cuda_train" "\$B/model_d"
"\$B/composite_ops" --test-threads=1
"\$B/cuda_train" --test-threads=1
"\$B/model_d" --device cuda:0 "\$@"
RUN
ls -l "$BUNDLE"
