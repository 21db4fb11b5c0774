// The tables of the admin console as CSV files (RFC 4180): what a spreadsheet opens.

export type CsvCell = string | number | boolean | null | undefined;

/** One field: empty for none; numbers as they are; text quoted when it holds a comma, a quote
 * or a line break (quotes doubled). Text a spreadsheet would run as a formula (=, +, -, @ first)
 * gets a leading apostrophe: names and labels come from people and providers. */
export function csvField(value: CsvCell): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The header row, then one line per row, lines ended by CRLF. */
export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return [header, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

/** A file name from a title: "MRR movements (USD)" → "mrr-movements-usd.csv". */
export function csvFileName(title: string): string {
  const base = title
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return `${base || 'table'}.csv`;
}

/** Saves CSV text as a file: a Blob behind a link the browser downloads. */
export function downloadCsv(fileName: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = fileName;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The download has started by the next task; the Blob is no longer needed after that.
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
