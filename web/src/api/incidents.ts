// Incident notices: an admin publishes one to everyone or to a list of accounts; each gets an
// email and a banner in the app until they mark it read (the read receipt the admin sees).
//
// Written by hand for now: the OpenAPI snapshot this app's types are generated from
// (schema.gen.ts) does not describe these routes yet. Once it does (`npm run api:types`), take
// the types from there (types.ts: `Schemas['IncidentView']`, `Schemas['IncidentDetail']`,
// `Schemas['MyIncidents']`, `Schemas['NewIncidentRequest']`), move these addresses into
// paths.ts, where they are checked against the document, and delete this file.

import { api, type RequestOptions } from './client';

export const SEVERITIES = ['sev1', 'sev2', 'sev3', 'sev4'] as const;
/** `sev1` is the most severe. */
export type Severity = (typeof SEVERITIES)[number];

/** POST /api/v1/admin/incidents. `title`: 1–200 characters; `body`: 1–5,000. */
export interface NewIncident {
  severity: Severity;
  title: string;
  body: string;
  /** The affected accounts; left out, the notice goes to everyone. */
  user_ids?: string[];
}

export interface Incident {
  id: string;
  /** `sev1` … `sev4`; typed as a string by the server. */
  severity: string;
  title: string;
  body: string;
  /** `all` or `users`. */
  audience: string;
  created_at: string;
  created_by?: string | null;
  recipient_count: number;
  /** Recipients whose email was queued. */
  notified_count: number;
  /** Recipients who marked it read. */
  read_count: number;
}

export interface IncidentList {
  items: Incident[];
}

export interface IncidentRecipient {
  user_id: string;
  email: string;
  notified_at?: string | null;
  read_at?: string | null;
}

export interface IncidentDetail extends Incident {
  recipients: IncidentRecipient[];
}

/** A notice addressed to the signed-in person. */
export interface MyIncident {
  id: string;
  severity: string;
  title: string;
  body: string;
  created_at: string;
  /** Null while it is shown as a banner. */
  read_at?: string | null;
}

export interface MyIncidents {
  items: MyIncident[];
}

const enc = encodeURIComponent;

export const incidentPaths = {
  adminIncidents: () => '/api/v1/admin/incidents',
  adminIncident: (id: string) => `/api/v1/admin/incidents/${enc(id)}`,
  myIncidents: () => '/api/v1/me/incidents',
  markRead: (id: string) => `/api/v1/me/incidents/${enc(id)}/read`,
};

export const incidentsApi = {
  publish: (body: NewIncident) => api.post<Incident>(incidentPaths.adminIncidents(), body),
  list: (options?: RequestOptions) => api.get<IncidentList>(incidentPaths.adminIncidents(), options),
  get: (id: string, options?: RequestOptions) => api.get<IncidentDetail>(incidentPaths.adminIncident(id), options),
  mine: (options?: RequestOptions) => api.get<MyIncidents>(incidentPaths.myIncidents(), options),
  /** 204; marking it again changes nothing; 404 `not_found` when it is not addressed to you. */
  markRead: (id: string) => api.post<void>(incidentPaths.markRead(id)),
};
