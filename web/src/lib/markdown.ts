// Markdown to HTML for documents and chat. The agent's and the person's text is data, not
// markup: raw HTML is shown as text, and links may only go to http(s), mailto or the app.

import { Marked, type Tokens } from 'marked';

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Control characters anywhere, or whitespace (incl. invisible spaces) before the first `:`:
 * what browsers drop or skip while reading a scheme (`java\tscript:`), so never allowed. */
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
const SPACE = /[\s\u00A0\u1680\u180E\u2000-\u200F\u2028\u2029\u202F\u205F\u3000\uFEFF]/;

/** Character references in a link target (`&#106;avascript:`, `javascript&colon;`) read as
 * the characters they stand for, so they are checked as what a browser would see. */
function decodeEntities(text: string): string {
  if (!text.includes('&')) return text;
  const area = document.createElement('textarea');
  area.innerHTML = text;
  return area.value;
}

export interface SafeLink {
  href: string;
  /** Another origin: opened in a new tab without the opener or a referrer. */
  external: boolean;
}

/** A link target the app may render: http(s) and mailto URLs and links within the app,
 * parsed with the URL parser (as a browser would) and checked by what it parsed to; anything
 * else (`javascript:`, `data:`, `vbscript:`, unparsable, obfuscated) is `null`. */
export function safeLink(raw: string): SafeLink | null {
  const target = decodeEntities(raw);
  if (CONTROL.test(target) || target.includes('\\')) return null;
  // Up to the scheme's `:` (or all of a relative target before its path, query or fragment):
  // no spaces, and no `&` left over from a reference the decoder did not know.
  const head = target.slice(0, target.search(/[:/?#]|$/) + 1);
  if (SPACE.test(head) || head.includes('&')) return null;
  let url: URL;
  try {
    url = new URL(target, window.location.origin);
  } catch {
    return null;
  }
  if (url.protocol === 'mailto:') return { href: url.href, external: false };
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
  if (url.origin !== window.location.origin) return { href: url.href, external: true };
  // Within the app: a relative target stays as written (so `#part` and `?q` keep working).
  const absolute = /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
  return { href: absolute ? url.href : target, external: false };
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    html(token: Tokens.HTML | Tokens.Tag) {
      return escapeHtml(token.text);
    },
    link(token: Tokens.Link) {
      const text = this.parser.parseInline(token.tokens);
      const link = safeLink(token.href);
      if (!link) return text;
      const title = token.title ? ` title="${escapeHtml(token.title)}"` : '';
      const external = link.external ? ' rel="noopener noreferrer" target="_blank"' : '';
      return `<a href="${escapeHtml(link.href)}"${title}${external}>${text}</a>`;
    },
    image(token: Tokens.Image) {
      // No remote images: they would leak that the document was opened. Show the alt text.
      return escapeHtml(token.text || token.href);
    },
  },
});

/** Wide tables scroll sideways in their own box (focusable, so the keyboard can scroll it)
 * instead of widening the page. Raw HTML in the source is escaped, so every `<table>` here is
 * one that marked made. */
function scrollableTables(html: string): string {
  return html
    .replace(/<table>/g, '<div class="table-scroll" tabindex="0" role="region" aria-label="Table (scrolls sideways)"><table>')
    .replace(/<\/table>/g, '</table></div>');
}

export function renderMarkdown(source: string): string {
  return scrollableTables(marked.parse(source) as string);
}
