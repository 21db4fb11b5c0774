import { afterEach, describe, expect, it, vi } from 'vitest';
import { csvField, csvFileName, downloadCsv, toCsv } from './csv';

describe('csvField', () => {
  it('writes plain text and numbers as they are, nothing for none', () => {
    expect(csvField('usd')).toBe('usd');
    expect(csvField(2032.5)).toBe('2032.5');
    expect(csvField(-80)).toBe('-80');
    expect(csvField(0)).toBe('0');
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(Number.NaN)).toBe('');
    expect(csvField(true)).toBe('true');
  });

  it('quotes a field with a comma, a quote or a line break, doubling the quotes', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
    expect(csvField('"')).toBe('""""');
  });

  it('keeps text a spreadsheet would run as a formula from being one', () => {
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('-2')).toBe("'-2");
    expect(csvField('@sum')).toBe("'@sum");
    // Numbers are numbers, negative ones too.
    expect(csvField(-2)).toBe('-2');
  });
});

describe('toCsv', () => {
  it('writes the header, then a line per row, each ended by CRLF', () => {
    const text = toCsv(
      ['Month', 'MRR (USD)', 'Note'],
      [
        ['2026-01', 20, 'first, paying'],
        ['2026-02', null, 'none'],
      ],
    );
    expect(text).toBe('Month,MRR (USD),Note\r\n2026-01,20,"first, paying"\r\n2026-02,,none\r\n');
  });

  it('writes only the header for no rows', () => {
    expect(toCsv(['a', 'b'], [])).toBe('a,b\r\n');
  });

  it('round-trips through a simple parser', () => {
    const rows = [['x,y', 'q"uote', 'multi\nline', 3]];
    const text = toCsv(['h1', 'h2', 'h3', 'h4'], rows);
    const parsed: string[][] = [];
    let row: string[] = [];
    let field = '';
    let quoted = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"' && text[i + 1] === '"') {
          field += '"';
          i++;
        } else if (ch === '"') quoted = false;
        else field += ch;
      } else if (ch === '"') quoted = true;
      else if (ch === ',') {
        row.push(field);
        field = '';
      } else if (ch === '\r' && text[i + 1] === '\n') {
        row.push(field);
        parsed.push(row);
        row = [];
        field = '';
        i++;
      } else field += ch;
    }
    expect(parsed).toEqual([
      ['h1', 'h2', 'h3', 'h4'],
      ['x,y', 'q"uote', 'multi\nline', '3'],
    ]);
  });
});

it('names files after their tables', () => {
  expect(csvFileName('Monthly subscription metrics (USD)')).toBe('monthly-subscription-metrics-usd.csv');
  expect(csvFileName('Net MRR retention by cohort (EUR)')).toBe('net-mrr-retention-by-cohort-eur.csv');
  expect(csvFileName('Time to plan')).toBe('time-to-plan.csv');
  expect(csvFileName('…')).toBe('table.csv');
});

describe('downloadCsv', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('clicks a link to a CSV Blob with the file name, then lets the Blob go', async () => {
    vi.useFakeTimers();
    const clicked: { href: string; download: string }[] = [];
    const blobs: Blob[] = [];
    const link = {
      href: '',
      download: '',
      hidden: false,
      click() {
        clicked.push({ href: this.href, download: this.download });
      },
      remove: vi.fn(),
    };
    vi.stubGlobal('document', { createElement: () => link, body: { append: vi.fn() } });
    const revoke = vi.fn();
    vi.stubGlobal('URL', {
      createObjectURL: (b: Blob) => {
        blobs.push(b);
        return 'blob:1';
      },
      revokeObjectURL: revoke,
    });
    downloadCsv('t.csv', 'a,b\r\n');
    expect(clicked).toEqual([{ href: 'blob:1', download: 't.csv' }]);
    expect(link.remove).toHaveBeenCalled();
    expect(blobs[0].type).toBe('text/csv;charset=utf-8');
    expect(await blobs[0].text()).toBe('a,b\r\n');
    expect(revoke).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(revoke).toHaveBeenCalledWith('blob:1');
    vi.useRealTimers();
  });
});
