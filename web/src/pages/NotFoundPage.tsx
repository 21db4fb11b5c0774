import { useEffect } from 'react';
import { Link } from '../components/Link';

export function NotFoundPage({ signedIn }: { signedIn: boolean }) {
  useEffect(() => {
    document.title = 'Page not found · Plansmith';
  }, []);
  return (
    <div className="not-found">
      <h1>Page not found</h1>
      <p>There is nothing at this address. The link may be old, or mistyped.</p>
      <p>
        {signedIn ? (
          <Link href="/" className="button primary">
            Go to your sessions
          </Link>
        ) : (
          <Link href="/" className="button primary">
            Go to the front page
          </Link>
        )}
      </p>
    </div>
  );
}
