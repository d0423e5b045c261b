import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';
import { wgslText } from './vite.wgsl.ts';

// Node-environment tests; GPU tests run real WGSL on Dawn. Without a hardware GPU (CI, this
// sandbox) the adapter is Mesa lavapipe 25 (software Vulkan): its ICD must be in the
// environment before any test process starts, so it is exported here, before the forks.
const hardwareGpu = existsSync('/dev/dri/renderD128') || existsSync('/dev/nvidia0');
if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && !hardwareGpu)
  process.env.VK_ICD_FILENAMES = execSync('bash scripts/setup-lavapipe.sh', { encoding: 'utf8' }).trim();
process.env.XDG_RUNTIME_DIR ??= '/tmp';

export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['tests/unit/**/*.test.ts', 'tests/model/**/*.test.ts', 'tests/cli/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
