// @vitest-environment jsdom
import { act, cleanup, render, screen } from '@testing-library/react';
import { afterEach, expect, it } from 'vitest';
import { connection } from '../lib/connection';
import type { OutboxItem } from '../lib/outbox';
import { outboxItems } from '../lib/sync';
import { ConnectionBanner } from './ConnectionBanner';

afterEach(cleanup);

const pending = (n: number): OutboxItem[] =>
  Array.from({ length: n }, (_, i) => ({ kind: 'message', clientId: `c${i}`, sessionId: 's', content: 'x', createdAt: i, state: 'pending' }));

it('says offline with what is waiting, reconnecting, and back online', () => {
  render(<ConnectionBanner />);
  const banner = screen.getByRole('status');
  expect(banner.dataset.state).toBe('online');
  expect(banner.textContent).toBe('');

  act(() => {
    outboxItems.set(pending(2));
    connection.set({ browserOnline: false, serverReachable: true, reconnecting: 0, recovered: false });
  });
  expect(banner.dataset.state).toBe('offline');
  expect(banner.textContent).toContain("You're offline");
  expect(banner.textContent).toContain('2 changes will be sent');

  act(() => connection.set({ browserOnline: true, serverReachable: false, reconnecting: 0, recovered: false }));
  expect(banner.textContent).toContain("Can't reach Plansmith");

  act(() => connection.set({ browserOnline: true, serverReachable: true, reconnecting: 1, recovered: false }));
  expect(banner.dataset.state).toBe('reconnecting');
  expect(banner.textContent).toContain('Reconnecting');

  act(() => connection.set({ browserOnline: true, serverReachable: true, reconnecting: 0, recovered: true }));
  expect(banner.textContent).toContain('Back online. Sending 2 changes');
});
