/** Delay before reconnect attempt `attempt` (1-based): 0.5 s doubling to a 15 s cap, with jitter
 * so that many clients that lost the connection together do not come back together. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(15_000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}
