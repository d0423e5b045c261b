import { defineConfig } from 'vitest/config';
import { wgslText } from './vite.wgsl.ts';

// Node-environment tests; GPU tests run real WGSL on Dawn + a software Vulkan driver whose ICD
// scripts/test.sh exports before vitest starts. Forks (not threads): Dawn is per process.
export default defineConfig({
  plugins: [wgslText()],
  test: {
    include: ['tests/unit/**/*.test.ts', 'tests/model/**/*.test.ts', 'tests/cli/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
