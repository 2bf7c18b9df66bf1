import { test, expect, Page, ConsoleMessage } from '@playwright/test';

const admin = {
  email: process.env.BERTH_ADMIN_EMAIL ?? 'admin@berth.local',
  password: process.env.BERTH_ADMIN_PASSWORD ?? '',
};

/** Fails the test on any console error or uncaught exception. */
function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg: ConsoleMessage) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  return errors;
}

async function hydrated(page: Page) {
  await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
}

async function logIn(page: Page, email: string, password: string) {
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
  await hydrated(page);
}

async function logOut(page: Page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Log in to Berth' })).toBeVisible();
}

test('admin creates a team and a user; the user makes a token that works; the audit page shows both', async ({ page, request }) => {
  const errors = watchConsole(page);
  const suffix = Date.now().toString(36);
  const email = `dev-${suffix}@example.com`;
  const teamName = `team-${suffix}`;

  await logIn(page, admin.email, admin.password);

  // The admin creates a user and is shown the one-time password once.
  await page.getByRole('link', { name: 'Users' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/admin\/users$/);
  await hydrated(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Display name').fill('Journey Developer');
  await page.getByRole('button', { name: 'Create user' }).click();
  const oneTime = (await page.locator('#one-time-password').textContent())!.trim();
  expect(oneTime.length).toBeGreaterThan(20);
  await expect(page.getByRole('cell', { name: email })).toBeVisible();

  // ... and a team the new user owns.
  await page.getByRole('link', { name: 'Teams' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  // A refused field is marked for assistive technology and gets the focus.
  const teamField = page.getByLabel('Name (namespace prefix)');
  await teamField.fill('Not A Name!');
  await page.getByLabel('Display name').fill('Journey team');
  await page.getByRole('button', { name: 'Create team' }).click();
  await expect(page.locator('#name-error')).toBeVisible();
  await expect(teamField).toHaveAttribute('aria-invalid', 'true');
  await expect(teamField).toHaveAttribute('aria-describedby', 'name-error');
  await expect(teamField).toBeFocused();
  // The refusal itself was a 422, which Chromium logs; nothing else may be.
  const refusal = errors.indexOf('Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)');
  if (refusal >= 0) errors.splice(refusal, 1);
  await teamField.fill(teamName);
  await page.getByLabel('Display name').fill('Journey team');
  await page.getByLabel("First owner's email (optional)").fill(email);
  await page.getByRole('button', { name: 'Create team' }).click();
  await expect(page.getByRole('link', { name: 'Journey team' })).toBeVisible();
  await logOut(page);

  // The user logs in, sees the team, and creates a token.
  await logIn(page, email, oneTime);
  await expect(page.getByRole('link', { name: 'Journey team' })).toBeVisible();
  await page.getByRole('link', { name: 'Tokens' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/tokens$/);
  await hydrated(page);
  await page.getByLabel('Name').fill('journey-ci');
  await page.getByRole('button', { name: 'Create token' }).click();
  const secret = (await page.locator('#new-token-secret').textContent())!.trim();
  expect(secret).toMatch(/^berth_/);
  await expect(page.getByRole('cell', { name: 'journey-ci' })).toBeVisible();

  // A request with that token succeeds.
  const me = await request.get('/api/v1/me', { headers: { Authorization: `Bearer ${secret}` } });
  expect(me.status()).toBe(200);
  expect((await me.json()).user.email).toBe(email);
  await logOut(page);

  // Both actions appear on the admin's audit page.
  await logIn(page, admin.email, admin.password);
  await page.getByRole('link', { name: 'Audit' }).click();
  // A page's code may still be on its way: the old page stays until the new one is shown.
  await expect(page).toHaveURL(/\/audit$/);
  await hydrated(page);
  await expect(page.getByRole('cell', { name: 'token.created' }).first()).toBeVisible();
  await expect(page.getByRole('cell', { name: 'team.created' }).first()).toBeVisible();
  await page.getByLabel('Actor email').fill(email);
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page.getByRole('cell', { name: 'token.created' })).toBeVisible();
  await expect(page.getByRole('cell', { name: 'team.created' })).toHaveCount(0);

  expect(errors).toEqual([]);
});

test('a wrong password shows the error next to the form and keeps the visitor on the login page', async ({ page }) => {
  const errors = watchConsole(page);
  await page.goto('/login');
  await hydrated(page);
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Password').fill('certainly not the password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('wrong email or password');
  await expect(page).toHaveURL(/\/login$/);
  expect(errors.filter((e) => !e.includes('401'))).toEqual([]);
});

test('the login form works from the keyboard alone', async ({ page }) => {
  await page.goto('/login');
  await hydrated(page);
  await page.locator('body').focus();
  // Skip link, brand link, then the form's fields in order.
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    if (await page.getByLabel('Email').evaluate((el) => el === document.activeElement)) break;
  }
  await page.keyboard.type(admin.email);
  await page.keyboard.press('Tab');
  await page.keyboard.type(admin.password);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('link', { name: 'Tokens' })).toBeVisible();
});

for (const width of [390, 1280]) {
  test(`pages fit a ${width} px wide screen without sideways scrolling`, async ({ page }) => {
    await page.setViewportSize({ width, height: 900 });
    await logIn(page, admin.email, admin.password);
    if (width < 640) {
      // On a phone the navigation folds behind a menu button, and folds again after a choice.
      await expect(page.getByRole('link', { name: 'Tokens' })).toBeHidden();
      await page.getByText('Menu', { exact: true }).click();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tokens' }).click();
      await expect(page.getByRole('heading', { name: 'API tokens' })).toBeVisible();
      await expect(page.getByRole('link', { name: 'Audit' })).toBeHidden();
    }
    for (const path of ['/', '/tokens', '/audit', '/account', '/admin/users', '/teams/payments', '/requests', '/requests/new', '/namespaces', '/admin/tenancy']) {
      await page.goto(path);
      await hydrated(page);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${path} overflows by ${overflow}px`).toBeLessThanOrEqual(0);
    }
  });
}

test('the API reference is styled, has contents, and tries a GET with the session', async ({ page }) => {
  const errors = watchConsole(page);
  await logIn(page, admin.email, admin.password);
  await page.goto('/api/docs');
  await expect(page.getByRole('heading', { name: 'Berth API reference' })).toBeVisible();
  // The site's stylesheet applies (its policy lets it).
  expect(await page.locator('main').evaluate((m) => getComputedStyle(m).maxWidth)).not.toBe('none');
  await page.getByRole('navigation', { name: 'Contents' }).locator('a[href="#get-api-v1-me"]').click();
  const me = page.locator('#get-api-v1-me');
  await me.getByRole('button', { name: 'Send' }).click();
  await expect(me.locator('pre.answer')).toContainText('200 OK');
  await expect(me.locator('pre.answer')).toContainText(admin.email);
  await expect(page.getByRole('link', { name: 'Back to the portal' })).toBeVisible();
  expect(errors).toEqual([]);
});

test('the browser code arrives compressed', async ({ page }) => {
  const encodings = new Map<string, string>();
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/pkg/') && r.url().endsWith('.wasm')) {
      encodings.set(r.url(), r.headers()['content-encoding'] ?? 'none');
    }
  });
  await logIn(page, admin.email, admin.password);
  await page.goto('/');
  await hydrated(page);
  // The shell and the home page's chunks, each as brotli or gzip, whichever the browser takes.
  expect(encodings.size).toBeGreaterThan(1);
  for (const [url, encoding] of encodings) expect(['br', 'gzip'], url).toContain(encoding);
});

test('lists search, sort and page, and the URL keeps all three', async ({ page }) => {
  const errors = watchConsole(page);
  await logIn(page, admin.email, admin.password);
  await page.goto('/namespaces');
  await hydrated(page);
  await page.getByRole('searchbox', { name: 'Search' }).fill('payments');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/[?&]q=payments/);
  const names = page.locator('table').first().locator('tbody tr td:first-child');
  await expect(names.first()).toBeVisible();
  for (const name of await names.allTextContents()) expect(name).toContain('payments');

  // Sorting by a column: ascending, then descending, announced to assistive technology.
  const header = page.locator('table').first().getByRole('columnheader', { name: 'Namespace', exact: true });
  await header.getByRole('link').click();
  await expect(page).toHaveURL(/sort=name/);
  await expect(header).toHaveAttribute('aria-sort', 'ascending');
  const ascending = await names.allTextContents();
  expect(ascending).toEqual([...ascending].sort());
  await header.getByRole('link').click();
  await expect(header).toHaveAttribute('aria-sort', 'descending');
  await expect(names.first()).toHaveText([...ascending].sort().reverse()[0]);

  // A reload keeps the search and the order.
  await page.reload();
  await hydrated(page);
  await expect(page.getByRole('searchbox', { name: 'Search' })).toHaveValue('payments');
  await expect(header).toHaveAttribute('aria-sort', 'descending');

  // Filtering by team and by cluster: the choices are the teams and clusters the caller may
  // see, the URL keeps them, and every row matches.
  await page.getByLabel('Filter by team').selectOption('payments');
  await page.getByLabel('Filter by cluster').selectOption('prod-shanghai-1');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/[?&]team=payments/);
  await expect(page).toHaveURL(/[?&]cluster=prod-shanghai-1/);
  const rows = page.locator('table').first().locator('tbody tr');
  await expect(rows.first()).toBeVisible();
  for (const row of await rows.allTextContents()) {
    expect(row).toContain('payments');
    expect(row).toContain('prod-shanghai-1');
  }
  await page.reload();
  await hydrated(page);
  await expect(page.getByLabel('Filter by team')).toHaveValue('payments');

  // Requests page by page: every request once, in the order the server keeps.
  await page.goto('/requests?state=all');
  await hydrated(page);
  await expect(page.getByLabel('Show')).toHaveValue('all');
  await expect(page.getByRole('navigation', { name: 'Pages' })).toContainText('shown');

  // The server sorts (so the order holds across pages): by namespace, then the reverse.
  const requestHeader = page.locator('table').first().getByRole('columnheader', { name: 'Namespace', exact: true });
  const requested = page.locator('table').first().locator('tbody tr td:first-child');
  await requestHeader.getByRole('link').click();
  await expect(page).toHaveURL(/sort=namespace/);
  await expect(requestHeader).toHaveAttribute('aria-sort', 'ascending');
  const byName = await requested.allTextContents();
  expect(byName).toEqual([...byName].sort());
  await requestHeader.getByRole('link').click();
  await expect(page).toHaveURL(/sort=-namespace/);
  await expect(requestHeader).toHaveAttribute('aria-sort', 'descending');
  await expect(requested.first()).toHaveText([...byName].sort().reverse()[0]);
  expect(errors).toEqual([]);
});
