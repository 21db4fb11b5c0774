// @vitest-environment jsdom
import { describe, expect, it } from 'vitest';
import { renderMarkdown, safeLink } from './markdown';

describe('renderMarkdown', () => {
  it('renders headings, lists and emphasis', () => {
    const html = renderMarkdown('## Goals\n\n- **fast**\n- simple');
    expect(html).toContain('<h2>Goals</h2>');
    expect(html).toContain('<strong>fast</strong>');
  });

  it('shows raw HTML as text, never as markup', () => {
    const html = renderMarkdown('Hello <img src=x onerror="alert(1)"> and <script>alert(2)</script>');
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;');
  });

  it('drops javascript: links but keeps their text', () => {
    const html = renderMarkdown('[click](javascript:alert(1)) and [site](https://example.com)');
    expect(html).not.toContain('javascript:');
    expect(html).toContain('click');
    expect(html).toContain('href="https://example.com/"');
  });

  it('never renders a link to a script, data or other non-web scheme, however it is spelled', () => {
    const vectors = [
      '[x](javascript:alert(1))',
      '[x](JaVaScRiPt:alert(1))',
      '[x](<java\tscript:alert(1)>)',
      '[x](<java\nscript:alert(1)>)',
      '[x](<\u0001javascript:alert(1)>)',
      '[x](<\u00a0javascript:alert(1)>)',
      '[x](<\u2028javascript:alert(1)>)',
      '[x](<javascript\u0000:alert(1)>)',
      '[x](&#106;avascript:alert(1))',
      '[x](&#x6A;avascript:alert(1))',
      '[x](&#0000106;avascript:alert(1))',
      '[x](javascript&colon;alert(1))',
      '[x](java&Tab;script:alert(1))',
      '[x](jav&#x09;ascript:alert(1))',
      '[x](data:text/html,<script>alert(1)</script>)',
      '[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
      '[x](vbscript:msgbox(1))',
      '[x](file:///etc/passwd)',
      '[x](<javascript:alert(1)>)',
      '<javascript:alert(1)>',
      '[x][ref]\n\n[ref]: javascript:alert(1)',
      '[x](/\\evil.example)',
    ];
    for (const vector of vectors) {
      const html = renderMarkdown(vector);
      expect(html, vector).not.toContain('<a ');
      expect(html.toLowerCase(), vector).not.toMatch(/href="\s*(javascript|data|vbscript|file)/);
    }
  });

  it('links to http(s), mailto and within the app; other origins open in a new tab', () => {
    expect(safeLink('https://example.com/a?b#c')).toEqual({ href: 'https://example.com/a?b#c', external: true });
    expect(safeLink('HTTP://Example.com')).toEqual({ href: 'http://example.com/', external: true });
    expect(safeLink('mailto:ada@example.com')).toEqual({ href: 'mailto:ada@example.com', external: false });
    expect(safeLink('/sessions/1')).toEqual({ href: '/sessions/1', external: false });
    expect(safeLink('#goals')).toEqual({ href: '#goals', external: false });
    expect(safeLink('notes?x=1&y=2')).toEqual({ href: 'notes?x=1&y=2', external: false });
    // Protocol-relative: another origin, so an external link, with the scheme spelled out.
    const relative = safeLink('//evil.example/x');
    expect(relative).toEqual({ href: `${window.location.protocol}//evil.example/x`, external: true });
    const html = renderMarkdown('[site](https://example.com) [here](/sessions) [far](//evil.example)');
    expect(html).toContain('<a href="https://example.com/" rel="noopener noreferrer" target="_blank">site</a>');
    expect(html).toContain('<a href="/sessions">here</a>');
    expect(html).toContain('href="http://evil.example/" rel="noopener noreferrer" target="_blank"');
  });
});
