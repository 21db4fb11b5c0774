// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, expect, it, vi } from 'vitest';
import { RateDocument, SessionSurvey } from './Feedback';

const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const notFound = () => json({ error: { code: 'not_found', message: 'Not found.', hint: 'Answer it first.', request_id: 'r404' } }, 404);
const serverFault = () =>
  json({ error: { code: 'internal_error', message: 'Plansmith ran into a problem on its side.', hint: 'Try again in a moment.', request_id: 'r500' } }, 500);

/** The server: records each request; answers a GET (the earlier answer) with `earlier()`, by
 * default `404` (none yet), and the other requests with `answers` in turn (then 200 `{}`). */
function stubServer(answers: Response[] = [], earlier: () => Response = notFound) {
  const calls: { url: string; method: string; body: unknown }[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      const method = init?.method ?? 'GET';
      calls.push({ url, method, body: init?.body ? JSON.parse(init.body as string) : undefined });
      return method === 'GET' ? earlier() : (answers.shift() ?? json({}));
    }),
  );
  return calls;
}

const RATING_URL = '/api/v1/sessions/s1/documents/d1/rating';
const SURVEY_URL = '/api/v1/sessions/s1/survey';
const HOURS = 'How many hours would this plan have taken you without Plansmith?';

/** Renders the rating form once the earlier rating has been read (none: the empty form). */
async function renderRating() {
  render(<RateDocument sessionId="s1" documentId="d1" title="Project brief" />);
  await screen.findByRole('form', { name: 'Rate Project brief' });
}

/** Renders the survey once the earlier answer has been read (none: the question). */
async function renderSurvey(sessionId = 's1') {
  render(<SessionSurvey sessionId={sessionId} />);
  await screen.findByRole('group', { name: 'How satisfied are you with this plan?' });
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
  const calls = stubServer([json({ document_id: 'd1', rating: 4, useful: true, comment: 'Clear and to the point.', updated_at: '2026-12-05T10:00:00Z' })]);
  render(<RateDocument sessionId="s1" documentId="d1" title="Project brief" />);
  // The earlier rating is read first: a quiet line meanwhile, no form yet.
  expect(screen.getByTestId('rate-document').textContent).toBe('Loading your rating…');
  expect(screen.queryByRole('form')).toBeNull();
  // None yet (404): the empty form, and no error shown for it.
  await screen.findByRole('form', { name: 'Rate Project brief' });
  expect(screen.queryByRole('alert')).toBeNull();
  expect(screen.getAllByRole('radio').filter((r) => (r as HTMLInputElement).checked)).toHaveLength(0);
  expect(screen.getByLabelText<HTMLTextAreaElement>('Comment (optional)').value).toBe('');
  const stars = screen.getByRole('group', { name: 'Your rating' });
  expect(stars.querySelectorAll('input[type=radio]')).toHaveLength(5);
  fireEvent.click(screen.getByRole('radio', { name: '4 stars' }));
  expect(screen.getByRole<HTMLInputElement>('radio', { name: '4 stars' }).checked).toBe(true);
  fireEvent.click(screen.getByRole('radio', { name: 'Yes' }));
  fireEvent.change(screen.getByLabelText('Comment (optional)'), { target: { value: '  Clear and to the point.  ' } });
  await click('Save rating');
  expect(calls).toEqual([
    { url: RATING_URL, method: 'GET', body: undefined },
    { url: RATING_URL, method: 'PUT', body: { rating: 4, useful: true, comment: 'Clear and to the point.' } },
  ]);
  expect(screen.getByRole('status').textContent).toContain('Thanks — saved');
  // What the server saved, as it answered.
  expect(screen.getByTestId('saved-rating').textContent).toBe('You rated this 4 of 5 · useful');
  expect(screen.getByText('Clear and to the point.').tagName).toBe('BLOCKQUOTE');
  expect(screen.queryByRole('form')).toBeNull();
});

