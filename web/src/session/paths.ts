const enc = encodeURIComponent;
export const sessionPath = (id: string) => `/api/v1/sessions/${enc(id)}`;
export const messagesPath = (id: string) => `${sessionPath(id)}/messages`;
export const documentsPath = (id: string) => `${sessionPath(id)}/documents`;
export const documentPath = (id: string, doc: string) => `${documentsPath(id)}/${enc(doc)}`;
export const revisionsPath = (id: string, doc: string) => `${documentPath(id, doc)}/revisions`;
export const exportPath = (id: string, doc: string) => `${documentPath(id, doc)}/export.md`;
