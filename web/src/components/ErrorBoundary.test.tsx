// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, expect, it, vi } from 'vitest';
import { ErrorBoundary } from './ErrorBoundary';

afterEach(cleanup);

let broken = true;
function Fragile() {
  if (broken) throw new Error('render failed');
  return <p>document works</p>;
}

it('a render error in one panel leaves the others working and offers try again', () => {
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
  expect(fallback.querySelector('code')?.textContent).toMatch(/^web-/);

  broken = false;
  act(() => {
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
  });
  expect(screen.getByText('document works')).toBeTruthy();
  expect(screen.queryByRole('alert')).toBeNull();
});
