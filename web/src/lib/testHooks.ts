// Lets end-to-end tests cut reply streams the way a network failure does, and read the text a
// stream assembled (to compare it with what the server saved). Only the e2e build calls this
// (`npm run build:e2e`, see main.tsx); production builds leave it out, which
// scripts/check-dist.mjs verifies on web/dist.

import { dropAllConnections, existingStream } from './streams';

export function installTestHooks(): void {
  (window as unknown as { __plansmith: object }).__plansmith = {
    dropStreams: dropAllConnections,
    streamText: (replyId: string) => existingStream(replyId)?.current.text ?? null,
  };
}
