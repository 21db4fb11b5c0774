// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, expect, it, vi } from 'vitest';
import type { WorkflowList } from '../api/types';
import { flags } from '../lib/flags';
import { NewSessionPage } from './NewSessionPage';

// As when a `workflow:product-plan` flag keeps the default workflow from this person.
const workflows: WorkflowList = { items: [{ id: 'quick-brief', name: 'Quick brief', description: 'One document.', steps: [] }] };
vi.mock('../lib/useResource', () => ({
  useResource: () => ({ data: workflows, error: null, loading: false, fromCache: false, savedAt: undefined, reload: () => {}, setData: () => {} }),
}));

afterEach(() => {
  cleanup();
  flags.set(null);
  vi.restoreAllMocks();
});

const examples = () => screen.queryByRole('group', { name: 'Start from an example' });
const turnOn = (on: boolean) => act(() => flags.set({ userId: 'u', etag: null, values: { 'new-session.examples': on } }));

it('shows the examples only while their flag is on', () => {
  render(<NewSessionPage />);
  expect(examples()).toBeNull();
  turnOn(true);
  expect(examples()).not.toBeNull();
  turnOn(false);
  expect(examples()).toBeNull();
});

it('an example fills the title and idea and says so; what the person wrote is replaced only when they confirm', () => {
  render(<NewSessionPage />);
  turnOn(true);
  const title = screen.getByLabelText<HTMLInputElement>('Title');
  const idea = screen.getByLabelText<HTMLTextAreaElement>('Your idea');

  fireEvent.click(screen.getByRole('button', { name: 'Tool Library' }));
  expect(title.value).toBe('Tool Library');
  expect(idea.value).toMatch(/lend and borrow tools/);
  expect(screen.getByRole('status').textContent).toMatch(/Tool Library/);

  // Another example over an untouched one: no question asked.
  const confirm = vi.spyOn(window, 'confirm').mockReturnValue(false);
  fireEvent.click(screen.getByRole('button', { name: 'Recipe Box' }));
  expect(title.value).toBe('Recipe Box');
  expect(confirm).not.toHaveBeenCalled();

  fireEvent.change(title, { target: { value: 'My own plan' } });
  fireEvent.click(screen.getByRole('button', { name: 'Clinic Reminders' }));
  expect(confirm).toHaveBeenCalledTimes(1);
  expect(title.value).toBe('My own plan');
  confirm.mockReturnValue(true);
  fireEvent.click(screen.getByRole('button', { name: 'Clinic Reminders' }));
  expect(title.value).toBe('Clinic Reminders');
});

it('selects the first workflow offered when the default one is not offered', () => {
  render(<NewSessionPage />);
  expect(screen.getByRole<HTMLInputElement>('radio', { name: /Quick brief/ }).checked).toBe(true);
});
