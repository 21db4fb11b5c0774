/** Tells that what is shown is the copy saved on this device, and from when. */
export function SavedCopyNote({ savedAt }: { savedAt: number | undefined }) {
  const when = savedAt ? new Date(savedAt).toLocaleString() : 'earlier';
  return (
    <p className="notice notice-info compact" data-testid="saved-copy">
      Showing the copy saved on this device ({when}). It updates when the connection is back.
    </p>
  );
}
