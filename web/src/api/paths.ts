// Every address of the API the app uses, and the only place that spells them. Each route is
// written as it appears in the OpenAPI document and type-checked against it (schema.gen.ts), so
// a route the server renames or drops fails `npm run typecheck` after `npm run api:types`.

import type { paths as DocumentedPaths } from './schema.gen';

type Route = keyof DocumentedPaths;
/** `{id}` and `{doc_id}` in '/api/v1/sessions/{id}/documents/{doc_id}' → 'id' | 'doc_id'. */
type Params<T extends string> = T extends `${string}{${infer P}}${infer Rest}` ? P | Params<Rest> : never;
type Query = Record<string, string | number | null | undefined>;

/** A documented route with its path parameters filled in (encoded) and an optional query. */
function route<R extends Route>(template: R, params: Record<Params<R>, string>, query: Query = {}): string {
  const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent((params as Record<string, string>)[name]));
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== null && value !== undefined) search.set(key, String(value));
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}

const session = (id: string) => ({ id });
const doc = (id: string, docId: string) => ({ id, doc_id: docId });

export const paths = {
  healthz: () => route('/healthz', {}),
  about: () => route('/api/v1/about', {}),
  /** GET the signed-in user; DELETE (with the password) erases the account. */
  me: () => route('/api/v1/me', {}),
  changePassword: () => route('/api/v1/me/password', {}),
  /** Everything Plansmith holds about the signed-in person, as one JSON file to download. */
  exportMyData: () => route('/api/v1/me/export', {}),
  consents: () => route('/api/v1/me/consents', {}),
  /** Who read or changed the signed-in person's data (the audit trail about them), newest first. */
  accessLog: (query: { cursor?: string | null; limit?: number } = {}) => route('/api/v1/me/access-log', {}, query),
  signIns: () => route('/api/v1/me/sign-ins', {}),
  signIn: (id: string) => route('/api/v1/me/sign-ins/{id}', { id }),
  revokeAllSignIns: () => route('/api/v1/me/sign-ins/revoke-all', {}),
  /** The plan in force, the subscriptions and whether a payment is overdue. */
  myBilling: () => route('/api/v1/me/billing', {}),
  /** A Stripe Checkout page for a plan; `billingPortal`: Stripe's customer portal. */
  checkout: () => route('/api/v1/billing/checkout', {}),
  billingPortal: () => route('/api/v1/billing/portal', {}),
  mfa: () => route('/api/v1/me/mfa', {}),
  totp: () => route('/api/v1/me/mfa/totp', {}),
  confirmTotp: () => route('/api/v1/me/mfa/totp/confirm', {}),
  login: () => route('/api/v1/auth/login', {}),
  register: () => route('/api/v1/auth/register', {}),
  logout: () => route('/api/v1/auth/logout', {}),
  passwordReset: () => route('/api/v1/auth/password-reset', {}),
  confirmPasswordReset: () => route('/api/v1/auth/password-reset/confirm', {}),
  verifyEmail: () => route('/api/v1/auth/verify-email', {}),
  rum: () => route('/api/v1/rum', {}),
  clientErrors: () => route('/api/v1/client-errors', {}),
  workflows: () => route('/api/v1/workflows', {}),
  /** Every feature flag, evaluated for the signed-in user (OpenFeature Remote Evaluation Protocol). */
  evaluateFlags: () => route('/ofrep/v1/evaluate/flags', {}),

  adminProviders: () => route('/api/v1/admin/llm/providers', {}),
  adminUsage: (query: { group_by?: string; from?: string; to?: string } = {}) => route('/api/v1/admin/llm/usage', {}, query),
  adminUsers: (query: { cursor?: string | null; limit?: number } = {}) => route('/api/v1/admin/users', {}, query),
  adminUser: (id: string) => route('/api/v1/admin/users/{id}', { id }),
  adminRevokeSignIns: (id: string) => route('/api/v1/admin/users/{id}/revoke-sign-ins', { id }),
  adminFlags: () => route('/api/v1/admin/flags', {}),
  adminFlag: (key: string) => route('/api/v1/admin/flags/{key}', { key }),
  adminErrors: (query: { limit?: number } = {}) => route('/api/v1/admin/errors', {}, query),
  adminSecurityEvents: (query: { kind?: string; user?: string; cursor?: string | null; limit?: number } = {}) =>
    route('/api/v1/admin/security-events', {}, query),
  adminClientKeys: () => route('/api/v1/admin/flag-client-keys', {}),
  adminClientKey: (id: string) => route('/api/v1/admin/flag-client-keys/{id}', { id }),
  adminAudit: (
    query: { user?: string; session?: string; action?: string; from?: string; to?: string; cursor?: string | null; limit?: number } = {},
  ) => route('/api/v1/admin/audit', {}, query),
  adminEmails: (query: { before?: string | null; limit?: number } = {}) => route('/api/v1/admin/emails', {}, query),
  /** Business analytics (docs/analytics.md): money in cents per currency, never converted. */
  adminMrr: (query: { from?: string; to?: string; currency?: string } = {}) => route('/api/v1/admin/analytics/mrr', {}, query),
  adminForecast: (query: { months?: number; currency?: string } = {}) => route('/api/v1/admin/analytics/forecast', {}, query),
  adminFunnel: (query: { from?: string; to?: string; plan?: string; channel?: string; workflow?: string } = {}) =>
    route('/api/v1/admin/analytics/funnel', {}, query),
  adminRetention: (query: { from?: string; to?: string; plan?: string; channel?: string } = {}) =>
    route('/api/v1/admin/analytics/retention', {}, query),
  adminQuality: (query: { from?: string; to?: string } = {}) => route('/api/v1/admin/analytics/quality', {}, query),
  adminProductUsage: (query: { from?: string; to?: string; plan?: string; channel?: string } = {}) => route('/api/v1/admin/analytics/usage', {}, query),

  sessions: (query: { limit?: number; cursor?: string | null } = {}) => route('/api/v1/sessions', {}, query),
  /** GET it; PATCH renames it; DELETE deletes it. */
  session: (id: string) => route('/api/v1/sessions/{id}', session(id)),
  /** The whole plan, every document in step order, as one file to download. */
  exportPlan: (id: string, format: 'md' | 'docx') =>
    format === 'md' ? route('/api/v1/sessions/{id}/export.md', session(id)) : route('/api/v1/sessions/{id}/export.docx', session(id)),
  completeSession: (id: string) => route('/api/v1/sessions/{id}/complete', session(id)),
  abandonSession: (id: string) => route('/api/v1/sessions/{id}/abandon', session(id)),
  /** GET/PUT the end-of-session survey (GET: `404` until answered; answering again replaces the earlier answer). */
  survey: (id: string) => route('/api/v1/sessions/{id}/survey', session(id)),
  completeStep: (id: string, stepId: string) => route('/api/v1/sessions/{id}/steps/{step_id}/complete', { id, step_id: stepId }),

  messages: (id: string) => route('/api/v1/sessions/{id}/messages', session(id)),
  replyStream: (id: string, replyId: string) => route('/api/v1/sessions/{id}/replies/{reply_id}/stream', { id, reply_id: replyId }),
  retryReply: (id: string, replyId: string) => route('/api/v1/sessions/{id}/replies/{reply_id}/retry', { id, reply_id: replyId }),

  documents: (id: string) => route('/api/v1/sessions/{id}/documents', session(id)),
  /** The current revision, or an older one. */
  document: (id: string, docId: string, revision?: number) =>
    route('/api/v1/sessions/{id}/documents/{doc_id}', doc(id, docId), { revision }),
  exportDocument: (id: string, docId: string) => route('/api/v1/sessions/{id}/documents/{doc_id}/export.md', doc(id, docId)),
  revisions: (id: string, docId: string) => route('/api/v1/sessions/{id}/documents/{doc_id}/revisions', doc(id, docId)),
  /** GET/PUT the person's rating of a document (GET: `404` until rated; rating again replaces the earlier one). */
  rating: (id: string, docId: string) => route('/api/v1/sessions/{id}/documents/{doc_id}/rating', doc(id, docId)),
  restore: (id: string, docId: string) => route('/api/v1/sessions/{id}/documents/{doc_id}/restore', doc(id, docId)),
  section: (id: string, docId: string, sectionId: string) =>
    route('/api/v1/sessions/{id}/documents/{doc_id}/sections/{section_id}', { ...doc(id, docId), section_id: sectionId }),
};
