// The app addresses the server's emails link to: `/reset-password?token=…` (a password reset)
// and `/verify-email?token=…` (an email verification), built by the server's mailer
// (crates/server/src/mail.rs, `Mailer::link`). The name of the query parameter is spelled here.

/** The token of an emailed link, from the address's query; `null` when missing or blank. */
export function linkToken(search: string): string | null {
  const token = new URLSearchParams(search).get('token')?.trim();
  return token ? token : null;
}
