import type { AnchorHTMLAttributes } from 'react';
import { useLocation } from '../lib/router';
import { Link } from './Link';

/** Whether a nav link's section is the page shown: its own path, or a page under it. */
export function isCurrent(href: string, pathname: string): boolean {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (href === '/') return path === '/' || path === '/sessions' || (/^\/sessions\/[^/]+$/.test(path) && path !== '/sessions/new');
  return path === href || path.startsWith(`${href}/`);
}

/** A link of the main navigation, marked `aria-current="page"` (and highlighted) where it leads
 * to the page shown. */
export function NavLink({ href, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const pathname = useLocation().split('?')[0];
  return <Link href={href} aria-current={isCurrent(href, pathname) ? 'page' : undefined} {...rest} />;
}
