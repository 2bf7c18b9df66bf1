import { chromium } from '@playwright/test';
const [,, email, password, ...steps] = process.argv;
const base = 'http://127.0.0.1:3000';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.on('console', m => { if (m.type() === 'error') console.log('console error:', m.text().slice(0, 1500)); });
await page.goto(base + '/login');
await page.waitForSelector('body[data-hydrated]');
await page.fill('#email', email);
await page.fill('#password', password);
await page.click('button[type=submit]');
await page.waitForURL(base + '/');
for (const step of steps) {
  const [kind, a, b] = step.split('|');
  if (kind === 'goto') { await page.goto(base + a); await page.waitForSelector('body[data-hydrated]'); }
  if (kind === 'select') await page.selectOption(a, b);
  if (kind === 'fill') await page.fill(a, b);
  if (kind === 'click') await page.click(a);
  if (kind === 'wait') await page.waitForTimeout(Number(a));
  if (kind === 'shot') await page.screenshot({ path: a, fullPage: true });
  if (kind === 'url') console.log(page.url());
}
await browser.close();
