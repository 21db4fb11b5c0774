// Small helpers for two-step sign-in (TOTP): how a secret is shown, what a typed code becomes.

/** A base32 secret in groups of four for reading and typing: `JBSW Y3DP EHPK 3PXP`. */
export function groupSecret(secret: string): string {
  const plain = secret.replace(/[\s=]+/g, '').toUpperCase();
  return plain.match(/.{1,4}/g)?.join(' ') ?? '';
}

/** The digits of a typed code ("123 456", "123-456" → "123456"). */
export function codeDigits(typed: string): string {
  return typed.replace(/\D+/g, '');
}
