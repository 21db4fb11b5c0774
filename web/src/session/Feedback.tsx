// What people think of their plan (docs/analytics.md, "Session quality"): a rating of each
// document under it, and the short survey once the session is complete. Answering again
// replaces the earlier answer on the server; the API has no read, so nothing is loaded.

import { useId, useState, type FormEvent } from 'react';
import { api } from '../api/client';
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
  const [saved, setSaved] = useState<RatingView | null>(null);
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
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (saved) {
    return (
      <div className="feedback feedback-done" data-testid="rate-document">
        <p role="status">Thanks — saved.</p>
        <button type="button" className="button small subtle" onClick={() => setSaved(null)}>
          Change my rating
        </button>
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
  const [state, setState] = useState<'asking' | 'answered' | 'dismissed'>('asking');
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
      await api.put<SurveyView>(paths.survey(sessionId), body);
      setState('answered');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (state === 'dismissed') return null;
  if (state === 'answered') {
    return (
      <section className="notice notice-info compact survey" aria-label="Survey" data-testid="session-survey">
        <p role="status">Thanks — saved. Your answer helps make Plansmith better.</p>
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
        <div className="row">
          <button type="submit" className="button small primary" disabled={busy}>
            {busy ? 'Saving…' : 'Send answer'}
          </button>
          <button type="button" className="button small" disabled={busy} onClick={() => setState('dismissed')}>
            Not now
          </button>
        </div>
      </form>
    </section>
  );
}
