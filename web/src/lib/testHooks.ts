// Lets end-to-end tests cut reply streams the way a network failure does, read the text a
// stream assembled (to compare it with what the server saved), and read the evaluated feature
// flags (so that a feature missing from the page is known to be the server's answer, not a
// wait). Only the e2e build calls this (`npm run build:e2e`, see main.tsx); production builds
// leave it out, which scripts/check-dist.mjs verifies on web/dist.

import { flags } from './flags';
import { dropAllConnections, existingStream } from './streams';

export function installTestHooks(): void {
  (window as unknown as { __plansmith: object }).__plansmith = {
    dropStreams: dropAllConnections,
    streamText: (replyId: string) => existingStream(replyId)?.current.text ?? null,
    flags: () => flags.get()?.values ?? null,
  };
}
