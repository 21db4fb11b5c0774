import { paths } from '../../api/paths';
import type { ErrorGroupList } from '../../api/types';
import { fullTime, relativeTime } from '../../lib/durations';
import { count } from '../format';
import { LoadState } from '../Loading';
import { useFetch } from '../useFetch';

const KINDS: Record<string, string> = { http_5xx: 'Server error', panic: 'Panic', client: 'Web app' };

export function ErrorsPage() {
  const res = useFetch<ErrorGroupList>(paths.adminErrors({ limit: 100 }));
  if (!res.data) return <LoadState res={res} what="the errors" />;
  if (res.data.items.length === 0) return <p>No errors recorded. Good.</p>;
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label="Error groups">
      <table className="admin-table" data-testid="errors-table">
        <thead>
          <tr>
            <th scope="col">Error</th>
            <th scope="col">Kind</th>
            <th scope="col" className="num">Times</th>
            <th scope="col">Last seen</th>
            <th scope="col">First seen</th>
            <th scope="col">Release</th>
            <th scope="col">Request id</th>
          </tr>
        </thead>
        <tbody>
          {res.data.items.map((g) => (
            <tr key={g.fingerprint}>
              <th scope="row">
                {g.title}
                <div className="muted small">{g.detail}</div>
              </th>
              <td>{KINDS[g.kind] ?? g.kind}</td>
              <td className="num">{count(g.count)}</td>
              <td className="small">
                <time dateTime={g.last_seen} title={fullTime(g.last_seen)}>
                  {relativeTime(g.last_seen)}
                </time>
              </td>
              <td className="small">
                <time dateTime={g.first_seen} title={fullTime(g.first_seen)}>
                  {relativeTime(g.first_seen)}
                </time>
              </td>
              <td className="small">{g.release}</td>
              <td className="small">{g.sample_request_id ? <code>{g.sample_request_id}</code> : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
