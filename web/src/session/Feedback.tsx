// What people think of their plan (docs/analytics.md, "Session quality"): a rating of each
// document under it, and the short survey once the session is complete. The person's earlier
// answer is read first (a `404` means none yet) and shown, with a button to change it; the form
// opens filled in with it. Answering again replaces the earlier answer on the server.

import { useEffect, useId, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import { paths } from '../api/paths';
import type { RatingRequest, RatingView, SurveyRequest, SurveyView } from '../api/types';
import { CharCounter, describedBy, FieldNote } from '../components/FieldHelp';
import { ErrorNotice } from '../components/ErrorNotice';
import { fieldError } from '../lib/errors';
import { countChars } from '../lib/limits';

/** The longest comment the server takes, in characters. */
export const COMMENT_CHARS = 2000;
export const MAX_HOURS = 10_000;

const RATING_LABELS = { rating: 'The rating', useful: 'Useful', comment: 'The comment' };
const SURVEY_LABELS = { csat: 'Satisfaction', hours_without: 'The hours', comment: 'The comment' };

type Problems = Partial<Record<string, string>>;

/** A comment trimmed, or null when there is none. */
function commentOf(text: string): string | null {
  const t = text.trim();
  return t ? t : null;
}

/** The client's own checks and the server's refusal of one field, as notes under the fields. */
function notesFor(checked: Problems, error: unknown, labels: Record<string, string>): Problems {
  const refused = fieldError(error, labels);
  return refused ? { ...checked, [refused.field]: `${refused.message} ${refused.hint}`.trim() } : checked;
}

/** The person's earlier answer at `path`: `undefined` while it is read, `null` when there is
 * none (the server answers `404` until the first answer). Any other failure is `loadError`, and
 * the answer counts as none: the form is shown anyway, never blocked by a read. Read once: the
 * components are keyed by what they are about. */
function useEarlierAnswer<T>(path: string) {
  const [saved, setSaved] = useState<T | null | undefined>(undefined);
  const [loadError, setLoadError] = useState<unknown>(null);
  useEffect(() => {
    const controller = new AbortController();
    api.get<T>(path, { signal: controller.signal }).then(
      (answer) => !controller.signal.aborted && setSaved(answer),
      (err) => {
        if (controller.signal.aborted) return;
        setSaved(null);
        if (!(err instanceof ApiError && err.status === 404)) setLoadError(err);
      },
    );
    return () => controller.abort();
  }, [path]);
  return { saved, setSaved, loadError, setLoadError };
}

/** A saved comment as it was written, under the summary of the answer. */
function SavedComment({ comment }: { comment: string | null | undefined }) {
  return comment ? <blockquote className="feedback-comment">{comment}</blockquote> : null;
}

/** 1 to 5 as a group of radio buttons drawn as stars (arrow keys move between them). */
function Scale({
  id,
  legend,
  names,
  value,
  onChange,
  note,
}: {
  id: string;
  legend: string;
  names: readonly string[];
  value: number | null;
  onChange: (value: number) => void;
  note: string | undefined;
}) {
  return (
    <fieldset className="field" aria-describedby={describedBy(note && `${id}-error`)}>
      <legend>{legend}</legend>
      <div className="stars">
        {names.map((name, i) => {
          const n = i + 1;
          return (
            <label key={n} className={value !== null && n <= value ? 'star on' : 'star'}>
              <input type="radio" className="visually-hidden" name={id} value={n} checked={value === n} onChange={() => onChange(n)} />
              <span aria-hidden="true">★</span>
              <span className="visually-hidden">{name}</span>
            </label>
          );
        })}
        {value !== null && <span className="muted small">{value} of 5</span>}
      </div>
      <FieldNote id={`${id}-error`} message={note ?? null} />
    </fieldset>
  );
}

function Comment({ id, label, value, onChange, note }: { id: string; label: string; value: string; onChange: (v: string) => void; note: string | undefined }) {
  const count = countChars(value.trim(), COMMENT_CHARS);
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        rows={2}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-invalid={note || count.over ? true : undefined}
        aria-describedby={describedBy(note && `${id}-error`, count.show && `${id}-count`)}
      />
      <FieldNote id={`${id}-error`} message={note ?? null} />
      <CharCounter id={`${id}-count`} count={count} />
    </div>
  );
}

const STAR_NAMES = ['1 star', '2 stars', '3 stars', '4 stars', '5 stars'] as const;

