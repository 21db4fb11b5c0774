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

const currencyFormats = new Map<string, Intl.NumberFormat>();

function currencyFormat(currency: string, compact: boolean): Intl.NumberFormat | null {
  const key = `${currency}:${compact}`;
  let f = currencyFormats.get(key);
  if (!f) {
    try {
      f = new Intl.NumberFormat('en-US', {
        style: 'currency',
        currency: currency.toUpperCase(),
        ...(compact ? { notation: 'compact', minimumFractionDigits: 0, maximumFractionDigits: 1 } : {}),
      });
    } catch {
      return null;
    }
    currencyFormats.set(key, f);
  }
  return f;
}

/** Integer cents of an ISO currency (never converted): 203200, "usd" → "$2,032.00". */
export function cents(amount: number | null | undefined, currency: string): string {
  if (amount === null || amount === undefined) return '–';
  const f = currencyFormat(currency, false);
  return f ? f.format(amount / 100) : `${(amount / 100).toFixed(2)} ${currency.toUpperCase()}`;
}

/** The same, short, for axes and tiles: 203200, "usd" → "$2K"; 24384000 → "$243.8K". */
export function centsShort(amount: number, currency: string): string {
  const f = currencyFormat(currency, true);
  return f ? f.format(amount / 100) : `${count(Math.round(amount / 100))} ${currency.toUpperCase()}`;
}

/** A change as a share, with its sign: 0.1234 → "+12.3%", -0.05 → "−5.0%", 0 → "0%". */
export function signedPercent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '–';
  if (share === 0) return '0%';
  const digits = Math.abs(share) < 0.1 ? 1 : 0;
  const text = `${(Math.abs(share) * 100).toFixed(digits)}%`;
  return share > 0 ? `+${text}` : `−${text}`;
}

/** A share that may be missing (a rate of a month without customers at its start). */
export function share(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value < 0 ? `−${percent(-value)}` : percent(value);
}

/** Hours as people read them: 0.02 → "1 min", 1.5 → "1.5 h", 30 → "30 h". */
export function hours(h: number | null | undefined): string {
  if (h === null || h === undefined || !Number.isFinite(h)) return '–';
  if (Math.abs(h) < 1) {
    const minutes = Math.round(h * 60);
    return minutes === 0 && h !== 0 ? '<1 min' : `${minutes} min`;
  }
  return `${h < 10 ? h.toFixed(1).replace(/\.0$/, '') : Math.round(h)} h`;
}

/** Seconds between two stages: 42 → "42 s", 5400 → "1.5 h", 3 days → "3 d". */
export function seconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return hours(s / 3600);
  return `${(s / 86_400).toFixed(s < 864_000 ? 1 : 0).replace(/\.0$/, '')} d`;
}
