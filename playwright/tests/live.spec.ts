import { test, expect, Page, APIRequestContext, request as http } from '@playwright/test';

// Pages follow changes as they happen: an approval made in one browser shows in another
// without a reload, and the admin's inbox count follows the requests waiting.

const admin = {
  email: process.env.BERTH_ADMIN_EMAIL ?? 'admin@berth.local',
  password: process.env.BERTH_ADMIN_PASSWORD ?? '',
};
const base = process.env.BERTH_URL ?? 'http://127.0.0.1:3000';

async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

async function logIn(page: Page, email: string, password: string) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('link', { name: /^Requests/ })).toBeVisible();
}

async function developer(): Promise<{ email: string; password: string; api: APIRequestContext; csrf: string }> {
  const api = await http.newContext({ baseURL: base });
  const login = await api.post('/api/v1/auth/login', { data: admin });
  const csrf = (await login.json()).csrf_token;
  const email = `live-${Date.now()}@example.com`;
  const created = await api.post('/api/v1/users', { data: { email, display_name: 'Live developer' }, headers: { 'x-csrf-token': csrf } });
  expect(created.status()).toBe(201);
  const password = (await created.json()).one_time_password;
  expect((await api.post('/api/v1/teams/payments/members', { data: { email, role: 'member' }, headers: { 'x-csrf-token': csrf } })).ok()).toBeTruthy();
  await api.dispose();
  const dev = await http.newContext({ baseURL: base });
  const devLogin = await dev.post('/api/v1/auth/login', { data: { email, password } });
  return { email, password, api: dev, csrf: (await devLogin.json()).csrf_token };
}

test('an approval in one browser shows in the other without a reload, and the inbox counts it', async ({ browser }) => {
  const dev = await developer();
  const devPage = await (await browser.newContext()).newPage();
  const errors: string[] = [];
  devPage.on('pageerror', (err) => errors.push(err.message));
  await logIn(devPage, dev.email, dev.password);
  const adminPage = await (await browser.newContext()).newPage();
  await logIn(adminPage, admin.email, admin.password);
  // The page listens for changes once it says so.
  await expect(adminPage.locator('body[data-live="open"]')).toHaveCount(1);
  const inbox = adminPage.locator('#inbox-count');
  // What waits now, as the API says; the inbox shows the same.
  const adminApi = await http.newContext({ baseURL: base });
  await adminApi.post('/api/v1/auth/login', { data: admin });
  const waiting = await adminApi.get('/api/v1/namespace-requests?state=pending&limit=100');
  const before = (await waiting.json()).items.length;
  await adminApi.dispose();
  if (before > 0) await expect(inbox).toHaveText(String(before));

  const name = `payments-l${Date.now() % 100000}`;
  const filed = await dev.api.post('/api/v1/namespace-requests', {
    headers: { 'x-csrf-token': dev.csrf },
    data: { team: 'payments', cluster: 'prod-shanghai-1', name, node_pool: 'general', preset: 'S', purpose: 'live updates' },
  });
  expect(filed.status(), await filed.text()).toBe(201);
  const url = `/requests/${(await filed.json()).request.id}`;
  // The admin's inbox counts the new request without a reload.
  await expect(inbox).toHaveText(String(before + 1));

  await devPage.goto(url);
  await hydrated(devPage);
  await expect(devPage.locator('body[data-live="open"]')).toHaveCount(1);
  await expect(devPage.getByText('pending', { exact: true })).toBeVisible();
  // A mark that a reload would wipe.
  await devPage.evaluate(() => { (window as any).berthNoReload = true; });

  await adminPage.goto(url);
  await hydrated(adminPage);
  await adminPage.getByRole('button', { name: 'Approve' }).click();

  // The developer's page moves on by itself.
  await expect(devPage.getByText('pending', { exact: true })).toHaveCount(0);
  await expect(devPage.getByText('ready', { exact: true })).toBeVisible();
  expect(await devPage.evaluate(() => (window as any).berthNoReload)).toBe(true);
  await adminPage.goto('/');
  await hydrated(adminPage);
  if (before === 0) {
    await expect(inbox).toHaveCount(0);
  } else {
    await expect(inbox).toHaveText(String(before));
  }
  expect(errors).toEqual([]);
});
