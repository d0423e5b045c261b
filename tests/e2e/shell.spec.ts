// The studio shell: every section is reachable by keyboard, the theme toggles between system,
// light and dark, the Bengali font is the one in use, and nothing logs a console error.
import { test, expect } from '@playwright/test';
import { fileURLToPath } from 'node:url';

const SCREENSHOTS = fileURLToPath(new URL('../../test-results/screenshots/', import.meta.url));
const SECTIONS = ['Data', 'Model', 'Train', 'Chat', 'Evaluate', 'Runs', 'Export', 'GPU'];

test('sections are reachable by keyboard and the theme toggles', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto('/');
  await page.evaluate(() => document.fonts.ready.then(() => undefined));

  // The bundled font is loaded and used for the body text.
  expect(await page.evaluate(() => document.fonts.check('16px "Noto Sans Bengali"'))).toBe(true);
  expect(await page.evaluate(() => getComputedStyle(document.body).fontFamily)).toMatch(/^"?Noto Sans Bengali/);

  // The first Tab reaches the skip link.
  await page.keyboard.press('Tab');
  await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();

  const nav = page.getByRole('navigation', { name: 'Studio sections' });
  for (const name of SECTIONS) {
    const link = nav.getByRole('link', { name: new RegExp(`^${name}`) });
    await link.focus();
    await page.keyboard.press('Enter');
    await expect(link).toHaveAttribute('aria-current', 'page');
    await expect(page.getByRole('heading', { level: 2, name, exact: true })).toBeVisible();
  }

  const toggle = page.getByTestId('theme-toggle');
  await expect(toggle).toHaveText(/System/);
  await toggle.click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  const lightBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await toggle.focus();
  await page.keyboard.press('Enter');
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  const darkBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(darkBg).not.toBe(lightBg);

  // The choice survives a reload.
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await page.evaluate(() => document.fonts.ready.then(() => undefined));
  await page.screenshot({ path: `${SCREENSHOTS}shell-dark.png` });
  expect(errors).toEqual([]);
});
