#!/usr/bin/env bash
# Prepare the git-ignored folder .gpu/ that the GPU machine needs to run the benchmarks with no
# network and no npm there: a compressed copy of this machine's node, the `webgpu` package's
# loader and Dawn binary (same layout: .gpu/webgpu/{index.js,package.json,dist/linux-x64/dawn.node}),
# the Vulkan/GL loader .debs, and self-contained bundles of bench/run.ts (and bench/kernels.ts)
# whose `import('webgpu')` points at ./webgpu/index.js. See bench/README.md for the run command.
# Usage: bash scripts/gpu-bundle.sh   (from the repository root; ~1 minute)
set -euo pipefail
cd "$(dirname "$0")/.."

grep -qxF '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude
mkdir -p .gpu/webgpu/dist/linux-x64

# node (x86-64, links only glibc/libstdc++), compressed
if [ ! -s .gpu/node.xz ] || [ "$(which node)" -nt .gpu/node.xz ]; then
  xz -T0 -c "$(readlink -f "$(which node)")" > .gpu/node.xz
fi

# Dawn's Node binding, keeping the package layout index.js expects
cp node_modules/webgpu/index.js node_modules/webgpu/package.json .gpu/webgpu/
cp node_modules/webgpu/dist/linux-x64/dawn.node .gpu/webgpu/dist/linux-x64/

# Vulkan / GL loaders (amd64 .debs, unpacked with dpkg -x on the GPU machine)
PKGS="libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2"
missing=0
for p in $PKGS; do ls .gpu/${p}_*_amd64.deb >/dev/null 2>&1 || missing=1; done
if [ "$missing" = 1 ]; then
  mkdir -p /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  [ -n "$(ls /tmp/amd64/*Packages* 2>/dev/null)" ] || apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd .gpu && apt-get $o download $PKGS)
fi

# Bundles: packages included, webgpu left external and redirected to the copy above
bundle() {
  local src=$1 out=$2
  node scripts/run-ts.mjs "$src" --bundle-only "$out"
  sed -i 's#import("webgpu")#import("./webgpu/index.js")#g; s#from "webgpu"#from "./webgpu/index.js"#g' "$out"
  if grep -q '"webgpu"' "$out"; then echo "gpu-bundle: $out still imports \"webgpu\"" >&2; exit 1; fi
}
bundle bench/run.ts .gpu/bench.mjs
if [ -f bench/kernels.ts ]; then bundle bench/kernels.ts .gpu/kernels.mjs; else rm -f .gpu/kernels.mjs; fi
bundle bench/dispatch.ts .gpu/dispatch.mjs

size=$(du -sb .gpu | cut -f1)
echo "gpu-bundle: .gpu is $((size / 1048576)) MiB"
ls -la .gpu
if [ "$size" -gt $((60 * 1048576)) ]; then echo "gpu-bundle: .gpu exceeds 60 MiB" >&2; exit 1; fi
