import { test, expect } from '@playwright/test';

// Single sign-on in the browser: "Sign in with …" on Berth's login page, the identity
// provider's own login page (testplane/idp/, started by scripts/test with
// testplane/idp/users.json), and back in Berth with the teams of the provider's groups
// (the demo seed's group rules: payments → member, payments-leads → owner).

// The provider serves TLS with a CA of its own, made for this run.
test.use({ ignoreHTTPSErrors: true });

test.skip(!process.env.BERTH_E2E_SSO, 'the journeys server runs without single sign-on');

for (const width of [1280, 390]) {
  test(`a developer signs in through the identity provider at ${width} px`, async ({ page }) => {
    await page.setViewportSize({ width, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto('/login');
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1);
    await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();

    // The provider's page, not Berth's.
    await expect(page.locator('#username')).toBeVisible();
    expect(new URL(page.url()).origin).not.toBe(new URL(process.env.BERTH_URL ?? 'http://127.0.0.1:3000').origin);
    await page.locator('#username').fill('priya');
    await page.locator('#password').fill('priya-demo');
    await page.locator('button[type="submit"]').click();

    await expect(page.getByRole('button', { name: 'Log out' })).toBeVisible();
    await expect(page.getByRole('heading', { name: 'Your teams' })).toBeVisible();
    await expect(page.getByRole('link', { name: 'Payments', exact: true })).toBeVisible();
    await expect(page.getByText('owner')).toBeVisible();
    expect(errors).toEqual([]);
  });
}

test('a failed sign-in says what happened on the login page', async ({ page }) => {
  await page.goto('/auth/oidc/callback?state=used-or-unknown&code=x');
  await expect(page).toHaveURL(/\/login\?sso=expired/);
  await expect(page.getByRole('alert')).toContainText('expired or was already used');
  // The password form is still there for break-glass admins.
  await expect(page.getByLabel('Password')).toBeVisible();
});
