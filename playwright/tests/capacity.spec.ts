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
  await expect(page.getByRole('link', { name: 'Capacity' })).toBeVisible();
}

// The demo namespace payments-checkout is provisioned when `berth serve` starts the demo
// fleet; its week of usage is in the demo Prometheus that scripts/test starts.
test('right-sizing from Prometheus: sort, filter, charts, a suggested quota filed with its evidence', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await logIn(page);
  await page.goto('/namespaces/prod-shanghai-1/payments-checkout');
  await hydrated(page);
  await page.getByRole('link', { name: 'Right-sizing and a suggested quota' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { level: 1 })).toContainText('Right-sizing');

  const table = page.locator('table.recommendations');
  await expect(table.getByRole('row')).toHaveCount(5);
  await expect(table.getByRole('row', { name: /checkout-api/ })).toContainText('HPA detected');
  await expect(table.getByRole('row', { name: /checkout-db/ })).toContainText('2000m →');
  // Each usage chart has a labelled axis in its unit (0, half and the top).
  const cpuChart = page.getByRole('img', { name: /^CPU in m, axis 0 to \d+: median/ }).first();
  await expect(cpuChart).toBeVisible();
  await expect(cpuChart.locator('text.tick')).toHaveText(['0m', /^\d+m$/, /^\d+m$/]);
  await expect(page.getByRole('img', { name: /^Memory in Mi, axis 0 to \d+/ }).first().locator('text.tick').last()).toHaveText(/^\d+Mi$/);
  await expect(page.getByLabel('Savings')).toContainText('2 Prometheus queries');

  // Sorted by the CPU change, the database's big saving comes first; by workload, the API.
  await expect(table.locator('tbody tr').first()).toContainText('checkout-db');
  await table.getByRole('button', { name: 'Workload' }).click();
  await expect(table.locator('tbody tr').first()).toContainText('checkout-api');
  await page.getByLabel('Filter by workload or container').fill('worker');
  await expect(table.locator('tbody tr')).toHaveCount(1);

  // The decaying strategy shows the VPA's bounds.
  await page.getByLabel('Strategy').selectOption('decaying');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/strategy=decaying/);
  await hydrated(page);
  await expect(page.getByLabel('Savings')).toContainText('decaying strategy');

  // The suggested quota, prefilled, filed as a quota change that carries the evidence.
  await expect(page.getByLabel('Capacity evidence')).toContainText('rolling update');
  const cpu = await page.getByLabel('requests.cpu').inputValue();
  await page.getByRole('button', { name: 'Request the right-sized quota' }).click();
  await expect(page.getByRole('status')).toContainText('Quota change');
  await page.getByRole('link', { name: 'Follow it' }).click();
  await hydrated(page);
  await expect(page.getByLabel('Capacity evidence')).toContainText(cpu);
  await expect(page.getByRole('row', { name: new RegExp(`requests\\.cpu\\s+\\S+\\s+${cpu}`) }).first()).toBeVisible();
  expect(errors).toEqual([]);
});

