// Shapes of the Plansmith HTTP API (see /api/openapi.json). Only the fields the app uses.

export interface User {
  id: string;
  email: string;
  name: string | null;
  plan: string;
  role: string;
}

export interface AuthResponse {
  user: User;
  token: string;
}

export interface SectionDef {
  id: string;
  title: string;
  purpose: string;
}

export interface StepDef {
  id: string;
  title: string;
  role: string;
  document_title: string;
  sections: SectionDef[];
}

export interface Workflow {
  id: string;
  name: string;
  description: string;
  steps: StepDef[];
}

export type StepStatus = 'completed' | 'current' | 'pending';

export interface StepProgress {
  id: string;
  title: string;
  status: StepStatus;
}

export interface Session {
  id: string;
  workflow_id: string;
  title: string;
  idea: string;
  status: string;
  current_step: string | null;
  progress: number;
  sections_filled: number;
  sections_total: number;
  steps: StepProgress[];
  created_at: string;
  updated_at?: string;
  completed_at?: string | null;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

export type MessageStatus = 'queued' | 'streaming' | 'complete' | 'failed' | 'interrupted';

export interface Message {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  status: MessageStatus;
  seq: number;
  step_id: string;
  error: { code: string; message: string } | null;
  created_at: string;
}

export interface ReplyRef {
  id: string;
  status: MessageStatus;
  stream_url: string;
}

export interface PostMessageResponse {
  message: Message;
  reply: ReplyRef;
}

export interface DocumentSummary {
  id: string;
  step_id: string;
  title: string;
  revision: number;
}

export interface SectionContent {
  id: string;
  title: string;
  content: string;
}

export interface PlanDocument {
  id: string;
  step_id: string;
  title: string;
  revision: number;
  content_hash: string;
  sections: SectionContent[];
}

export interface Revision {
  revision: number;
  author: 'ai' | 'user';
  created_at: string;
  content_hash: string;
}

export interface ApiErrorBody {
  error: { code: string; message: string; hint: string; request_id: string };
}
