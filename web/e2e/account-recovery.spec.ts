// Account recovery and two-step sign-in in the browser against the real server: asking for a
// reset link, links that no longer work, and TOTP from enrolment on the account page to a
// sign-in with a code (computed here from the secret, RFC 6238).

import { createHmac } from 'node:crypto';
import AxeBuilder from '@axe-core/playwright';
import { expect, test } from './fixtures';

/** RFC 4648 base32 (no padding needed) to bytes. */
function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 6238 TOTP: HMAC-SHA1 over the 30-second step, 6 digits. */
function totpAt(secret: string, step: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32Decode(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

const currentStep = () => Math.floor(Date.now() / 1000 / 30);

test('the TOTP helper matches the RFC 6238 test vector', () => {
  // RFC 6238 appendix B, SHA-1, T = 59 s → 94287082 (8 digits); its last 6 digits.
  const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // "12345678901234567890"
  expect(totpAt(secret, Math.floor(59 / 30))).toBe('287082');
  expect(totpAt(secret, Math.floor(1111111109 / 30))).toBe('081804');
});

test('forgot password: the form answers the same whether or not the account exists', async ({ page, account }) => {
  await page.goto('/signin');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await expect(page).toHaveURL(/\/forgot-password$/);
  await expect(page.getByRole('heading', { name: 'Reset your password' })).toBeVisible();
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);

  const neutral = 'If an account exists for that address, we sent a link; it works for 30 minutes.';
  await page.getByLabel('Email').fill(account.email);
  await page.getByRole('button', { name: 'Send the link' }).click();
  await expect(page.getByRole('main').getByRole('status')).toHaveText(neutral);

  await page.goto('/forgot-password');
  await page.getByLabel('Email').fill('nobody-here@example.com');
  await page.getByRole('button', { name: 'Send the link' }).click();
  await expect(page.getByRole('main').getByRole('status')).toHaveText(neutral);
  await page.getByRole('link', { name: 'Back to sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Plansmith' })).toBeVisible();
});

test('reset password: an unknown or used link says it expired and offers a new one; no token says so', async ({ page }) => {
  await page.goto('/reset-password?token=not-a-real-token');
  await expect(page.getByRole('heading', { name: 'Choose a new password' })).toBeVisible();
  await expect(page.getByText('At least 8 characters, and not one of the most common passwords.')).toBeVisible();
  await page.getByLabel('New password').fill('a perfectly fine passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByText('This password reset link was used already or has expired.')).toBeVisible();
  await expect(page.getByText('invalid_token')).toHaveCount(0);
  await page.getByRole('link', { name: 'Ask for a new reset link' }).click();
  await expect(page.getByRole('heading', { name: 'Reset your password' })).toBeVisible();

  await page.goto('/reset-password');
  await expect(page.getByText('This link is incomplete: it has no reset code.')).toBeVisible();
  await expect(page.getByLabel('New password')).toHaveCount(0);
});

test('verify email: a bad link says it was used or expired', async ({ page }) => {
  await page.goto('/verify-email?token=not-a-real-token');
  await expect(page.getByRole('heading', { name: 'Confirm your email' })).toBeVisible();
  await expect(page.getByText('This confirmation link was used already or has expired.')).toBeVisible();
  await expect(page.getByText('invalid_token')).toHaveCount(0);
  await expect(page.getByRole('main').getByRole('link', { name: 'Sign in' })).toBeVisible();
});

test('two-step sign-in: enrol on the account page, then signing in asks for the code', async ({ signedIn: page, account }) => {
  await page.getByRole('link', { name: 'Account' }).click();
  const section = page.getByRole('region', { name: 'Two-step sign-in' });
  await expect(section.getByText(/^Off:/)).toBeVisible();
  await section.getByRole('button', { name: 'Turn on' }).click();

  const link = section.getByRole('link', { name: 'open this link in the app' });
  const uri = new URL((await link.getAttribute('href'))!);
  expect(uri.protocol).toBe('otpauth:');
  const secret = uri.searchParams.get('secret')!;
  // The key on screen is the same secret, grouped in fours.
  await expect(section.locator('.totp-secret')).toHaveText(secret.match(/.{1,4}/g)!.join(' '));
  const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  expect(axe.violations.map((v) => v.id)).toEqual([]);

  const enrolStep = currentStep();
  const enrolCode = totpAt(secret, enrolStep);
  await section.getByLabel('Code from the app').fill(enrolCode);
  await section.getByRole('button', { name: 'Confirm and turn on' }).click();
  await expect(section.getByRole('status')).toContainText('Two-step sign-in is on.');
  await expect(section.getByText(/^On:/)).toBeVisible();

  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Sign in to Plansmith' })).toBeVisible();
  await page.getByLabel('Email').fill(account.email);
  await page.getByLabel('Password').fill(account.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const codeField = page.getByLabel('Authentication code');
  await expect(codeField).toBeVisible();
  await expect(codeField).toBeFocused();
  await expect(codeField).toHaveAttribute('autocomplete', 'one-time-code');
  await expect(codeField).toHaveAttribute('inputmode', 'numeric');
  await expect(page.getByText('mfa_required')).toHaveCount(0);

  // The code that confirmed the enrolment was used already.
  await codeField.fill(enrolCode);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByText('That code is not right or was already used; wait for the next one.')).toBeVisible();

  // The next step's code is accepted (the server allows one step of clock drift) and not used yet.
  await codeField.fill(totpAt(secret, enrolStep + 1));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Your planning sessions' })).toBeVisible();
});