test('the planner refuses nonsense by field and plans a pre-scale; pool headroom per pool', async ({ page }) => {
  await logIn(page);
  await page.getByRole('link', { name: 'Capacity' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/capacity$/);
  await hydrated(page);
  await page.getByLabel('Team', { exact: true }).selectOption('payments');
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await hydrated(page);
  await expect(page.getByRole('link', { name: 'payments-checkout' })).toBeVisible();

  await page.getByLabel('One pod serves (req/s)').fill('0');
  await page.getByLabel('Safety factor (≥ 1)').fill('0.5');
  await page.getByRole('button', { name: 'Plan' }).click();
  await expect(page.locator('#pod_capacity-error')).toContainText('greater than 0');
  await expect(page.locator('#safety_factor-error')).toContainText('at least 1');
  await page.getByLabel('One pod serves (req/s)').fill('400');
  await page.getByLabel('Safety factor (≥ 1)').fill('1.5');
  await page.getByLabel('Event start (optional, UTC): plan a pre-scale').fill('2026-12-12T20:00');
  await page.getByRole('button', { name: 'Plan' }).click();
  const plan = page.locator('dl.plan');
  await expect(plan).toContainText('45');
  await expect(plan).toContainText('min 8 · max 45');
  await expect(plan).toContainText('2026-12-12 19:30 UTC');
  await expect(plan).toContainText('min replicas 32');

  await page.getByLabel('Cluster').selectOption('prod-shanghai-1');
  await page.getByLabel('Pod CPU request').fill('1');
  await page.getByLabel('Pod memory request').fill('2Gi');
  await page.getByRole('button', { name: 'Show headroom' }).click();
  await hydrated(page);
  await expect(page.getByRole('row', { name: /general\s+12/ })).toBeVisible();
  await expect(page.getByRole('img', { name: '108 pods fit' })).toBeVisible();
});

test('the team cost report prices quotas, requests and right-sizing, charts them, exports CSV, and an admin sets a pool price', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await logIn(page);
  await page.goto('/teams/payments');
  await hydrated(page);
  await page.getByRole('link', { name: 'Cost report' }).click();
  await expect(page).toHaveURL(/\/teams\/payments\/cost$/);
  await hydrated(page);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Cost of payments');
  await expect(page.locator('.card.stat', { hasText: 'Committed' })).toContainText('USD');
  await expect(page.getByRole('columnheader', { name: 'After right-sizing' })).toBeVisible();
  await expect(page.getByRole('img', { name: /^Monthly cost per namespace in USD/ })).toBeVisible();
  await expect(page.getByRole('cell', { name: /^(the fleet default|the pool's|its instance type's)/ }).first()).toBeVisible();
  // Priced through the nodes' labels: the demo's spot pool (c6i.8xlarge, lifecycle=spot) at
  // its instance type's spot price, split into cores and memory.
  await expect(page.getByText(/c6i\.8xlarge \(spot\) at 0\.52\/h/).first()).toBeVisible();
  const csv = await page.request.get('/api/v1/teams/payments/cost.csv');
  expect(csv.ok()).toBeTruthy();
  expect(csv.headers()['content-type']).toContain('text/csv');
  expect((await csv.text()).split('\n')[0]).toContain('committed_USD_per_month');

  // A bad price names its field; a good one applies to the pool at once.
  await page.getByLabel('For', { exact: true }).selectOption('prod-shanghai-1/general');
  await page.getByLabel('CPU core-hour').fill('cheap');
  await page.getByLabel('Memory GiB-hour').fill('0.01');
  await page.getByRole('button', { name: 'Set price' }).click();
  await expect(page.getByText('must be a price per hour')).toBeVisible();
  await page.getByLabel('CPU core-hour').fill('0.05');
  await page.getByRole('button', { name: 'Set price' }).click();
  await expect(page.getByText('Price for prod-shanghai-1 · general saved.')).toBeVisible();
  await expect(page.getByRole('cell', { name: "the pool's" }).first()).toBeVisible();

  // An instance price: a bad instance type names its field; a good one is listed.
  await page.getByLabel('Instance type').fill('m6i 4xlarge');
  await page.getByLabel('Instance price per hour').fill('0.7');
  await page.getByRole('button', { name: 'Set instance price' }).click();
  await expect(page.getByText('must be a node label value')).toBeVisible();
  await page.getByLabel('Instance type').fill('r6i.4xlarge');
  await page.getByLabel('Capacity', { exact: true }).selectOption('spot');
  await page.getByRole('button', { name: 'Set instance price' }).click();
  await expect(page.getByText('Price for r6i.4xlarge saved.')).toBeVisible();
  await expect(page.getByRole('row', { name: /r6i\.4xlarge spot any 0\.7/ })).toBeVisible();
  expect(errors).toEqual([]);
});
