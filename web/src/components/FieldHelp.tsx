import type { Count } from '../lib/limits';

/** A character counter under a field, shown near the limit and over it. */
export function CharCounter({ id, count }: { id: string; count: Count }) {
  if (!count.show) return null;
  return (
    <p id={id} className={count.over ? 'counter counter-over' : 'counter muted small'} data-testid="char-counter">
      {count.text}
    </p>
  );
}

/** The refusal of one field, under it (the field points here with aria-describedby). */
export function FieldNote({ id, message }: { id: string; message: string | null }) {
  if (!message) return null;
  return (
    <p id={id} className="field-error" role="alert">
      {message}
    </p>
  );
}

/** Ids to join in aria-describedby, leaving out the ones not shown. */
export function describedBy(...ids: (string | false | null | undefined)[]): string | undefined {
  const shown = ids.filter(Boolean);
  return shown.length ? shown.join(' ') : undefined;
}
