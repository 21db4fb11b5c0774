// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, expect, it, vi } from 'vitest';
import { RateDocument, SessionSurvey } from './Feedback';

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** The server: records each request and answers with `answers` in turn (then 200 `{}`). */
function stubServer(answers: Response[] = []) {
  const calls: { url: string; method: string; body: unknown }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      calls.push({ url, method: init?.method ?? 'GET', body: init?.body ? JSON.parse(init.body as string) : undefined });
      return answers.shift() ?? json({});
    }),
  );
  return calls;
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

async function click(name: string | RegExp) {
  await act(async () => {
    fireEvent.click(screen.getByRole('button', { name }));
  });
}

it('rates a document: 1–5 stars as a labelled radio group, useful yes/no and a comment, sent with PUT', async () => {
  const calls = stubServer([json({ document_id: 'd1', rating: 4, useful: true, updated_at: '2026-12-05T10:00:00Z' })]);
  render(<RateDocument sessionId="s1" documentId="d1" title="Project brief" />);
  const stars = screen.getByRole('group', { name: 'Your rating' });
  expect(stars.querySelectorAll('input[type=radio]')).toHaveLength(5);
  fireEvent.click(screen.getByRole('radio', { name: '4 stars' }));
  expect(screen.getByRole<HTMLInputElement>('radio', { name: '4 stars' }).checked).toBe(true);
  fireEvent.click(screen.getByRole('radio', { name: 'Yes' }));
  fireEvent.change(screen.getByLabelText('Comment (optional)'), { target: { value: '  Clear and to the point.  ' } });
  await click('Save rating');
  expect(calls).toEqual([{ url: '/api/v1/sessions/s1/documents/d1/rating', method: 'PUT', body: { rating: 4, useful: true, comment: 'Clear and to the point.' } }]);
  expect(screen.getByRole('status').textContent).toContain('Thanks — saved');
});

it('asks for the stars and the yes/no before sending, and sends no empty comment', async () => {
  const calls = stubServer();
  render(<RateDocument sessionId="s1" documentId="d1" title="Project brief" />);
  await click('Save rating');
  expect(calls).toHaveLength(0);
  expect(screen.getByText('Choose from 1 to 5 stars.')).toBeTruthy();
  expect(screen.getByText('Answer yes or no.')).toBeTruthy();
  fireEvent.click(screen.getByRole('radio', { name: '2 stars' }));
  fireEvent.click(screen.getByRole('radio', { name: 'No' }));
  await click('Save rating');
  expect(calls.map((c) => c.body)).toEqual([{ rating: 2, useful: false, comment: null }]);
});

it('refuses a comment over 2,000 characters, and shows the server refusing a field under that field', async () => {
  const calls = stubServer([
    json({ error: { code: 'invalid_field', field: 'comment', message: 'comment: is longer than 2000 characters', hint: 'Shorten it.', request_id: 'r1' } }, 422),
    json({ error: { code: 'internal_error', message: 'Plansmith ran into a problem on its side.', hint: 'Try again in a moment.', request_id: 'r2' } }, 500),
  ]);
  render(<RateDocument sessionId="s1" documentId="d1" title="Project brief" />);
  fireEvent.click(screen.getByRole('radio', { name: '5 stars' }));
  fireEvent.click(screen.getByRole('radio', { name: 'Yes' }));
  const comment = screen.getByLabelText('Comment (optional)');
  fireEvent.change(comment, { target: { value: 'x'.repeat(2001) } });
  await click('Save rating');
  expect(calls).toHaveLength(0);
  expect(screen.getByText('The comment is too long: at most 2,000 characters.')).toBeTruthy();
  expect(comment.getAttribute('aria-invalid')).toBe('true');

  fireEvent.change(comment, { target: { value: 'fine' } });
  await click('Save rating');
  expect(calls).toHaveLength(1);
  expect(comment.getAttribute('aria-describedby')).toContain(screen.getByText(/The comment is too long: at most 2,000 characters\. Shorten it\./).id);

  await click('Save rating');
  expect(screen.getByRole('alert').textContent).toContain('Plansmith ran into a problem on its side.');
  expect(screen.getByRole('alert').textContent).toContain('r2');
});

it('the survey sends the CSAT, decimal hours and the comment, then thanks', async () => {
  const calls = stubServer([json({ session_id: 's1', csat: 5, hours_without: 12.5, updated_at: '2026-12-05T10:00:00Z' })]);
  render(<SessionSurvey sessionId="s1" />);
  expect(screen.getByRole('group', { name: 'How satisfied are you with this plan?' })).toBeTruthy();
  fireEvent.click(screen.getByRole('radio', { name: '5 — very satisfied' }));
  fireEvent.change(screen.getByLabelText('How many hours would this plan have taken you without Plansmith?'), { target: { value: '12.5' } });
  fireEvent.change(screen.getByLabelText('Anything else? (optional)'), { target: { value: 'Saved me a week.' } });
  await click('Send answer');
  expect(calls).toEqual([{ url: '/api/v1/sessions/s1/survey', method: 'PUT', body: { csat: 5, hours_without: 12.5, comment: 'Saved me a week.' } }]);
  expect(screen.getByRole('status').textContent).toContain('Thanks — saved');
});

it('the survey checks its answers before sending, and "Not now" puts it away', async () => {
  const calls = stubServer();
  render(<SessionSurvey sessionId="s1" />);
  const hours = screen.getByLabelText('How many hours would this plan have taken you without Plansmith?');
  await click('Send answer');
  expect(screen.getByText('Choose from 1 to 5.')).toBeTruthy();
  expect(screen.getByText('Give a number of hours from 0 to 10,000.')).toBeTruthy();
  fireEvent.click(screen.getByRole('radio', { name: '3 — neutral' }));
  fireEvent.change(hours, { target: { value: '10001' } });
  await click('Send answer');
  expect(hours.getAttribute('aria-invalid')).toBe('true');
  expect(calls).toHaveLength(0);
  fireEvent.change(hours, { target: { value: '0' } });
  await click('Send answer');
  expect(calls.map((c) => c.body)).toEqual([{ csat: 3, hours_without: 0, comment: null }]);

  cleanup();
  render(<SessionSurvey sessionId="s2" />);
  await click('Not now');
  expect(screen.queryByTestId('session-survey')).toBeNull();
});
