import { test, expect, Page, ConsoleMessage, request as http } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

// Every page, as an admin and as a developer, at a desktop and a phone width (the phone in dark
// mode): each one
// hydrates without a console error or a panic, says in its title what it is, and has no
// serious or critical accessibility violation that axe-core finds (WCAG 2.1 A and AA).

/** axe-core's serious and critical findings on the page, one line each. */
async function accessibility(page: Page, path: string): Promise<string[]> {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${path}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}

const admin = {
  email: process.env.BERTH_ADMIN_EMAIL ?? 'admin@berth.local',
  password: process.env.BERTH_ADMIN_PASSWORD ?? '',
};
const base = process.env.BERTH_URL ?? 'http://127.0.0.1:3000';

function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg: ConsoleMessage) => {
    // The not-found page answers 404 and admin pages 403 to developers; Chromium logs the
    // document's status as an error.
    const expected404 = (page.url().endsWith('/no/such/page') && msg.text().includes('status of 404'))
      || (page.url().includes('/admin/') && msg.text().includes('status of 403'));
    if (msg.type() === 'error' && !expected404) errors.push(`${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`${page.url()}: ${err.message}`));
  return errors;
}

async function logIn(page: Page, email: string, password: string) {
  await page.goto('/login');
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
}

/** A developer in team payments, made over the REST API with the admin's session. */
async function developer(): Promise<{ email: string; password: string }> {
  const api = await http.newContext({ baseURL: base });
  const login = await api.post('/api/v1/auth/login', { data: admin });
  expect(login.ok()).toBeTruthy();
  const csrf = (await login.json()).csrf_token;
  const email = `pages-${Date.now()}@example.com`;
  const created = await api.post('/api/v1/users', { data: { email, display_name: 'Pages developer' }, headers: { 'x-csrf-token': csrf } });
  expect(created.status()).toBe(201);
  const password = (await created.json()).one_time_password;
  const member = await api.post('/api/v1/teams/payments/members', { data: { email, role: 'member' }, headers: { 'x-csrf-token': csrf } });
  expect(member.ok()).toBeTruthy();
  await api.dispose();
  return { email, password };
}

function items(body: any): any[] {
  return Array.isArray(body) ? body : (body.items ?? []);
}

/** Each page's path and the title it must have, from the demo fleet's data. */
async function pages(page: Page): Promise<[string, RegExp][]> {
  const get = async (path: string) => {
    const response = await page.request.get(path);
    expect(response.ok(), path).toBeTruthy();
    return items(await response.json());
  };
  const namespace = (await get('/api/v1/namespaces')).find((n: any) => n.team === 'payments' && n.state === 'ready');
  expect(namespace, 'a ready payments namespace in the demo').toBeTruthy();
  const cluster = namespace.cluster;
  const request = (await get('/api/v1/namespace-requests'))[0];
  const drill = (await get('/api/v1/drills'))[0];
  const list: [string, RegExp][] = [
    ['/', /^Home — Berth$/],
    ['/teams/payments', /^Team payments — Berth$/],
    ['/teams/payments/cost', /^Cost of team payments — Berth$/],
    ['/requests', /^Requests — Berth$/],
    ['/requests/new', /^Request a namespace — Berth$/],
    ['/namespaces', /^Namespaces — Berth$/],
    [`/namespaces/${cluster}/${namespace.name}`, new RegExp(`^Namespace ${namespace.name} on ${cluster} — Berth$`)],
    ['/capacity', /^Capacity — Berth$/],
    [`/capacity/${cluster}/${namespace.name}`, new RegExp(`^Capacity of ${namespace.name} on ${cluster} — Berth$`)],
    ['/drills', /^Drills — Berth$/],
    ['/fleet', /^Fleet — Berth$/],
    [`/clusters/${cluster}`, new RegExp(`^Cluster ${cluster} — Berth$`)],
    ['/tokens', /^API tokens — Berth$/],
    ['/audit', /^Audit trail — Berth$/],
    ['/account', /^Your account — Berth$/],
    ['/admin/users', /^Users — Berth$/],
    ['/admin/tenancy', /^Tenancy settings — Berth$/],
    ['/admin/git', /^Git repositories — Berth$/],
    ['/freezes', /^Change windows — Berth$/],
    ['/no/such/page', /^Page not found — Berth$/],
  ];
  if (request) list.push([`/requests/${request.id}`, /^Request — Berth$/]);
  if (drill) list.push([`/drills/${drill.id}`, /^Drill — Berth$/]);
  return list;
}

for (const width of [1280, 390]) {
  for (const who of ['admin', 'developer']) {
    test(`every page hydrates cleanly and has its title: ${who} at ${width} px`, async ({ browser }) => {
      test.setTimeout(180_000);
      // The phone runs in dark mode: the colours there are checked too.
      const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: width < 600 ? 'dark' : 'light' });
      const page = await context.newPage();
      const errors = watchConsole(page);
      const findings: string[] = [];
      const user = who === 'admin' ? admin : await developer();
      await logIn(page, user.email, user.password);
      for (const [path, title] of await pages(page)) {
        const response = await page.goto(path);
        // Admin pages are a real 403 for developers, an unknown page a real 404.
        const status = path === '/no/such/page' ? 404 : who === 'developer' && path.startsWith('/admin/') ? 403 : 200;
        expect(response!.status(), path).toBe(status);
        await expect(page.locator('body[data-hydrated="true"]'), path).toHaveCount(1);
        await expect(page, path).toHaveTitle(title);
        await expect(page.locator('h1').first(), path).toBeVisible();
        findings.push(...await accessibility(page, path));
      }
      // The tenancy settings page once panicked during hydration on some loads only.
      for (let i = 0; i < (who === 'admin' ? 10 : 2); i++) {
        await page.goto('/admin/tenancy');
        await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
      }
      expect(errors).toEqual([]);
      expect(findings).toEqual([]);
      await context.close();
    });
  }
}
