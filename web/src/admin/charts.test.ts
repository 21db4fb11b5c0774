import { describe, expect, it } from 'vitest';
import { axisTicks, bandPath, barLengths, clipLabel, forecastGeometry, heatColor, linePath, linearScale, niceMax, stackDomain, stackSeries, textOn } from './charts';

it('rounds the scale up to a readable number', () => {
  expect(niceMax(0)).toBe(1);
  expect(niceMax(0.87)).toBe(1);
  expect(niceMax(3.2)).toBe(4);
  expect(niceMax(430)).toBe(500);
  expect(niceMax(1000)).toBe(1000);
  expect(niceMax(1001)).toBe(2000);
});

it('draws bars in proportion, the largest within the width', () => {
  expect(barLengths([50, 100, 0], 200)).toEqual([100, 200, 0]);
  const lengths = barLengths([430, 215], 100);
  expect(lengths[0]).toBeCloseTo(86);
  expect(lengths[1]).toBeCloseTo(43);
  expect(barLengths([], 100)).toEqual([]);
  // On a known scale (a rating out of 5).
  expect(barLengths([4, 2.5], 100, 5)).toEqual([80, 50]);
});

it('cuts a long label to its room, an ellipsis as the last character', () => {
  expect(clipLabel('document_exported: docx', 24)).toBe('document_exported: docx');
  expect(clipLabel('feature_used: section_edit', 24)).toBe('feature_used: section_e…');
  expect(clipLabel('feature_used: section_edit', 32)).toBe('feature_used: section_edit');
  expect(clipLabel('feature_used: revision_restore_all', 32)).toHaveLength(32);
  expect(clipLabel('feature_used: revision_restore_all', 32).endsWith('…')).toBe(true);
});

it('labels the first, middle and last period under a time axis', () => {
  expect(axisTicks(0)).toEqual([]);
  expect(axisTicks(2)).toEqual([0, 1]);
  expect(axisTicks(12)).toEqual([0, 5, 11]);
  expect(axisTicks(13)).toEqual([0, 6, 12]);
});

it('maps values to pixels, the top of the scale at the top', () => {
  const y = linearScale(-100, 300, 10, 200);
  expect(y(300)).toBe(10);
  expect(y(-100)).toBe(210);
  expect(y(0)).toBe(160);
});

describe('stacked movements', () => {
  it('stacks gains upward and losses downward from zero, in the order given', () => {
    // new, expansion, reactivation, contraction, churn
    const [month] = stackSeries([[2000, 3000, 500, -700, -1200]]);
    expect(month).toEqual([
      { y0: 0, y1: 2000 },
      { y0: 2000, y1: 5000 },
      { y0: 5000, y1: 5500 },
      { y0: 0, y1: -700 },
      { y0: -700, y1: -1900 },
    ]);
  });

  it('the stacks add up to the net of each month', () => {
    const rows = [
      [100, 0, 20, -30, -50],
      [0, 0, 0, 0, -80],
      [40, 60, 0, 0, 0],
    ];
    for (const [i, row] of stackSeries(rows).entries()) {
      const up = Math.max(0, ...row.map((s) => s.y1));
      const down = Math.min(0, ...row.map((s) => s.y1));
      expect(up + down).toBe(rows[i].reduce((a, b) => a + b, 0));
    }
  });

  it('zero movements take no room', () => {
    const [month] = stackSeries([[0, 0, 0, 0, 0]]);
    expect(month.every((s) => s.y0 === s.y1)).toBe(true);
  });

  it('scales to the highest and the deepest stack, rounded outward', () => {
    expect(stackDomain(stackSeries([[2000, 3000, 500, -700, -1200]]))).toEqual({ top: 10000, bottom: -2000 });
    expect(stackDomain(stackSeries([[40, 60, 0, 0, 0]]))).toEqual({ top: 100, bottom: 0 });
    expect(stackDomain(stackSeries([[0, 0, 0, 0, -80]]))).toEqual({ top: 0, bottom: -100 });
    expect(stackDomain(stackSeries([[0, 0, 0, 0, 0]]))).toEqual({ top: 1, bottom: 0 });
  });
});

