// Import a PEFT adapter (a zip made by the project's exporter for the demo model, as Python
// peft would write it) in the Export section: it becomes the engine's adapter (export enabled).
import { test, expect } from '@playwright/test';
import { exportPeftZip, type LoraHostWeights } from '../../src/export/peft';
import { DEMO_CONFIG } from '../../src/model/demo';
import { linearShapes } from '../../src/model/config';

function demoAdapterZip(): Buffer {
  const shapes = linearShapes(DEMO_CONFIG), r = 4;
  let seed = 1;
  const rand = (n: number) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5));
  const layers: LoraHostWeights['layers'] = Array.from({ length: DEMO_CONFIG.numHiddenLayers }, () => {
    const [outF, inF] = shapes.v_proj;
    return { v_proj: { A: rand(r * inF), B: rand(outF * r), inF, outF } };
  });
  return Buffer.from(exportPeftZip({ r, alpha: 8, dropout: 0, targets: ['v_proj'], layers }, { config: DEMO_CONFIG }));
}

test('a PEFT adapter zip imports (and can be exported again); a broken one is refused clearly', async ({ page }) => {
  test.setTimeout(5 * 60_000);
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await expect(page.getByTestId('engine-status')).toHaveAttribute('data-status', 'ready', { timeout: 60_000 });
  await page.getByTestId('nav-model').click();
  await page.getByTestId('load-demo').click();
  await expect(page.getByTestId('model-summary')).toBeVisible({ timeout: 120_000 });

  await page.getByTestId('nav-export').click();
  await page.getByTestId('import-adapter').setInputFiles({ name: 'junk.zip', mimeType: 'application/zip', buffer: Buffer.from('not a zip') });
  await expect(page.getByTestId('export-error')).toContainText(/zip/i);
  await page.getByTestId('import-adapter').setInputFiles({ name: 'adapter.zip', mimeType: 'application/zip', buffer: demoAdapterZip() });
  await expect(page.getByTestId('import-done')).toContainText('r = 4, alpha = 8, targets v_proj', { timeout: 60_000 });
  await expect(page.getByTestId('export-peft')).toBeEnabled();
  expect(errors).toEqual([]);
});
