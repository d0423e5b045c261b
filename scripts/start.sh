#!/usr/bin/env bash
# `npm start`: install npm packages if missing, then serve the app with Vite. The demo model is
# generated in the browser (deterministic, no download) and the sample CSV is in public/sample.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
exec npx vite --host 127.0.0.1 --port "${PORT:-5173}"
