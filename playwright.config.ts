// End-to-end tests of the built app in Debian's Chromium (never a downloaded browser).
// Run: `npm run build && npx playwright test`. WebGPU comes from SwiftShader (Chrome's software
// Vulkan) with --enable-unsafe-webgpu: no shader-f16, so the f32 paths run.
import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './tests/e2e/browser';

// E2E_PORT: another port when 4173 is taken (the preview server is started on it).
const PORT = Number(process.env.E2E_PORT ?? 4173);

export default defineConfig({
  testDir: 'tests/e2e',
  // Keep Playwright's artifacts away from test-results/vitest.json and test-results/e2e.json.
  outputDir: 'test-results/e2e-artifacts',
  timeout: 180_000,
  expect: { timeout: 30_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [['list'], ['json', { outputFile: 'test-results/e2e.json' }]],
  use: {
    baseURL: `http://localhost:${PORT}`,
    browserName: 'chromium',
    viewport: { width: 1280, height: 720 },
    launchOptions: {
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
    },
    trace: 'retain-on-failure',
  },
  webServer: {
    command: `npx vite preview --port ${PORT} --strictPort`,
    url: `http://localhost:${PORT}`,
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
  projects: [{ name: 'chromium' }],
});
