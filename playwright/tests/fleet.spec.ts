import { test, expect, Page } from '@playwright/test';

const admin = {
  email: process.env.BERTH_ADMIN_EMAIL ?? 'admin@berth.local',
  password: process.env.BERTH_ADMIN_PASSWORD ?? '',
};

async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

async function logIn(page: Page) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Password').fill(admin.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('link', { name: 'Fleet' })).toBeVisible();
}

test('the fleet shows the simulated demo clusters; a fault on one fails its sync until it recovers', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await logIn(page);
  await page.getByRole('link', { name: 'Fleet' }).click();
  await hydrated(page);
  for (const name of ['Online — Shanghai', 'Offline compute — Beijing', 'Stateful — Singapore', 'Secure — compliance', 'Shared infrastructure']) {
    await expect(page.getByRole('link', { name })).toBeVisible();
  }
  await expect(page.getByText('simulated').first()).toBeVisible();
  await expect(page.getByText('reachable').first()).toBeVisible();

  await page.getByRole('link', { name: 'Online — Shanghai' }).click();
  await hydrated(page);
  await expect(page.getByRole('cell', { name: /general/ })).toBeVisible();
  await expect(page.getByRole('cell', { name: /high-memory/ })).toBeVisible();
  await expect(page.getByRole('cell', { name: /high-iops-ssd/ })).toBeVisible();

  await page.getByLabel('Share of 500s (0–1)').fill('1');
  await page.getByRole('button', { name: 'Apply faults' }).click();
  await expect(page.getByLabel('Share of 500s (0–1)')).toBeVisible();
  await page.getByRole('button', { name: 'Sync now' }).click();
  await expect(page.getByRole('alert')).toContainText('Sync failed');
  await expect(page.getByText(/unreachable/).first()).toBeVisible();

  await page.getByLabel('Share of 500s (0–1)').fill('0');
  await page.getByRole('button', { name: 'Apply faults' }).click();
  await page.getByRole('button', { name: 'Sync now' }).click();
  await expect(page.getByRole('status')).toContainText('Synced: 18 nodes in 2 pools.');
  expect(errors).toEqual([]);
});

test('the dashboard warns when node-pool pinning is not enforced, and the cluster and namespace say why', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await logIn(page);
  // The demo's payments-batch on prod-beijing-1 (no pinning plugin; the simulator evaluates
  // no admission policy) is proven once its job has run: reload until the proof is in.
  const warning = page.getByRole('alert').filter({ hasText: 'Node-pool pinning is not enforced' });
  await expect(async () => {
    await page.goto('/');
    await hydrated(page);
    await expect(warning).toBeVisible({ timeout: 1000 });
  }).toPass();
  await expect(warning).toContainText('prod-beijing-1');
  await warning.getByRole('link', { name: 'prod-beijing-1' }).click();
  await hydrated(page);
  await expect(page.getByText('ValidatingAdmissionPolicy refuses pods that do not select their pool')).toBeVisible();
  await expect(page.getByRole('alert').filter({ hasText: 'Pool pinning is not enforced on 1 namespace' })).toBeVisible();

  await page.goto('/namespaces/prod-beijing-1/payments-batch');
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Node-pool pinning' })).toBeVisible();
  await expect(page.getByText('not_enforced').first()).toBeVisible();
  await expect(page.getByText('A pod with no nodeSelector or tolerations')).toBeVisible();
  expect(errors).toEqual([]);
});

test('an admin chooses Kyverno for pool pinning where the cluster serves it, and back', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await logIn(page);
  await page.goto('/clusters/shared-infra-1');
  await hydrated(page);
  // The simulated cluster serves Kyverno's policies (the fleet file says kyverno: true).
  await expect(page.getByText("Kyverno's policies.kyverno.io/v1 is served too")).toBeVisible();
  const choose = async (engine: string) => {
    await page.getByText('Edit cluster').click();
    await page.getByLabel('Policy engine for pool pinning').selectOption({ label: engine });
    await page.getByRole('button', { name: 'Save changes' }).click();
  };
  await choose('Kyverno, where the cluster runs it');
  await expect(page.getByText("Kyverno's MutatingPolicy adds each pool's nodeSelector and tolerations")).toBeVisible();
  // Kept across a reload: it is the cluster's setting, not the form's.
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel('Policy engine for pool pinning')).toHaveValue('kyverno');
  await choose("The API server's admission policies");
  await expect(page.getByText("Kyverno's policies.kyverno.io/v1 is served too")).toBeVisible();
  expect(errors).toEqual([]);
});
