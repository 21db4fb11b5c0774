import type { ReactNode } from 'react';
import { csvFileName, downloadCsv, toCsv, type CsvCell } from './csv';

export interface Column<R> {
  label: string;
  /** The cell in the CSV file: numbers as numbers (money in the currency's unit, shares in %). */
  csv: (row: R) => CsvCell;
  /** The cell on the page; the CSV value when left out. */
  show?: (row: R) => ReactNode;
  num?: boolean;
}

/** A table of the admin console with its numbers downloadable as a CSV file. The first
 * column names the row. */
export function DataTable<R>({
  title,
  columns,
  rows,
  rowKey,
  testId,
  fileName,
}: {
  title: string;
  columns: readonly Column<R>[];
  rows: readonly R[];
  rowKey: (row: R, index: number) => string;
  testId?: string;
  /** Default: from the title. */
  fileName?: string;
}) {
  function download() {
    downloadCsv(
      fileName ?? csvFileName(title),
      toCsv(
        columns.map((c) => c.label),
        rows.map((r) => columns.map((c) => c.csv(r))),
      ),
    );
  }
  return (
    <div className="data-table">
      <div className="row">
        <span className="muted small">
          {rows.length} {rows.length === 1 ? 'row' : 'rows'}
        </span>
        <button type="button" className="button small" onClick={download} disabled={rows.length === 0}>
          Download CSV<span className="visually-hidden"> of {title}</span>
        </button>
      </div>
      <div className="table-wrap" tabIndex={0} role="region" aria-label={title}>
        <table className="admin-table" data-testid={testId}>
          <caption className="visually-hidden">{title}</caption>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c.label} scope="col" className={c.num ? 'num' : undefined}>
                  {c.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={rowKey(r, i)}>
                {columns.map((c, j) => {
                  const content = c.show ? c.show(r) : (c.csv(r) ?? '–');
                  return j === 0 ? (
                    <th key={c.label} scope="row">
                      {content}
                    </th>
                  ) : (
                    <td key={c.label} className={c.num ? 'num' : undefined}>
                      {content}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
