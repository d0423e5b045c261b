#!/usr/bin/env bash
# Fetch Mesa's lavapipe (software Vulkan) from bookworm-backports into .vendor/mesa and write an
# ICD json for it. Dawn rejects Debian 12's own Mesa 22 lavapipe; backports carries Mesa 25.
# The repository URI is read from this machine's own apt sources (nothing is hard-coded here).
# Prints the ICD path on stdout. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.vendor/mesa"
icd="$dest/lvp_icd.json"
if [ -f "$icd" ]; then echo "$icd"; exit 0; fi
mkdir -p "$dest/apt/lists/partial" "$dest/debs"
srcs=$(ls /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
uri=$(cat $srcs /dev/null | grep -hoE '^(URIs:|deb) +\S+' | awk '{print $2}' | grep -i debian | grep -v security | head -n1 || true)
[ -n "$uri" ] || { echo "setup-lavapipe: no apt source URI found on this machine" >&2; exit 1; }
echo "deb $uri bookworm-backports main" > "$dest/apt/sources.list"
opts=(-o Dir::Etc::SourceList="$dest/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$dest/apt/lists" -o Debug::NoLocking=1)
apt-get "${opts[@]}" update >&2
( cd "$dest/debs" && apt-get "${opts[@]}" download -t bookworm-backports mesa-vulkan-drivers >&2 )
for f in "$dest"/debs/*.deb; do dpkg-deb -x "$f" "$dest/root"; done
lib=$(find "$dest/root" -name libvulkan_lvp.so | head -n1)
[ -n "$lib" ] || { echo "setup-lavapipe: libvulkan_lvp.so not found in the package" >&2; exit 1; }
cat > "$icd" <<JSON
{ "file_format_version": "1.0.0", "ICD": { "library_path": "$lib", "api_version": "1.3.0" } }
JSON
echo "$icd"
