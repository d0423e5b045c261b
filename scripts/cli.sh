#!/usr/bin/env bash
# `npm run cli`: run src/cli/main.ts. On a machine with no hardware Vulkan driver (CI, this
# sandbox) use Mesa lavapipe 25 as the WebGPU adapter; a real GPU driver is used when present
# or when VK_ICD_FILENAMES / VK_DRIVER_FILES is already set.
cd "$(dirname "$0")/.."
if [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
  # A hardware GPU shows up as a DRM render node or an NVIDIA ICD.
  if ! ls /dev/dri/renderD* >/dev/null 2>&1 && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
    VK_ICD_FILENAMES="$(bash scripts/setup-lavapipe.sh 2>/dev/null)" && export VK_ICD_FILENAMES
  fi
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
exec node scripts/run-ts.mjs src/cli/main.ts "$@"