describe('forecast geometry', () => {
  const box = { left: 0, top: 0, width: 100, height: 100 };
  const history = [{ mrr: 100 }, { mrr: 200 }, { mrr: 300 }];
  const forecast = [
    { mrr: 400, low80: 350, high80: 450, low95: 300, high95: 500 },
    { mrr: 500, low80: 400, high80: 600, low95: 300, high95: 700 },
  ];

  it('puts history then forecast along the width, on a scale that holds the 95% band', () => {
    const g = forecastGeometry(history, forecast, box);
    expect(g.top).toBe(1000);
    expect(g.xs).toEqual([0, 25, 50, 75, 100]);
    expect(g.history).toBe('M0 90L25 80L50 70');
  });

  it('starts the forecast and both bands at the last month of the history', () => {
    const g = forecastGeometry(history, forecast, box);
    expect(g.forecast).toBe('M50 70L75 60L100 50');
    // Up the upper edge, back along the lower one, closed: zero width at the start.
    expect(g.band80).toBe('M50 70L75 55L100 40L100 60L75 65L50 70Z');
    expect(g.band95).toBe('M50 70L75 50L100 30L100 70L75 70L50 70Z');
  });

  it('keeps the 80% band inside the 95% band', () => {
    const g = forecastGeometry(history, forecast, box);
    const ys = (path: string) => [...path.matchAll(/[ML]([\d.]+) ([\d.]+)/g)].map((m) => Number(m[2]));
    const b80 = ys(g.band80);
    const b95 = ys(g.band95);
    const n = b80.length / 2;
    for (let i = 0; i < n; i++) {
      expect(b95[i]).toBeLessThanOrEqual(b80[i]); // upper edge: higher (smaller y) or equal
      expect(b95[n + i]).toBeGreaterThanOrEqual(b80[n + i]); // lower edge: lower or equal
    }
  });

  it('draws no forecast and no band without a forecast', () => {
    const g = forecastGeometry(history, [], box);
    expect(g.forecast).toBe('');
    expect(g.band80).toBe('');
    expect(g.top).toBe(400);
  });

  it('writes polylines and bands as SVG paths', () => {
    expect(linePath([])).toBe('');
    expect(linePath([[1, 2]])).toBe('M1 2');
    expect(bandPath([], [])).toBe('');
    expect(
      bandPath(
        [
          [0, 1],
          [1, 0.5],
        ],
        [
          [0, 1],
          [1, 1.5],
        ],
      ),
    ).toBe('M0 1L1 0.5L1 1.5L0 1Z');
  });
});

describe('heat map colours', () => {
  const contrast = (fill: string, text: string) => {
    const lum = (rgb: number[]) => {
      const [r, g, b] = rgb.map((v) => {
        const c = v / 255;
        return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const a = lum((fill.match(/\d+/g) ?? []).map(Number));
    const b = text === '#000' ? 0 : 1;
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };

  it('runs from light to dark, capped at 0 and 1', () => {
    expect(heatColor(0)).toBe('rgb(238, 244, 251)');
    expect(heatColor(1)).toBe('rgb(11, 58, 117)');
    expect(heatColor(1.4)).toBe(heatColor(1));
    expect(heatColor(-1)).toBe(heatColor(0));
  });

  it('writes the numbers in black or white, always readable (WCAG AA, 4.5:1)', () => {
    expect(textOn(heatColor(0))).toBe('#000');
    expect(textOn(heatColor(1))).toBe('#fff');
    for (let v = 0; v <= 1; v += 0.01) {
      const fill = heatColor(v);
      expect(contrast(fill, textOn(fill))).toBeGreaterThanOrEqual(4.5);
    }
  });
});
