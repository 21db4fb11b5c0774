import { describe, expect, it } from 'vitest';
import { renderMarkdown } from './markdown';

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
    expect(html).toContain('href="https://example.com"');
  });
});
