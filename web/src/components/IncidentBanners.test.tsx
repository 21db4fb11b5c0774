// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, expect, it, vi } from 'vitest';
import type { MyIncident } from '../api/incidents';
import { IncidentBanners } from './IncidentBanners';

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const OUTAGE: MyIncident = {
  id: '0190b6a5-0000-7000-8000-000000000001',
  severity: 'sev2',
  title: 'Replies are slow',
  body: 'A model provider is failing.\nReplies take longer; nothing is lost.',
  created_at: new Date().toISOString(),
  read_at: null,
};
const MAINTENANCE: MyIncident = { ...OUTAGE, id: '0190b6a5-0000-7000-8000-000000000002', severity: 'sev4', title: 'Maintenance tonight' };
const OLD: MyIncident = { ...OUTAGE, id: '0190b6a5-0000-7000-8000-000000000003', title: 'Already read', read_at: new Date().toISOString() };

/** A server holding `items`; `read` answers the read receipts. */
function server(items: MyIncident[], read: (id: string) => Response = () => new Response(null, { status: 204 })) {
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const receipt = /^\/api\/v1\/me\/incidents\/([^/]+)\/read$/.exec(url);
    if (receipt && init?.method === 'POST') return read(decodeURIComponent(receipt[1]));
    if (url === '/api/v1/me/incidents' && (init?.method ?? 'GET') === 'GET') return json(200, { items });
    return json(404, { error: { code: 'route_not_found', message: 'No such route.', hint: '', request_id: 'r' } });
  });
  vi.stubGlobal('fetch', fetch);
  return fetch;
}

const receipts = (fetch: ReturnType<typeof server>) =>
  fetch.mock.calls.filter(([, init]) => init?.method === 'POST').map(([url]) => String(url));
const reads = (fetch: ReturnType<typeof server>) => fetch.mock.calls.filter(([url, init]) => String(url) === '/api/v1/me/incidents' && init?.method === 'GET').length;

it('shows each unread notice with its title, text and severity; the severe ones as alerts', async () => {
  server([OUTAGE, OLD, MAINTENANCE]);
  render(<IncidentBanners />);
  const banners = await screen.findAllByTestId('incident-banner');
  expect(banners).toHaveLength(2);
  const [outage, maintenance] = banners;
  expect(outage.getAttribute('role')).toBe('alert');
  expect(outage.dataset.severity).toBe('sev2');
  expect(outage.className).toContain('incident-sev2');
  expect(outage.textContent).toContain('Major: Replies are slow');
  expect(outage.textContent).toContain('Replies take longer; nothing is lost.');
  expect(maintenance.getAttribute('role')).toBe('status');
  expect(maintenance.textContent).toContain('Notice: Maintenance tonight');
  expect(screen.queryByText('Already read')).toBeNull();
  // Each is named by its title, and its button says which notice it hides.
  expect(screen.getByRole('alert', { name: /Replies are slow/ })).toBe(outage);
  expect(within(outage).getByRole('button', { name: 'Got it, hide the notice “Replies are slow”' })).toBeTruthy();
});

it('puts the most severe first, whatever the order they were published in', async () => {
  server([MAINTENANCE, OUTAGE]);
  render(<IncidentBanners />);
  await screen.findByRole('alert');
  expect(screen.getAllByTestId('incident-banner').map((b) => b.dataset.severity)).toEqual(['sev2', 'sev4']);
});

it('“Got it” sends the read receipt, hides the notice and moves the focus to the next one', async () => {
  const fetch = server([OUTAGE, MAINTENANCE]);
  render(
    <main>
      <IncidentBanners />
      <h1>Your planning sessions</h1>
    </main>,
  );
  const button = await screen.findByRole('button', { name: /hide the notice “Replies are slow”/ });
  button.focus();
  fireEvent.click(button);
  await waitFor(() => expect(screen.queryByRole('alert', { name: /Replies are slow/ })).toBeNull());
  expect(receipts(fetch)).toEqual([`/api/v1/me/incidents/${OUTAGE.id}/read`]);
  expect(document.activeElement).toBe(screen.getByRole('button', { name: /hide the notice “Maintenance tonight”/ }));

  fireEvent.click(screen.getByRole('button', { name: /hide the notice “Maintenance tonight”/ }));
  await waitFor(() => expect(screen.queryByTestId('incident-banner')).toBeNull());
  expect(receipts(fetch)).toHaveLength(2);
  // The last one gone, the focus goes to the page's heading, not lost.
  expect(document.activeElement).toBe(screen.getByRole('heading', { name: 'Your planning sessions' }));
});

it('a receipt that fails keeps the notice and says why; one no longer addressed to you just goes', async () => {
  server([OUTAGE, MAINTENANCE], (id) =>
    id === OUTAGE.id
      ? json(503, { error: { code: 'unavailable', message: 'Plansmith is busy.', hint: 'Try again in a moment.', request_id: 'r1' } })
      : json(404, { error: { code: 'not_found', message: 'No such notice.', hint: '', request_id: 'r2' } }),
  );
  render(<IncidentBanners />);
  fireEvent.click(await screen.findByRole('button', { name: /hide the notice “Replies are slow”/ }));
  const outage = screen.getByRole('alert', { name: /Replies are slow/ });
  await waitFor(() => expect(outage.textContent).toContain('Plansmith is busy.'));
  fireEvent.click(screen.getByRole('button', { name: /hide the notice “Maintenance tonight”/ }));
  await waitFor(() => expect(screen.queryByRole('status', { name: /Maintenance tonight/ })).toBeNull());
  expect(screen.getByRole('alert', { name: /Replies are slow/ })).toBe(outage);
});

it('asks again on its interval, and a notice dismissed here does not come back from an answer sent before', async () => {
  let answer: (r: Response) => void = () => {};
  let calls = 0;
  const fetch = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    if (init?.method === 'POST') return new Response(null, { status: 204 });
    calls += 1;
    // The second check is slow: it answers after the notice was dismissed, still listing it unread.
    if (calls === 2) return new Promise<Response>((resolve) => (answer = resolve));
    void input;
    return json(200, { items: [OUTAGE] });
  });
  vi.stubGlobal('fetch', fetch);
  render(<IncidentBanners pollMs={40} />);
  await screen.findByRole('alert');
  await waitFor(() => expect(calls).toBe(2));
  fireEvent.click(screen.getByRole('button', { name: /Got it/ }));
  await waitFor(() => expect(screen.queryByRole('alert')).toBeNull());
  await act(async () => answer(json(200, { items: [OUTAGE] })));
  await waitFor(() => expect(calls).toBeGreaterThan(2));
  expect(screen.queryByRole('alert')).toBeNull();
});

it('checks once when it starts, not again until its interval', async () => {
  const fetch = server([]);
  render(<IncidentBanners />);
  await waitFor(() => expect(reads(fetch)).toBe(1));
  await new Promise((r) => setTimeout(r, 50));
  expect(reads(fetch)).toBe(1);
  expect(screen.queryByTestId('incident-banners')).toBeNull();
});
