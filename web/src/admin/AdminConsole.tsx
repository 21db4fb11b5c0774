import { useEffect } from 'react';
import { NavLink } from '../components/NavLink';
import { NotFoundPage } from '../pages/NotFoundPage';
import { ADMIN_PAGES, findPage } from './registry';
import './admin.css';

/** The admin console (its own chunk): the pages of the registry, one at a time. */
export default function AdminConsole({ page }: { page: string | null }) {
  const current = findPage(page);
  useEffect(() => {
    if (current) document.title = `${current.title} · Admin · Plansmith`;
  }, [current]);
  if (!current) return <NotFoundPage signedIn />;
  const { Component } = current;
  return (
    <div className="admin">
      <nav className="admin-nav" aria-label="Admin">
        <ul>
          {ADMIN_PAGES.map((p) => (
            <li key={p.slug}>
              <NavLink href={`/admin/${p.slug}`} aria-current={p === current ? 'page' : undefined}>
                {p.title}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <div className="admin-page">
        <h1>{current.title}</h1>
        <p className="muted">{current.description}</p>
        <Component key={current.slug} />
      </div>
    </div>
  );
}
