#!/usr/bin/env bash
# Run every test: unit/kernel/model/CLI tests in Node on a software WebGPU adapter (Dawn +
# Mesa lavapipe 25), then the end-to-end tests of the built app in Debian Chromium.
# Installs missing system packages (needs root or sudo) the first time.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh || exit 1
export VK_ICD_FILENAMES="$(bash scripts/setup-lavapipe.sh)"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
[ -d node_modules ] || ONNXRUNTIME_NODE_INSTALL=skip npm ci
rc=0
npx vitest run --reporter=default --reporter=json --outputFile=test-results/vitest.json "$@" || rc=1
if [ -z "${SKIP_E2E:-}" ]; then
  npm run build && npx playwright test || rc=1
fi
node scripts/summarize-tests.mjs
exit $rc