it('shows the saved rating, and "Change my rating" opens the form filled in with it', async () => {
  const calls = stubServer(
    [json({ document_id: 'd1', rating: 5, useful: false, comment: 'Too long for a brief.', updated_at: '2026-12-06T10:00:00Z' })],
    () => json({ document_id: 'd1', rating: 2, useful: false, comment: 'Too long for a brief.', updated_at: '2026-12-05T10:00:00Z' }),
  );
  render(<RateDocument sessionId="s1" documentId="d1" title="Project brief" />);
  expect((await screen.findByTestId('saved-rating')).textContent).toBe('You rated this 2 of 5 · not useful');
  expect(screen.getByText('Too long for a brief.')).toBeTruthy();
  // Read, not just saved: no thanks, and no form.
  expect(screen.queryByRole('status')).toBeNull();
  expect(screen.queryByRole('form')).toBeNull();

  await click('Change my rating');
  const form = screen.getByRole('form', { name: 'Rate Project brief' });
  expect(screen.getByRole<HTMLInputElement>('radio', { name: '2 stars' }).checked).toBe(true);
  expect(form.querySelectorAll('input[type=radio]:checked')).toHaveLength(2);
  expect(screen.getByRole<HTMLInputElement>('radio', { name: 'No' }).checked).toBe(true);
  expect(screen.getByLabelText<HTMLTextAreaElement>('Comment (optional)').value).toBe('Too long for a brief.');

  fireEvent.click(screen.getByRole('radio', { name: '5 stars' }));
  await click('Save rating');
  expect(calls).toEqual([
    { url: RATING_URL, method: 'GET', body: undefined },
    { url: RATING_URL, method: 'PUT', body: { rating: 5, useful: false, comment: 'Too long for a brief.' } },
  ]);
  expect(screen.getByRole('status').textContent).toBe('Thanks — saved.');
  expect(screen.getByTestId('saved-rating').textContent).toBe('You rated this 5 of 5 · not useful');
});

it('a rating without a comment is shown without one', async () => {
  stubServer([], () => json({ document_id: 'd1', rating: 3, useful: true, comment: null, updated_at: '2026-12-05T10:00:00Z' }));
  render(<RateDocument sessionId="s1" documentId="d1" title="Project brief" />);
  expect((await screen.findByTestId('saved-rating')).textContent).toBe('You rated this 3 of 5 · useful');
  expect(screen.getByTestId('rate-document').querySelector('blockquote')).toBeNull();
  await click('Change my rating');
  expect(screen.getByRole<HTMLInputElement>('radio', { name: '3 stars' }).checked).toBe(true);
  expect(screen.getByRole<HTMLInputElement>('radio', { name: 'Yes' }).checked).toBe(true);
  expect(screen.getByLabelText<HTMLTextAreaElement>('Comment (optional)').value).toBe('');
});

it('when the saved rating cannot be read, the form is shown anyway with the error', async () => {
  const calls = stubServer([json({ document_id: 'd1', rating: 1, useful: false, comment: null, updated_at: '2026-12-05T10:00:00Z' })], serverFault);
  await renderRating();
  expect(screen.getByRole('alert').textContent).toContain('Plansmith ran into a problem on its side.');
  expect(screen.getByRole('alert').textContent).toContain('r500');
  fireEvent.click(screen.getByRole('radio', { name: '1 star' }));
  fireEvent.click(screen.getByRole('radio', { name: 'No' }));
  await click('Save rating');
  expect(calls.map((c) => c.method)).toEqual(['GET', 'PUT']);
  expect(screen.queryByRole('alert')).toBeNull();
  expect(screen.getByTestId('saved-rating').textContent).toBe('You rated this 1 of 5 · not useful');
});