/** "Rate this document" under a document with content. */
export function RateDocument({ sessionId, documentId, title }: { sessionId: string; documentId: string; title: string }) {
  const uid = useId();
  const [rating, setRating] = useState<number | null>(null);
  const [useful, setUseful] = useState<boolean | null>(null);
  const [comment, setComment] = useState('');
  const [checked, setChecked] = useState<Problems>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const { saved, setSaved, loadError, setLoadError } = useEarlierAnswer<RatingView>(paths.rating(sessionId, documentId));
  // The form is open over a saved rating ("Change my rating"); `thanked`: saved just now.
  const [changing, setChanging] = useState(false);
  const [thanked, setThanked] = useState(false);
  const notes = notesFor(checked, error, RATING_LABELS);
  const refused = fieldError(error, RATING_LABELS) !== null;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const problems: Problems = {};
    if (rating === null) problems.rating = 'Choose from 1 to 5 stars.';
    if (useful === null) problems.useful = 'Answer yes or no.';
    if (countChars(comment.trim(), COMMENT_CHARS).over) problems.comment = `The comment is too long: at most ${COMMENT_CHARS.toLocaleString('en-US')} characters.`;
    setChecked(problems);
    setError(null);
    if (rating === null || useful === null || Object.keys(problems).length > 0) return;
    setBusy(true);
    try {
      const body: RatingRequest = { rating, useful, comment: commentOf(comment) };
      setSaved(await api.put<RatingView>(paths.rating(sessionId, documentId), body));
      setLoadError(null);
      setChanging(false);
      setThanked(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  /** Opens the form filled in with the saved rating. */
  function change(from: RatingView) {
    setRating(from.rating);
    setUseful(from.useful);
    setComment(from.comment ?? '');
    setChecked({});
    setError(null);
    setThanked(false);
    setChanging(true);
  }

  if (saved === undefined) {
    return (
      <div className="feedback muted small" aria-busy="true" data-testid="rate-document">
        Loading your rating…
      </div>
    );
  }
  if (saved && !changing) {
    return (
      <div className="feedback" data-testid="rate-document">
        <div className="feedback-done">
          {thanked && <p role="status">Thanks — saved.</p>}
          <span data-testid="saved-rating">
            You rated this {saved.rating} of 5 · {saved.useful ? 'useful' : 'not useful'}
          </span>
          <button type="button" className="button small subtle" onClick={() => change(saved)}>
            Change my rating
          </button>
        </div>
        <SavedComment comment={saved.comment} />
      </div>
    );
  }
  return (
    <form className="feedback" onSubmit={submit} aria-label={`Rate ${title}`} data-testid="rate-document" noValidate>
      <h3 className="feedback-title">Rate this document</h3>
      <Scale id={`${uid}-rating`} legend="Your rating" names={STAR_NAMES} value={rating} onChange={setRating} note={notes.rating} />
      <fieldset className="field" aria-describedby={describedBy(notes.useful && `${uid}-useful-error`)}>
        <legend>Useful?</legend>
        <div className="row">
          {([true, false] as const).map((v) => (
            <label key={String(v)} className="choice">
              <input type="radio" name={`${uid}-useful`} checked={useful === v} onChange={() => setUseful(v)} />
              {v ? 'Yes' : 'No'}
            </label>
          ))}
        </div>
        <FieldNote id={`${uid}-useful-error`} message={notes.useful ?? null} />
      </fieldset>
      <Comment id={`${uid}-comment`} label="Comment (optional)" value={comment} onChange={setComment} note={notes.comment} />
      {error !== null && !refused && <ErrorNotice error={error} compact />}
      {error === null && loadError !== null && <ErrorNotice error={loadError} compact />}
      <div className="row">
        <button type="submit" className="button small primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save rating'}
        </button>
      </div>
    </form>
  );
}

const CSAT_NAMES = ['1 — very unsatisfied', '2 — unsatisfied', '3 — neutral', '4 — satisfied', '5 — very satisfied'] as const;

/** The end-of-session survey, for a completed session: "Not now" puts it away. */
export function SessionSurvey({ sessionId }: { sessionId: string }) {
  const uid = useId();
  const [csat, setCsat] = useState<number | null>(null);
  const [hours, setHours] = useState('');
  const [comment, setComment] = useState('');
  const [checked, setChecked] = useState<Problems>({});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const { saved, setSaved, loadError, setLoadError } = useEarlierAnswer<SurveyView>(paths.survey(sessionId));
  // Asked again over a saved answer ("Change my answer"); `thanked`: answered just now.
  const [changing, setChanging] = useState(false);
  const [thanked, setThanked] = useState(false);
  const [dismissed, setDismissed] = useState(false);
  const notes = notesFor(checked, error, SURVEY_LABELS);
  const refused = fieldError(error, SURVEY_LABELS) !== null;
  const hoursId = `${uid}-hours`;

  async function submit(e: FormEvent) {
    e.preventDefault();
    const problems: Problems = {};
    const hoursWithout = hours.trim() === '' ? NaN : Number(hours.replace(',', '.'));
    if (csat === null) problems.csat = 'Choose from 1 to 5.';
    if (!Number.isFinite(hoursWithout) || hoursWithout < 0 || hoursWithout > MAX_HOURS)
      problems.hours_without = `Give a number of hours from 0 to ${MAX_HOURS.toLocaleString('en-US')}.`;
    if (countChars(comment.trim(), COMMENT_CHARS).over) problems.comment = `The comment is too long: at most ${COMMENT_CHARS.toLocaleString('en-US')} characters.`;
    setChecked(problems);
    setError(null);
    if (csat === null || Object.keys(problems).length > 0) return;
    setBusy(true);
    try {
      const body: SurveyRequest = { csat, hours_without: hoursWithout, comment: commentOf(comment) };
      setSaved(await api.put<SurveyView>(paths.survey(sessionId), body));
      setLoadError(null);
      setChanging(false);
      setThanked(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  /** Asks again, filled in with the saved answer. */
  function change(from: SurveyView) {
    setCsat(from.csat);
    setHours(String(from.hours_without));
    setComment(from.comment ?? '');
    setChecked({});
    setError(null);
    setThanked(false);
    setChanging(true);
  }

  // Nothing while the earlier answer is read: the question is not put to someone who answered it.
  if (dismissed || saved === undefined) return null;
  if (saved && !changing) {
    const hoursText = `${saved.hours_without.toLocaleString('en-US')} ${saved.hours_without === 1 ? 'hour' : 'hours'}`;
    return (
      <section className="notice notice-info compact survey" aria-label="Survey" data-testid="session-survey">
        {thanked && <p role="status">Thanks — saved. Your answer helps make Plansmith better.</p>}
        <p data-testid="saved-survey">
          Your answer: satisfaction {saved.csat} of 5 · {hoursText} without Plansmith
        </p>
        <SavedComment comment={saved.comment} />
        <button type="button" className="button small subtle" onClick={() => change(saved)}>
          Change my answer
        </button>
      </section>
    );
  }
  return (
    <section className="survey" aria-labelledby={`${uid}-heading`} data-testid="session-survey">
      <h2 id={`${uid}-heading`}>Your plan is complete: a quick question</h2>
      <form className="form wide" onSubmit={submit} noValidate>
        <Scale id={`${uid}-csat`} legend="How satisfied are you with this plan?" names={CSAT_NAMES} value={csat} onChange={setCsat} note={notes.csat} />
        <div className="field">
          <label htmlFor={hoursId}>How many hours would this plan have taken you without Plansmith?</label>
          <input
            id={hoursId}
            type="number"
            inputMode="decimal"
            min={0}
            max={MAX_HOURS}
            step="any"
            value={hours}
            onChange={(e) => setHours(e.target.value)}
            aria-invalid={notes.hours_without ? true : undefined}
            aria-describedby={describedBy(notes.hours_without && `${hoursId}-error`)}
          />
          <FieldNote id={`${hoursId}-error`} message={notes.hours_without ?? null} />
        </div>
        <Comment id={`${uid}-comment`} label="Anything else? (optional)" value={comment} onChange={setComment} note={notes.comment} />
        {error !== null && !refused && <ErrorNotice error={error} compact />}
        {error === null && loadError !== null && <ErrorNotice error={loadError} compact />}
        <div className="row">
          <button type="submit" className="button small primary" disabled={busy}>
            {busy ? 'Saving…' : 'Send answer'}
          </button>
          <button type="button" className="button small" disabled={busy} onClick={() => setDismissed(true)}>
            Not now
          </button>
        </div>
      </form>
    </section>
  );
}
