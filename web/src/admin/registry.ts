// The admin console's pages. Adding one for a new admin API: write its component in pages/,
// then add an entry here; the navigation, the route (/admin/<slug>) and the title follow.

import type { ComponentType } from 'react';
import { AuditPage } from './pages/AuditPage';
import { BusinessPage } from './pages/BusinessPage';
import { EmailsPage } from './pages/EmailsPage';
import { ErrorsPage } from './pages/ErrorsPage';
import { FlagKeysPage } from './pages/FlagKeysPage';
import { FlagsPage } from './pages/FlagsPage';
import { IncidentsPage } from './pages/IncidentsPage';
import { ProvidersPage } from './pages/ProvidersPage';
import { SecurityEventsPage } from './pages/SecurityEventsPage';
import { UsagePage } from './pages/UsagePage';
import { UsersPage } from './pages/UsersPage';

export interface AdminPage {
  /** The path under /admin/. */
  slug: string;
  title: string;
  /** One line under the title. */
  description: string;
  Component: ComponentType;
}

export const ADMIN_PAGES: readonly AdminPage[] = [
  { slug: 'providers', title: 'Model providers', description: 'Each provider of the route: breaker, queue, calls in flight and limits.', Component: ProvidersPage },
  { slug: 'usage', title: 'Usage and cost', description: 'Model calls, tokens and cost, by provider, model, user or day.', Component: UsagePage },
  {
    slug: 'business',
    title: 'Business',
    description: 'Revenue, its forecast with the forecast’s measured error, activation, retention and session quality.',
    Component: BusinessPage,
  },
  { slug: 'users', title: 'Users', description: 'Accounts with their role and plan; disable one, or end its sign-ins.', Component: UsersPage },
  { slug: 'flags', title: 'Feature flags', description: 'What is switched on, for whom.', Component: FlagsPage },
  {
    slug: 'flag-keys',
    title: 'Flag client keys',
    description: 'Keys that let other services evaluate feature flags; issue one, or revoke it.',
    Component: FlagKeysPage,
  },
  { slug: 'errors', title: 'Errors', description: 'Server errors, panics and errors of the web app, grouped.', Component: ErrorsPage },
  { slug: 'security', title: 'Security events', description: 'Sign-ins, lockouts, password and role changes.', Component: SecurityEventsPage },
  {
    slug: 'audit',
    title: 'Audit',
    description: 'Who read or changed whose data, when and from which network: people, administrators and the platform.',
    Component: AuditPage,
  },
  {
    slug: 'incidents',
    title: 'Incidents',
    description: 'Tell people about an incident: an email and a banner in the app each, and who has read it.',
    Component: IncidentsPage,
  },
  { slug: 'emails', title: 'Emails', description: 'What was sent, what waits, what failed.', Component: EmailsPage },
];

export function findPage(slug: string | null): AdminPage | undefined {
  return slug === null ? ADMIN_PAGES[0] : ADMIN_PAGES.find((p) => p.slug === slug);
}
