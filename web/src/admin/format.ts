// Numbers of the admin pages as people read them.

/** Integer micro-dollars as dollars: "$12.35", small amounts with more digits ("$0.0042"). */
export function money(micros: number): string {
  const dollars = micros / 1_000_000;
  if (micros === 0) return '$0';
  if (Math.abs(dollars) < 0.01) return `$${dollars.toFixed(4)}`;
  return `$${dollars.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** 1234 → "1,234"; 1_250_000 → "1.25M"; 12_300 → "12.3k". */
export function count(n: number): string {
  if (Math.abs(n) >= 1_000_000) return `${trim(n / 1_000_000)}M`;
  if (Math.abs(n) >= 10_000) return `${trim(n / 1_000)}k`;
  return n.toLocaleString('en-US');
}

function trim(n: number): string {
  return n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2).replace(/\.?0+$/, '');
}

export function percent(share: number): string {
  if (share === 0) return '0%';
  if (share < 0.001) return '<0.1%';
  return `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
}

export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  return n >= 10_000 ? `${(n / 1000).toFixed(0)} s` : n >= 1000 ? `${(n / 1000).toFixed(1)} s` : `${n} ms`;
}