it('asks for the stars and the yes/no before sending, and sends no empty comment', async () => {
  const calls = stubServer([json({ document_id: 'd1', rating: 2, useful: false, comment: null, updated_at: '2026-12-05T10:00:00Z' })]);
  await renderRating();
  await click('Save rating');
  expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(0);
  expect(screen.getByText('Choose from 1 to 5 stars.')).toBeTruthy();
  expect(screen.getByText('Answer yes or no.')).toBeTruthy();
  fireEvent.click(screen.getByRole('radio', { name: '2 stars' }));
  fireEvent.click(screen.getByRole('radio', { name: 'No' }));
  await click('Save rating');
  expect(calls.filter((c) => c.method === 'PUT').map((c) => c.body)).toEqual([{ rating: 2, useful: false, comment: null }]);
});

it('refuses a comment over 2,000 characters, and shows the server refusing a field under that field', async () => {
  const calls = stubServer([
    json({ error: { code: 'invalid_field', field: 'comment', message: 'comment: is longer than 2000 characters', hint: 'Shorten it.', request_id: 'r1' } }, 422),
    json({ error: { code: 'internal_error', message: 'Plansmith ran into a problem on its side.', hint: 'Try again in a moment.', request_id: 'r2' } }, 500),
  ]);
  await renderRating();
  fireEvent.click(screen.getByRole('radio', { name: '5 stars' }));
  fireEvent.click(screen.getByRole('radio', { name: 'Yes' }));
  const comment = screen.getByLabelText('Comment (optional)');
  fireEvent.change(comment, { target: { value: 'x'.repeat(2001) } });
  await click('Save rating');
  expect(calls).toHaveLength(1);
  expect(screen.getByText('The comment is too long: at most 2,000 characters.')).toBeTruthy();
  expect(comment.getAttribute('aria-invalid')).toBe('true');

  fireEvent.change(comment, { target: { value: 'fine' } });
  await click('Save rating');
  expect(calls).toHaveLength(2);
  expect(comment.getAttribute('aria-describedby')).toContain(screen.getByText(/The comment is too long: at most 2,000 characters\. Shorten it\./).id);

  await click('Save rating');
  expect(screen.getByRole('alert').textContent).toContain('Plansmith ran into a problem on its side.');
  expect(screen.getByRole('alert').textContent).toContain('r2');
});

it('the survey sends the CSAT, decimal hours and the comment, then thanks', async () => {
  const calls = stubServer([json({ session_id: 's1', csat: 5, hours_without: 12.5, comment: 'Saved me a week.', updated_at: '2026-12-05T10:00:00Z' })]);
  render(<SessionSurvey sessionId="s1" />);
  // Nothing while the earlier answer is read; not answered yet (404): the question.
  expect(screen.queryByTestId('session-survey')).toBeNull();
  await screen.findByRole('group', { name: 'How satisfied are you with this plan?' });
  expect(screen.queryByRole('alert')).toBeNull();
  expect(screen.getByLabelText<HTMLInputElement>(HOURS).value).toBe('');
  fireEvent.click(screen.getByRole('radio', { name: '5 — very satisfied' }));
  fireEvent.change(screen.getByLabelText(HOURS), { target: { value: '12.5' } });
  fireEvent.change(screen.getByLabelText('Anything else? (optional)'), { target: { value: 'Saved me a week.' } });
  await click('Send answer');
  expect(calls).toEqual([
    { url: SURVEY_URL, method: 'GET', body: undefined },
    { url: SURVEY_URL, method: 'PUT', body: { csat: 5, hours_without: 12.5, comment: 'Saved me a week.' } },
  ]);
  expect(screen.getByRole('status').textContent).toContain('Thanks — saved');
  expect(screen.getByTestId('saved-survey').textContent).toBe('Your answer: satisfaction 5 of 5 · 12.5 hours without Plansmith');
});

