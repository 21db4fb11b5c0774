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

it('a title over the limit is kept whole, counted, and refused next to the field without asking the server', () => {
  const fetch = vi.fn();
  vi.stubGlobal('fetch', fetch);
  render(<NewSessionPage />);
  const title = screen.getByLabelText<HTMLInputElement>('Title');
  const long = 'A very long title '.repeat(12); // 216 characters
  fireEvent.change(title, { target: { value: long } });
  expect(title.value).toBe(long);
  expect(screen.getByTestId('char-counter').textContent).toMatch(/over the limit of 200/);
  fireEvent.change(screen.getByLabelText('Your idea'), { target: { value: 'An idea.' } });
  fireEvent.submit(title.closest('form')!);
  expect(screen.getByRole('alert').textContent).toMatch(/title is too long: at most 200 characters/);
  expect(title.getAttribute('aria-invalid')).toBe('true');
  expect(title.getAttribute('aria-describedby')).toContain('title-error');
  expect(fetch).not.toHaveBeenCalled();
  vi.unstubAllGlobals();
});

it("the server's refusal of a field shows under that field in plain words", async () => {
  vi.stubGlobal(
    'fetch',
    vi.fn(async () =>
      new Response(JSON.stringify({ error: { code: 'invalid_field', message: 'idea: is longer than 10000 characters', hint: 'Shorten the idea.', request_id: 'r1' } }), {
        status: 400,
        headers: { 'content-type': 'application/json' },
      }),
    ),
  );
  render(<NewSessionPage />);
  fireEvent.change(screen.getByLabelText('Title'), { target: { value: 'Recipe Box' } });
  fireEvent.change(screen.getByLabelText('Your idea'), { target: { value: 'Short here, but the server has a lower limit.' } });
  await act(async () => {
    fireEvent.submit(screen.getByLabelText('Title').closest('form')!);
  });
  const alert = await screen.findByRole('alert');
  expect(alert.id).toBe('idea-error');
  expect(alert.textContent).toBe('Your idea is too long: at most 10,000 characters.');
  expect(document.body.textContent).not.toContain('r1');
  expect(document.body.textContent).not.toContain('idea: is');
  vi.unstubAllGlobals();
});
