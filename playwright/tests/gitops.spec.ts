import { test, expect, Page, Browser, APIRequestContext, request as http } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

// GitOps with real parts: scripts/test starts a Git host on loopback (testplane/gitserver),
// a real cluster (real-east-1) and a syncer that plays Flux's kustomize-controller for the
// cluster's folder of the repository. Berth never writes to the cluster here: the admin
// registers the repository and switches the cluster to GitOps in the browser, a developer
// asks, the admin approves, and Berth says ready only once the syncer has applied the commit.

const admin = {
  email: process.env.BERTH_ADMIN_EMAIL ?? 'admin@berth.local',
  password: process.env.BERTH_ADMIN_PASSWORD ?? '',
};
const base = process.env.BERTH_URL ?? 'http://127.0.0.1:3000';
const git = {
  url: process.env.BERTH_E2E_GIT_URL ?? '',
  username: process.env.BERTH_E2E_GIT_USERNAME ?? '',
  password: process.env.BERTH_E2E_GIT_PASSWORD ?? '',
  ca: process.env.BERTH_E2E_GIT_CA_FILE ?? '',
  dir: process.env.BERTH_E2E_GIT_DIR ?? '',
};
const kubectl = process.env.BERTH_TEST_KUBECTL ?? 'kubectl';
const kubeconfig = process.env.BERTH_TEST_KUBECONFIG ?? '';
const cluster = 'real-east-1';

async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

async function logIn(page: Page, email: string, password: string) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('link', { name: 'Requests' })).toBeVisible();
}

async function api(email: string, password: string): Promise<[APIRequestContext, string]> {
  const ctx = await http.newContext({ baseURL: base });
  const login = await ctx.post('/api/v1/auth/login', { data: { email, password } });
  expect(login.ok()).toBeTruthy();
  return [ctx, (await login.json()).csrf_token];
}

/** A developer in team payments, over the REST API with the admin's session. */
async function developer(): Promise<[APIRequestContext, string]> {
  const [ctx, csrf] = await api(admin.email, admin.password);
  const email = `gitops-${Date.now()}@example.com`;
  const created = await ctx.post('/api/v1/users', { data: { email, display_name: 'GitOps developer' }, headers: { 'x-csrf-token': csrf } });
  expect(created.status()).toBe(201);
  const password = (await created.json()).one_time_password;
  expect((await ctx.post('/api/v1/teams/payments/members', { data: { email, role: 'member' }, headers: { 'x-csrf-token': csrf } })).ok()).toBeTruthy();
  await ctx.dispose();
  return api(email, password);
}

