#!/usr/bin/env bash
# System packages the tests need: the Vulkan loader (Dawn), Chromium (e2e), a Bengali font
# (screenshots), xz. Installs only what is missing.
set -euo pipefail
need=()
ldconfig -p | grep -q 'libvulkan.so.1' || need+=(libvulkan1)
[ -x /usr/bin/chromium ] || need+=(chromium)
fc-list 2>/dev/null | grep -qi 'lohit.*bengali' || need+=(fonts-lohit-beng-bengali)
command -v xz >/dev/null || need+=(xz-utils)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
echo "installing: ${need[*]}" >&2
$SUDO apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2
