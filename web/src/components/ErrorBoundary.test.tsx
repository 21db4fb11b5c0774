// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, expect, it, vi } from 'vitest';
import { reportError } from '../lib/errorReport';
import { ErrorBoundary } from './ErrorBoundary';

vi.mock('../lib/errorReport', () => ({ reportError: vi.fn() }));

afterEach(() => {
  cleanup();
  vi.mocked(reportError).mockClear();
});

let broken = true;
function Fragile() {
  if (broken) throw new Error('render failed');
  return <p>document works</p>;
}

it('a render error in one panel leaves the others working, is reported with its id and offers try again', () => {
  broken = true;
  vi.spyOn(console, 'error').mockImplementation(() => {});
  render(
    <>
      <ErrorBoundary panel="chat" label="conversation">
        <p>chat works</p>
      </ErrorBoundary>
      <ErrorBoundary panel="document" label="document">
        <Fragile />
      </ErrorBoundary>
    </>,
  );
  expect(screen.getByText('chat works')).toBeTruthy();
  const fallback = screen.getByRole('alert');
  expect(fallback.textContent).toContain('The document could not be shown');
  expect(fallback.textContent).toContain('support@plansmith.dev');
  const errorId = fallback.querySelector('code')?.textContent;
  expect(errorId).toMatch(/^web-/);

  expect(reportError).toHaveBeenCalledTimes(1);
  const [error, source, context] = vi.mocked(reportError).mock.calls[0];
  expect((error as Error).message).toBe('render failed');
  expect(source).toBe('boundary');
  expect(context?.errorId).toBe(errorId);
  expect(context?.componentStack).toContain('Fragile');

  broken = false;
  act(() => {
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
  });
  expect(screen.getByText('document works')).toBeTruthy();
  expect(screen.queryByRole('alert')).toBeNull();
});

it('the app-wide boundary shows a page of its own that offers a reload', () => {
  broken = true;
  vi.spyOn(console, 'error').mockImplementation(() => {});
  render(
    <ErrorBoundary panel="app" label="app" root>
      <Fragile />
    </ErrorBoundary>,
  );
  const main = screen.getByRole('main');
  expect(main.querySelector('h1')?.textContent).toBe('Plansmith stopped working on this page');
  expect(screen.getByRole('alert').textContent).toContain('Nothing you already sent is lost');
  expect(screen.getByRole('button', { name: 'Reload the page' })).toBeTruthy();
  expect(main.querySelector('code')?.textContent).toMatch(/^web-/);
  expect(reportError).toHaveBeenCalledWith(expect.any(Error), 'boundary', expect.objectContaining({ errorId: expect.stringMatching(/^web-/) }));
});