it('the survey answered before is shown, and "Change my answer" asks again filled in with it', async () => {
  const calls = stubServer(
    [json({ session_id: 's1', csat: 2, hours_without: 1, comment: 'Saved me a week.', updated_at: '2026-12-06T10:00:00Z' })],
    () => json({ session_id: 's1', csat: 4, hours_without: 12.5, comment: 'Saved me a week.', updated_at: '2026-12-05T10:00:00Z' }),
  );
  render(<SessionSurvey sessionId="s1" />);
  expect((await screen.findByTestId('saved-survey')).textContent).toBe('Your answer: satisfaction 4 of 5 · 12.5 hours without Plansmith');
  expect(screen.getByText('Saved me a week.')).toBeTruthy();
  expect(screen.queryByRole('status')).toBeNull();
  expect(screen.queryByRole('button', { name: 'Send answer' })).toBeNull();

  await click('Change my answer');
  expect(screen.getByRole<HTMLInputElement>('radio', { name: '4 — satisfied' }).checked).toBe(true);
  expect(screen.getByLabelText<HTMLInputElement>(HOURS).value).toBe('12.5');
  expect(screen.getByLabelText<HTMLTextAreaElement>('Anything else? (optional)').value).toBe('Saved me a week.');

  fireEvent.click(screen.getByRole('radio', { name: '2 — unsatisfied' }));
  fireEvent.change(screen.getByLabelText(HOURS), { target: { value: '1' } });
  await click('Send answer');
  expect(calls).toEqual([
    { url: SURVEY_URL, method: 'GET', body: undefined },
    { url: SURVEY_URL, method: 'PUT', body: { csat: 2, hours_without: 1, comment: 'Saved me a week.' } },
  ]);
  expect(screen.getByRole('status').textContent).toContain('Thanks — saved');
  expect(screen.getByTestId('saved-survey').textContent).toBe('Your answer: satisfaction 2 of 5 · 1 hour without Plansmith');
});

it('when the survey answer cannot be read, the question is asked anyway with the error', async () => {
  const calls = stubServer([json({ session_id: 's1', csat: 3, hours_without: 2, comment: null, updated_at: '2026-12-05T10:00:00Z' })], serverFault);
  await renderSurvey();
  expect(screen.getByRole('alert').textContent).toContain('Plansmith ran into a problem on its side.');
  expect(screen.queryByTestId('saved-survey')).toBeNull();
  fireEvent.click(screen.getByRole('radio', { name: '3 — neutral' }));
  fireEvent.change(screen.getByLabelText(HOURS), { target: { value: '2' } });
  await click('Send answer');
  expect(calls.map((c) => c.method)).toEqual(['GET', 'PUT']);
  expect(screen.queryByRole('alert')).toBeNull();
  expect(screen.getByTestId('saved-survey').textContent).toBe('Your answer: satisfaction 3 of 5 · 2 hours without Plansmith');
});

it('the survey checks its answers before sending, and "Not now" puts it away', async () => {
  const calls = stubServer([json({ session_id: 's1', csat: 3, hours_without: 0, comment: null, updated_at: '2026-12-05T10:00:00Z' })]);
  await renderSurvey();
  const hours = screen.getByLabelText(HOURS);
  await click('Send answer');
  expect(screen.getByText('Choose from 1 to 5.')).toBeTruthy();
  expect(screen.getByText('Give a number of hours from 0 to 10,000.')).toBeTruthy();
  fireEvent.click(screen.getByRole('radio', { name: '3 — neutral' }));
  fireEvent.change(hours, { target: { value: '10001' } });
  await click('Send answer');
  expect(hours.getAttribute('aria-invalid')).toBe('true');
  expect(calls.filter((c) => c.method === 'PUT')).toHaveLength(0);
  fireEvent.change(hours, { target: { value: '0' } });
  await click('Send answer');
  expect(calls.filter((c) => c.method === 'PUT').map((c) => c.body)).toEqual([{ csat: 3, hours_without: 0, comment: null }]);

  cleanup();
  await renderSurvey('s2');
  await click('Not now');
  expect(screen.queryByTestId('session-survey')).toBeNull();
});
