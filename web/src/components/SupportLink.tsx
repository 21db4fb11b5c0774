/** The installation's support contact: an email address as a mail link, anything else (a web
 * address, a phone number) as it is written. */
export function SupportLink({ contact }: { contact: string }) {
  if (/^[^\s@]+@[^\s@]+$/.test(contact)) return <a href={`mailto:${contact}`}>{contact}</a>;
  if (/^https?:\/\//.test(contact)) return <a href={contact}>{contact}</a>;
  return <>{contact}</>;
}
