import { useEffect } from 'react';
import { Link } from '../components/Link';
import { farewell } from '../lib/auth';
import { useStore } from '../lib/store';

/** What a signed-out visitor sees first: what Plansmith does, and the way in. */
export function LandingPage() {
  const note = useStore(farewell);
  useEffect(() => {
    document.title = 'Plansmith · plan a software project with an AI planning agent';
  }, []);
  return (
    <div className="landing">
      {note && (
        <p className="notice notice-info" role="status">
          {note}
        </p>
      )}
      <h1>Plan your software project by talking it through</h1>
      <p className="lead">
        Describe your idea. A planning agent asks what it needs to know, step by step, and writes the plan with you: a project brief, a
        product requirements document, the architecture and a delivery plan.
      </p>
      <div className="row landing-actions">
        <Link href="/signup" className="button primary">
          Create a free account
        </Link>
        <Link href="/signin" className="button">
          Sign in
        </Link>
      </div>
      <ul className="landing-points">
        <li>
          <h2>A conversation, not a form</h2>
          <p>Answer the agent&apos;s questions in your own words, or say “draft the rest” and review what it writes.</p>
        </li>
        <li>
          <h2>Documents you own</h2>
          <p>Edit any section yourself, see every revision and what changed, restore an older one, and export it all as Markdown.</p>
        </li>
        <li>
          <h2>Works on the go</h2>
          <p>On a phone or a laptop, and even offline: what you write is sent when you are back online.</p>
        </li>
      </ul>
    </div>
  );
}
