import { ErrorNotice } from '../components/ErrorNotice';
import type { Fetched } from './useFetch';

/** The loading and failure states shared by the admin pages; null once there is data. */
export function LoadState<T>({ res, what }: { res: Fetched<T>; what: string }) {
  if (res.error !== null && res.data === undefined) return <ErrorNotice error={res.error} onRetry={res.reload} />;
  if (res.data === undefined) return <p aria-busy="true">Loading {what}…</p>;
  return null;
}
