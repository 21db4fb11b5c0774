// Field measurements: the Web Vitals of real page loads go to the API's `rum` route, grouped by
// route pattern (never ids), batched and sent with sendBeacon when the page is hidden.

import { onCLS, onFCP, onINP, onLCP, onTTFB, type Metric } from 'web-vitals';
import { paths } from '../api/paths';
import type { RumMetric, RumReport } from '../api/types';
import { routePattern } from './router';

export class RumBatch {
  private queue: RumMetric[] = [];
  constructor(private readonly send: (body: string) => void) {}

  add(metric: Pick<Metric, 'name' | 'value' | 'id'>, pathname: string): void {
    this.queue.push({ page: routePattern(pathname), name: metric.name, value: metric.value, id: metric.id });
  }

  flush(): void {
    if (this.queue.length === 0) return;
    const report: RumReport = this.queue;
    const body = JSON.stringify(report);
    this.queue = [];
    this.send(body);
  }
}

function beacon(body: string): void {
  const url = paths.rum();
  try {
    if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
  } catch {
    // fall through to fetch
  }
  void fetch(url, { method: 'POST', body, keepalive: true, credentials: 'same-origin', headers: { 'content-type': 'application/json' } }).catch(() => {});
}

export function startVitals(): RumBatch {
  const batch = new RumBatch(beacon);
  const pathAtLoad = location.pathname;
  // LCP, FCP and TTFB describe the page load: they belong to the route that was loaded.
  const load = (m: Metric) => batch.add(m, pathAtLoad);
  const now = (m: Metric) => batch.add(m, location.pathname);
  // LCP is final once the user interacts; send the page-load figures then, while the page is
  // alive, rather than only at unload, when browsers may drop the beacon.
  onLCP((m) => {
    load(m);
    batch.flush();
  });
  onFCP(load);
  onTTFB(load);
  onCLS(now);
  onINP(now);
  const flush = () => batch.flush();
  addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flush();
  });
  addEventListener('pagehide', flush);
  return batch;
}
