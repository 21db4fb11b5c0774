// @vitest-environment jsdom
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, expect, it } from 'vitest';
import type { CurrencyForecast } from '../../api/types';
import { Forecast } from './BusinessPage';

afterEach(cleanup);

const MEASURED: CurrencyForecast = {
  currency: 'usd',
  model: 'holt_linear',
  alpha: 0.9,
  beta: 0.2,
  history: [
    { month: '2026-09', mrr: 100_000 },
    { month: '2026-10', mrr: 120_000 },
    { month: '2026-11', mrr: 130_000 },
    { month: '2026-12', mrr: 150_000 },
  ],
  forecast: [
    { month: '2027-01', mrr: 160_000, low80: 150_000, high80: 170_000, low95: 140_000, high95: 180_000 },
    { month: '2027-02', mrr: 170_000, low80: 150_000, high80: 190_000, low95: 130_000, high95: 210_000 },
  ],
  backtest: { forecasts: 12, mape: 0.125, mase: 0.8, coverage80: 0.5, coverage95: 0.92 },
  cohort_view: [
    { month: '2027-01', mrr: 158_000 },
    { month: '2027-02', mrr: 165_000 },
  ],
  note: null,
};

it('shows the forecast with its backtest beside it: MAPE, MASE and coverage', () => {
  render(<Forecast fc={MEASURED} />);
  const pair = screen.getByTestId('forecast');
  expect(within(pair).getByRole('img', { name: /^MRR in USD over 4 months, now \$1\.5K.*Feb 2027: \$1\.7K/ })).toBeTruthy();
  const backtest = within(pair).getByTestId('backtest');
  expect(backtest.textContent).toContain('MAPE13%');
  expect(backtest.textContent).toContain('MASE0.80 (beats the naive forecast)');
  expect(backtest.textContent).toContain('80% coverage50% — the intervals are too narrow for this history');
  expect(backtest.textContent).toContain('95% coverage92%');
  expect(backtest.textContent).toContain('12 past forecasts');
  // Both bands and both lines are drawn.
  expect(pair.querySelectorAll('path.series-band80, path.series-band95, path.series-history, path.series-forecast')).toHaveLength(4);
  expect(screen.getByRole('region', { name: 'MRR and forecast (USD)' }).querySelectorAll('tbody tr')).toHaveLength(6);
});

it('shows the note instead of a forecast when the server gives one', () => {
  render(<Forecast fc={{ ...MEASURED, forecast: [], note: 'A forecast needs at least 4 months of MRR; there are 2.' }} />);
  expect(screen.getByTestId('forecast-note').textContent).toBe('No forecast for USD: A forecast needs at least 4 months of MRR; there are 2.');
  expect(screen.queryByRole('img')).toBeNull();
  expect(screen.queryByTestId('backtest')).toBeNull();
});

it('shows no forecast whose error could not be measured', () => {
  render(<Forecast fc={{ ...MEASURED, backtest: { forecasts: 0, mape: null, mase: null, coverage80: null, coverage95: null } }} />);
  expect(screen.getByTestId('forecast-note').textContent).toContain('its error cannot be measured yet');
  expect(screen.queryByRole('img')).toBeNull();
});

it('says when there is nothing to forecast', () => {
  render(<Forecast fc={undefined} />);
  expect(screen.getByText('No revenue yet: nothing to forecast.')).toBeTruthy();
});
