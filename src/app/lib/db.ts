// The studio database opened on the UI thread (the worker opens its own connection to the same
// IndexedDB): the UI reads runs and metrics, saves ratings and deletes runs.
import { openStudioDb, type StudioDb } from '../../store/db';

let db: Promise<StudioDb> | null = null;

export function getDb(): Promise<StudioDb> {
  db ??= openStudioDb();
  return db;
}