/** The file at main:path of the repository on the Git host's disk, or null. */
function inGit(path: string): string | null {
  try {
    return execFileSync('git', ['--git-dir', git.dir, 'show', `main:${path}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

function namespaceOnCluster(name: string): boolean {
  const out = execFileSync(kubectl, ['--kubeconfig', kubeconfig, '--context', `${cluster}-admin`, 'get', 'namespace', name, '--ignore-not-found', '-o', 'name'], { encoding: 'utf8' });
  return out.trim() !== '';
}

/** Reloads the request page until it says `state` (the page does not refresh by itself). */
async function until(page: Page, url: string, check: () => Promise<boolean>, what: string) {
  await expect.poll(async () => {
    await page.goto(url);
    await hydrated(page);
    return check();
  }, { message: what, timeout: 180_000, intervals: [500, 1000, 2000] }).toBe(true);
}

async function approve(page: Page, url: string) {
  await page.goto(url);
  await hydrated(page);
  await page.getByRole('button', { name: 'Approve' }).click();
  await expect(page.getByRole('button', { name: 'Approve' })).toHaveCount(0);
}

test.describe.configure({ mode: 'serial' });

test('an admin delivers a cluster through Git; a namespace is committed, synced, ready, and decommissioned through Git', async ({ page }) => {
  test.skip(!git.url, 'scripts/test starts the Git host and the syncer');
  test.setTimeout(420_000);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const [adminApi, adminCsrf] = await api(admin.email, admin.password);
  // The real cluster, registered by its kubeconfig context (as the fleet page does).
  const registered = await adminApi.post('/api/v1/clusters', {
    headers: { 'x-csrf-token': adminCsrf },
    data: { name: cluster, display_name: 'Real — east', region: 'local', environment: 'prod', layer: 'online', connection: { kind: 'kubeconfig', context: cluster } },
  });
  expect(registered.status(), await registered.text()).toBe(201);
  expect((await adminApi.post(`/api/v1/clusters/${cluster}/sync`, { headers: { 'x-csrf-token': adminCsrf } })).ok()).toBeTruthy();

  await logIn(page, admin.email, admin.password);
  // The repository, in the browser.
  await page.goto('/admin/git');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill('e2e-gitops');
  await page.getByLabel('URL', { exact: true }).fill(git.url);
  await page.getByLabel('User name (HTTPS)').fill(git.username);
  await page.getByLabel('Token, password or private key (never shown again)').fill(git.password);
  await page.getByLabel('CA certificate of the host (PEM, if private)').fill(readFileSync(git.ca, 'utf8'));
  await page.getByRole('button', { name: 'Register' }).click();
  const row = page.locator('#git-repositories tr', { hasText: 'e2e-gitops' });
  await expect(row).toBeVisible();
  await expect(page.locator('body')).not.toContainText(git.password);
  await row.getByRole('button', { name: 'Check' }).click();
  await expect(page.locator('#git-check')).toContainText('e2e-gitops answers');

  // The cluster delivers through it.
  await page.goto(`/clusters/${cluster}`);
  await hydrated(page);
  await page.getByText('Change delivery').click();
  await page.getByLabel('Mode').selectOption('gitops');
  await page.getByLabel('Repository', { exact: true }).fill('e2e-gitops');
  await page.getByRole('button', { name: 'Save delivery' }).click();
  await expect(page.locator('#delivery-mode')).toContainText('GitOps: Berth commits to e2e-gitops');

  // A developer asks; the admin approves in the browser.
  const [devApi, devCsrf] = await developer();
  const name = `payments-g${Date.now() % 100000}`;
  const filed = await devApi.post('/api/v1/namespace-requests', {
    headers: { 'x-csrf-token': devCsrf },
    data: { team: 'payments', cluster, name, node_pool: 'general', preset: 'S', purpose: 'through Git' },
  });
  expect(filed.status(), await filed.text()).toBe(201);
  const url = `/requests/${(await filed.json()).request.id}`;
  await approve(page, url);

  // The commit appears in Git, the syncer applies it, and only then is the request ready.
  const folder = `clusters/${cluster}/namespaces/${name}`;
  await expect.poll(() => inGit(`${folder}/kustomization.yaml`) !== null, { timeout: 120_000, message: 'the commit' }).toBe(true);
  await until(page, url, async () => (await page.getByText('ready', { exact: true }).count()) > 0, 'the request to be ready');
  expect(namespaceOnCluster(name)).toBe(true);
  await expect(page.locator('#git-delivery')).toContainText('Delivered through Git');
  const commit = (await page.locator('#git-commit').textContent())!.trim();
  expect(execFileSync('git', ['--git-dir', git.dir, 'rev-parse', 'main'], { encoding: 'utf8' }).startsWith(commit)).toBe(true);
  await page.goto(`/namespaces/${cluster}/${name}`);
  await hydrated(page);
  await expect(page.locator('#git-state')).toContainText(folder);

  // Decommission: the folder leaves Git, the syncer deletes the namespace, then it is done.
  const gone = await devApi.post(`/api/v1/namespaces/${cluster}/${name}/decommission`, {
    headers: { 'x-csrf-token': devCsrf },
    data: { confirm: name, purpose: 'done with it' },
  });
  expect(gone.status(), await gone.text()).toBe(201);
  const goneUrl = `/requests/${(await gone.json()).request.id}`;
  await approve(page, goneUrl);
  await until(page, goneUrl, async () => (await page.getByText('deleted', { exact: true }).count()) > 0, 'the decommission to finish');
  expect(inGit(`${folder}/kustomization.yaml`)).toBeNull();
  expect(namespaceOnCluster(name)).toBe(false);
  expect(errors).toEqual([]);
});

test('a freeze holds an approved change until it ends, and the calendar shows it', async ({ page }) => {
  test.skip(!git.url, 'scripts/test starts the Git host and the syncer');
  test.setTimeout(420_000);
  await logIn(page, admin.email, admin.password);
  // A freeze on the cluster for the next minute, in the browser.
  const pad = (n: number) => String(n).padStart(2, '0');
  const local = (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  const now = Date.now();
  await page.goto('/freezes');
  await hydrated(page);
  await page.getByLabel('Name', { exact: true }).fill('journey freeze');
  await page.getByLabel('Reason').fill('a minute without changes');
  await page.getByLabel('and these clusters (comma-separated)').fill(cluster);
  await page.getByLabel('Starts (UTC)').fill(local(new Date(now - 60_000)));
  await page.getByLabel('Ends (UTC)').fill(local(new Date(now + 60_000)));
  await page.getByRole('button', { name: 'Add the window' }).click();
  await expect(page.locator('#freezes')).toContainText('journey freeze');
  await expect(page.locator('#freeze-calendar')).toContainText('journey freeze');

  // A request filed now says a freeze will hold it; approved, it is held, then goes through.
  const [devApi, devCsrf] = await developer();
  const name = `payments-f${Date.now() % 100000}`;
  const input = { team: 'payments', cluster, name, node_pool: 'general', preset: 'S', purpose: 'during a freeze' };
  const preview = await devApi.post('/api/v1/namespace-requests/preview', { headers: { 'x-csrf-token': devCsrf }, data: input });
  expect((await preview.json()).freezes[0].freeze).toBe('journey freeze');
  const filed = await devApi.post('/api/v1/namespace-requests', { headers: { 'x-csrf-token': devCsrf }, data: input });
  expect(filed.status(), await filed.text()).toBe(201);
  const url = `/requests/${(await filed.json()).request.id}`;
  await page.goto(url);
  await hydrated(page);
  await expect(page.locator('#freeze-notices')).toContainText('journey freeze holds changes now');
  await approve(page, url);
  await until(page, url, async () => (await page.locator('#held-by').count()) > 0, 'the hold');
  await expect(page.locator('#held-by')).toContainText('Held by freeze journey freeze');
  expect(namespaceOnCluster(name)).toBe(false);
  // When the window ends, the change goes through Git to the cluster by itself.
  await until(page, url, async () => (await page.getByText('ready', { exact: true }).count()) > 0, 'the change after the freeze');
  expect(namespaceOnCluster(name)).toBe(true);
});
