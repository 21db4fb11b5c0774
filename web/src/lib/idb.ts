// A few promise helpers over IndexedDB (no library): one database, three stores.
//   kv        — API responses already seen (key: request path), so pages stay readable offline
//   outbox    — messages and section edits waiting to be sent, in order (auto-increment key)
//   conflicts — section edits the server refused because the section changed meanwhile

const DB_NAME = 'plansmith';
const DB_VERSION = 1;
export type StoreName = 'kv' | 'outbox' | 'conflicts';

let opening: Promise<IDBDatabase> | null = null;

export function openDb(): Promise<IDBDatabase> {
  if (!opening) {
    opening = new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        if (!db.objectStoreNames.contains('kv')) db.createObjectStore('kv');
        if (!db.objectStoreNames.contains('outbox')) db.createObjectStore('outbox', { keyPath: 'id', autoIncrement: true });
        if (!db.objectStoreNames.contains('conflicts')) db.createObjectStore('conflicts', { keyPath: 'id', autoIncrement: true });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => {
        opening = null;
        reject(req.error);
      };
    });
  }
  return opening;
}

function done<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function store(name: StoreName, mode: IDBTransactionMode): Promise<IDBObjectStore> {
  const db = await openDb();
  return db.transaction(name, mode).objectStore(name);
}

export async function idbGet<T>(name: StoreName, key: IDBValidKey): Promise<T | undefined> {
  return done((await store(name, 'readonly')).get(key)) as Promise<T | undefined>;
}

export async function idbPut<T>(name: StoreName, value: T, key?: IDBValidKey): Promise<IDBValidKey> {
  return done((await store(name, 'readwrite')).put(value, key));
}

export async function idbDelete(name: StoreName, key: IDBValidKey): Promise<void> {
  await done((await store(name, 'readwrite')).delete(key));
}

/** All values in key order (for the outbox: the order they were queued). */
export async function idbAll<T>(name: StoreName): Promise<T[]> {
  return done((await store(name, 'readonly')).getAll()) as Promise<T[]>;
}

export async function idbClear(name: StoreName): Promise<void> {
  await done((await store(name, 'readwrite')).clear());
}

export async function idbKeys(name: StoreName): Promise<IDBValidKey[]> {
  return done((await store(name, 'readonly')).getAllKeys());
}
