// `?crash=<panel>` makes that panel throw while rendering until its "Try again" is pressed: a
// way to see (and test end to end) that an error boundary keeps the rest of the page working.
// It only affects the page of the person who typed it.

const disarmed = new Set<string>();

export function useCrashTrigger(panel: string): void {
  if (typeof location === 'undefined') return;
  const wanted = new URLSearchParams(location.search).get('crash');
  if (wanted === panel && !disarmed.has(panel)) {
    throw new Error(`Forced render error in the ${panel} panel (?crash=${panel})`);
  }
}

export function disarmCrash(panel: string): void {
  disarmed.add(panel);
}
