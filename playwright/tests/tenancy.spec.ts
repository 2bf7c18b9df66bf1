import { test, expect, Page, Browser, request as http } from '@playwright/test';

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
  await expect(page.getByRole('link', { name: 'Requests' })).toBeVisible();
}

/** A developer in team payments, made over the REST API with the admin's session. */
async function developer(): Promise<{ email: string; password: string }> {
  const api = await http.newContext({ baseURL: base });
  const login = await api.post('/api/v1/auth/login', { data: admin });
  expect(login.ok()).toBeTruthy();
  const csrf = (await login.json()).csrf_token;
  const email = `dev-${Date.now()}@example.com`;
  const created = await api.post('/api/v1/users', { data: { email, display_name: 'Journey developer' }, headers: { 'x-csrf-token': csrf } });
  expect(created.status()).toBe(201);
  const password = (await created.json()).one_time_password;
  const member = await api.post('/api/v1/teams/payments/members', { data: { email, role: 'member' }, headers: { 'x-csrf-token': csrf } });
  expect(member.ok()).toBeTruthy();
  await api.dispose();
  return { email, password };
}

async function asAdmin(browser: Browser) {
  const page = await (await browser.newContext()).newPage();
  await logIn(page, admin.email, admin.password);
  return page;
}

test('a developer requests a namespace, an admin amends and approves it, it is applied, then its quota grows', async ({ page, browser }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const dev = await developer();
  const name = `payments-j${Date.now() % 100000}`;
  await logIn(page, dev.email, dev.password);

  // The wizard: choices, live field errors and preview.
  await page.getByRole('link', { name: 'Requests' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/requests$/);
  await page.getByRole('link', { name: 'Request a namespace' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/requests\/new$/);
  await hydrated(page);
  await page.getByLabel('Team').selectOption('payments');
  await page.getByLabel('Cluster').selectOption('prod-shanghai-1');
  await page.getByLabel('Node pool').selectOption('general');
  // The wizard says how the pool is held before anything is filed.
  await expect(page.locator('p[role="note"]')).toContainText('Pods will select eks.amazonaws.com/nodegroup=general');
  // The preview is there, but fields nobody has filled in yet carry no error.
  await expect(page.locator('aside.preview')).toContainText('field(s) to fix before submitting');
  await expect(page.locator('.field-error')).toHaveCount(0);
  await page.getByLabel('Namespace name').fill('checkout');
  await expect(page.locator('#name-hint')).toContainText('payments-');
  // The hint is tied to its field for assistive technology, and untied once the name is right.
  await expect(page.getByLabel('Namespace name')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByLabel('Namespace name')).toHaveAttribute('aria-describedby', 'name-hint');
  await page.getByLabel('Namespace name').fill(name);
  await expect(page.getByLabel('Namespace name')).not.toHaveAttribute('aria-invalid', 'true');
  await page.getByLabel('Purpose').fill('checkout service');
  await page.getByLabel('gp3', { exact: true }).check();
  const preview = page.locator('aside.preview');
  await expect(preview).toContainText('A platform admin will review this request.');
  await expect(preview).toContainText('30 objects will be applied');
  await expect(preview).toContainText('Pool general on prod-shanghai-1');
  await expect(page.locator('#name-hint')).toHaveCount(0);
  await page.getByRole('button', { name: 'Submit request' }).click();
  await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  await hydrated(page);
  await expect(page.getByText('pending', { exact: true })).toBeVisible();
  const requestUrl = page.url();

  // The admin amends to S with a note, then approves.
  const adminPage = await asAdmin(browser);
  adminPage.on('pageerror', (err) => errors.push(err.message));
  await adminPage.goto(requestUrl);
  await hydrated(adminPage);
  await expect(adminPage.getByRole('heading', { name: 'Capacity impact' })).toBeVisible();
  await adminPage.getByLabel('Preset').selectOption('S');
  await adminPage.locator('#amend-classes').fill('gp3=10Gi/2');
  await adminPage.getByLabel('Note to the requester').fill('start with S; ask again with usage data');
  await adminPage.getByRole('button', { name: 'Amend' }).click();
  await expect(adminPage.getByRole('note')).toContainText('start with S');
  await adminPage.getByRole('button', { name: 'Approve' }).click();
  await expect(adminPage.getByText('ready', { exact: true }).first()).toBeVisible();
  await expect(adminPage.getByRole('cell', { name: 'berth-quota' })).toBeVisible();

  // The requester sees the amendment and the namespace with its objects.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('note')).toContainText('start with S; ask again with usage data');
  await expect(page.getByRole('row', { name: /requests\.cpu\s+8\s+2/ })).toBeVisible();
  await expect(page.getByRole('row', { name: /class gp3\s+20Gi · 2 claims\s+10Gi · 2 claims/ })).toBeVisible();
  await page.getByRole('link', { name: 'Open the namespace' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { level: 1 })).toContainText(name);
  for (const object of ['default-deny', 'allow-dns', 'team-edit', 'berth-limits']) {
    await expect(page.getByRole('cell', { name: object })).toBeVisible();
  }
  await expect(page.getByRole('img', { name: '0.0 cores of 2.0 cores' })).toBeVisible();
  // The proof: prod-shanghai-1 runs the pinning plugins, so the probe pods were held.
  await expect(page.getByRole('heading', { name: 'Node-pool pinning' })).toBeVisible();
  await expect(page.getByText('Pods are held on pool general.')).toBeVisible();

  // A quota change through the same workflow; the form starts at the namespace's size.
  await expect(page.getByLabel('New size')).toHaveValue('S');
  await expect(page.getByRole('button', { name: 'Request the change' })).toBeDisabled();
  await page.getByLabel('New size').selectOption('M');
  await page.getByLabel('Why').first().fill('launch traffic');
  await page.getByRole('button', { name: 'Request the change' }).click();
  await expect(page.getByRole('status')).toContainText('Quota change pending');
  await page.getByRole('link', { name: 'Follow it' }).click();
  await hydrated(page);
  const changeUrl = page.url();
  await adminPage.goto(changeUrl);
  await hydrated(adminPage);
  await adminPage.getByRole('button', { name: 'Approve' }).click();
  // A quota change reads "applied" once the cluster has it.
  await expect(adminPage.getByText('applied', { exact: true }).first()).toBeVisible();

  // Usage bars against the new quota, per namespace and per team.
  await page.goto(`/namespaces/prod-shanghai-1/${name}`);
  await hydrated(page);
  await expect(page.getByRole('img', { name: '0.0 cores of 8.0 cores' })).toBeVisible();
  // A decrease says what it takes away and asks to confirm before it can be sent.
  await expect(page.getByLabel('New size')).toHaveValue('M');
  await page.getByLabel('New size').selectOption('S');
  await expect(page.getByRole('alert').filter({ hasText: 'This change takes away' })).toContainText('CPU requests: 8 → 2');
  await expect(page.getByRole('button', { name: 'Request the change' })).toBeDisabled();
  await page.getByLabel('I understand this takes capacity away from the namespace').check();
  await expect(page.getByRole('button', { name: 'Request the change' })).toBeEnabled();
  await page.getByLabel('New size').selectOption('M');
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Namespaces' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/namespaces$/);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Per team: used of quota' })).toBeVisible();
  await expect(page.getByRole('link', { name })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Quota ledger' })).toBeVisible();

  // A failover-readiness drill from the namespace's page, followed live to its verdict.
  await page.goto(`/namespaces/prod-shanghai-1/${name}`);
  await hydrated(page);
  await page.getByLabel('Kind', { exact: true }).selectOption('readiness');
  await page.getByRole('button', { name: 'Start the drill' }).click();
  await page.getByRole('link', { name: 'Follow it' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Readiness checks' })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'DR pair: prod-singapore-1' })).toBeVisible();
  await expect(page.getByRole('link', { name: 'Evidence as JSON' })).toBeVisible();

  // A weekly schedule in the team's time zone; a bad expression is named.
  await page.goto(`/namespaces/prod-shanghai-1/${name}`);
  await hydrated(page);
  await page.getByLabel('Cron (minute hour day month weekday)').fill('99 * * *');
  await page.getByRole('button', { name: 'Save the schedule' }).click();
  await expect(page.getByText('is not a cron expression')).toBeVisible();
  await page.getByLabel('Cron (minute hour day month weekday)').fill('0 3 * * 1');
  await page.getByLabel('Time zone').fill('Asia/Shanghai');
  await page.getByRole('button', { name: 'Save the schedule' }).click();
  await expect(page.getByText(/restore drill on `0 3 \* \* 1` \(Asia\/Shanghai\)/)).toBeVisible();
  expect(errors).toEqual([]);
});

test('the admin settings page edits a preset and shows field errors', async ({ browser }) => {
  const page = await asAdmin(browser);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.getByRole('link', { name: 'Tenancy' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/admin\/tenancy$/);
  await hydrated(page);
  await expect(page.getByRole('cell', { name: 'dev and staging up to L within budget' })).toBeVisible();
  await page.locator('summary', { hasText: 'XL' }).click();
  await page.locator('#preset-XL-max_cpu').fill('1m');
  await page.getByRole('button', { name: 'Save XL' }).click();
  await expect(page.getByText('must be at least the default limit')).toHaveCount(1);
  await page.getByLabel('CPU', { exact: true }).fill('lots');
  await page.getByLabel('Memory', { exact: true }).fill('256Gi');
  await page.getByLabel('Storage', { exact: true }).fill('2Ti');
  await page.getByRole('button', { name: 'Set budget' }).click();
  await expect(page.getByText('is not a Kubernetes quantity').first()).toBeVisible();
  expect(errors).toEqual([]);
});

test('the admin sets an environment\'s and a layer\'s guardrails, with the levels and the PriorityClass checked', async ({ browser }) => {
  const page = await asAdmin(browser);
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.getByRole('link', { name: 'Tenancy' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/admin\/tenancy$/);
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'Guardrails', exact: true })).toBeVisible();
  await expect(page.locator('#guardrail-prod-forbid_latest')).toHaveValue('deny');
  await page.locator('#guardrail-dev-pod_security_enforce').selectOption('restricted');
  await page.locator('#guardrail-dev-pod_security_warn').selectOption('baseline');
  await page.getByRole('button', { name: 'Save dev' }).click();
  // Both warn (baseline) and dev's audit (baseline) are now below enforce: each says so.
  await expect(page.getByText('must be at least as strict as enforce (restricted)')).toHaveCount(2);
  await page.locator('#guardrail-dev-pod_security_warn').selectOption('restricted');
  await page.locator('#guardrail-dev-pod_security_audit').selectOption('restricted');
  await page.locator('#guardrail-dev-require_probes').selectOption('warn');
  await page.getByRole('button', { name: 'Save dev' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Guardrails for dev saved' })).toBeVisible();
  await expect(page.locator('#guardrail-dev-require_probes')).toHaveValue('warn');

  // A layer tightens its environments and may set a default PriorityClass.
  await expect(page.getByRole('heading', { name: 'Guardrails per layer' })).toBeVisible();
  await expect(page.locator('#layer-secure-pod_security_enforce')).toHaveValue('restricted');
  await page.locator('#layer-offline-priority_class').fill('system-batch');
  await page.locator('#layer-offline-priority_value').fill('-10');
  await page.getByRole('button', { name: 'Save offline' }).click();
  await expect(page.getByText('names starting with system- are reserved for Kubernetes')).toBeVisible();
  await page.locator('#layer-offline-priority_class').fill('batch-low');
  await page.locator('#layer-offline-require_resources').selectOption('deny');
  await page.getByRole('button', { name: 'Save offline' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Guardrails for layer offline saved' })).toBeVisible();
  await expect(page.locator('#layer-offline-priority_class')).toHaveValue('batch-low');
  await expect(page.locator('#layer-offline-priority_value')).toHaveValue('-10');
  await expect(page.locator('#layer-offline-require_resources')).toHaveValue('deny');
  expect(errors).toEqual([]);
});

test('a team asks for GPUs: refused on a pool without them, placed on the GPU pool, counted against it', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  const dev = await developer();
  const name = `payments-gpu${Date.now() % 100000}`;
  await logIn(page, dev.email, dev.password);
  await page.goto('/requests/new');
  await hydrated(page);
  await page.getByLabel('Team').selectOption('payments');
  await page.getByLabel('Cluster').selectOption('prod-beijing-1');
  // The pool list says which pool has GPUs.
  await expect(page.getByLabel('Node pool').locator('option', { hasText: 'nvidia.com/gpu' })).toHaveCount(1);
  await page.getByLabel('Node pool').selectOption('batch');
  await page.getByLabel('Namespace name').fill(name);
  await page.getByLabel('Purpose').fill('model training');
  await page.locator('#w-custom').check();
  const other = page.getByLabel('Other quota keys (one key: value per line)');
  await other.fill('requests.nvidia.com/gpu: 2\ncount/jobs.batch: 20');
  await other.press('Tab');
  await expect(page.getByText('the nodes of pool batch advertise no nvidia.com/gpu; pools that do: gpu')).toBeVisible();
  await page.getByLabel('Node pool').selectOption('gpu');
  await expect(page.getByText('advertise no nvidia.com/gpu')).toHaveCount(0);
  // The capacity impact counts the pool's GPUs, and the manifests carry the keys.
  const preview = page.locator('aside.preview');
  await expect(preview.getByRole('img', { name: /^\d+ → \d+ of 16$/ })).toBeVisible();
  await expect(preview).toContainText('requests.nvidia.com/gpu');
  await page.getByRole('button', { name: 'Submit request' }).click();
  await expect(page).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  await hydrated(page);
  await expect(page.getByRole('row', { name: /requests\.nvidia\.com\/gpu\s+2/ }).first()).toBeVisible();
  await expect(page.getByRole('row', { name: /count\/jobs\.batch\s+20/ }).first()).toBeVisible();

  // The cluster page lists the pool's GPUs.
  await page.goto('/clusters/prod-beijing-1');
  await hydrated(page);
  await expect(page.getByRole('row', { name: /gpu.*16 nvidia\.com\/gpu/ })).toBeVisible();
  expect(errors).toEqual([]);
});
