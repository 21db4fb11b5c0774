import { useState } from 'react';
import { api } from '../../api/client';
import { paths } from '../../api/paths';
import type { Flag, FlagList } from '../../api/types';
import { ErrorNotice } from '../../components/ErrorNotice';
import { fullTime, relativeTime } from '../../lib/durations';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

/** The parts of a flag's definition this page reads (the API types it as any object). */
interface Definition {
  enabled?: boolean;
  description?: string;
  rollout_percent?: number;
  targeting?: Record<string, unknown>;
  variants?: { name: string; weight: number }[];
}

function who(def: Definition): string {
  const parts: string[] = [];
  if (typeof def.rollout_percent === 'number' && def.rollout_percent < 100) parts.push(`${def.rollout_percent}% of users`);
  const t = def.targeting ?? {};
  for (const [key, value] of Object.entries(t)) {
    if (Array.isArray(value) && value.length) parts.push(`${key.replace(/_/g, ' ')}: ${value.join(', ')}`);
    else if (typeof value === 'string' && value) parts.push(`${key.replace(/_/g, ' ')} ${value}`);
  }
  if (def.variants?.length) parts.push(`variants ${def.variants.map((v) => `${v.name} (${v.weight})`).join(', ')}`);
  return parts.length ? parts.join('; ') : 'everyone';
}

export function FlagsPage() {
  const res = useFetch<FlagList>(paths.adminFlags());
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  if (!res.data) return <LoadState res={res} what="the flags" />;

  async function toggle(flag: Flag) {
    const def = flag.definition as Definition;
    const on = !def.enabled;
    if (!window.confirm(`Turn ${flag.key} ${on ? 'on' : 'off'}? Every server sees the change at once.`)) return;
    setBusy(flag.key);
    setError(null);
    try {
      const next = await api.put<Flag>(paths.adminFlag(flag.key), { ...flag.definition, enabled: on });
      res.setData((list) => list && { items: list.items.map((f) => (f.key === next.key ? next : f)) });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  }

  return (
    <>
      {error !== null && <ErrorNotice error={error} compact />}
      {res.data.items.length === 0 ? (
        <p>No feature flags yet.</p>
      ) : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Feature flags">
          <table className="admin-table" data-testid="flags-table">
            <thead>
              <tr>
                <th scope="col">Flag</th>
                <th scope="col">State</th>
                <th scope="col">For</th>
                <th scope="col">Changed</th>
                <th scope="col">Action</th>
              </tr>
            </thead>
            <tbody>
              {res.data.items.map((f) => {
                const def = f.definition as Definition;
                return (
                  <tr key={f.key}>
                    <th scope="row">
                      <code>{f.key}</code>
                      {def.description && <div className="muted small">{def.description}</div>}
                    </th>
                    <td>
                      <span className={`pill ${def.enabled ? 'pill-ok' : 'pill-off'}`}>{def.enabled ? 'On' : 'Off'}</span>
                    </td>
                    <td className="small">{who(def)}</td>
                    <td className="small">
                      <time dateTime={f.updated_at} title={fullTime(f.updated_at)}>
                        {relativeTime(f.updated_at)}
                      </time>
                    </td>
                    <td>
                      <button type="button" className="button small" disabled={busy === f.key} onClick={() => toggle(f)}>
                        {def.enabled ? `Turn off ${f.key}` : `Turn on ${f.key}`}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
