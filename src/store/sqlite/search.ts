/**
 * @module The search index behind the ack. An event's object and customer ids are columns of its row, durable
 * with the 200; the index that finds events by them (event_search) is filled behind, from those rows, in large
 * batches that share a group commit. Inserting into an index keyed by random ids dirties one page per entry, so
 * writing it with every event cost more WAL than the event itself; a batch of thousands dirties each page once.
 * search_progress holds the last event rowid indexed, committed with the entries, so a crash loses nothing: the
 * events after it (the tail) are searched by their columns until the next batch, which a restart resumes.
 */
import type { SqlDatabase, SqlStatement } from "../../runtime/types.ts";

/** The tail is indexed once it holds this many events (in the commit that reaches it), bounding its scan. */
export const SEARCH_BATCH = 4096;
/** Or this long (ms) after an event was stored, whichever comes first. */
export const SEARCH_DELAY_MS = 1_000;

/**
 * The rowids of the events a search matches: by id, by the index, and by the columns of the tail not yet indexed.
 * One parameter (?n, given as `param`) is the searched string.
 */
export function searchRowids(param: string): string {
  return `SELECT rowid FROM events WHERE id = ${param}
    UNION ALL SELECT event FROM event_search WHERE key = ${param}
    UNION ALL SELECT rowid FROM events WHERE rowid > (SELECT indexed FROM search_progress)
      AND (object_id = ${param} OR customer_id = ${param})`;
}

/** Fills event_search from the tail, on the writer's connection, inside its transactions. */
export class SearchIndexer {
  /** Events stored through this store since the tail was last indexed (others' are found by the next batch). */
  private stored = 0;
  private readonly indexTail: SqlStatement;
  private readonly markIndexed: SqlStatement;
  private readonly newest: SqlStatement;

  constructor(db: SqlDatabase) {
    // One statement for both ids, in index order; an event whose object is its customer is entered once.
    this.indexTail = db.prepare(
      `INSERT OR IGNORE INTO event_search (key, event)
       SELECT key, event FROM (
         SELECT object_id AS key, rowid AS event FROM events WHERE rowid > ?1 AND rowid <= ?2 AND object_id IS NOT NULL
         UNION ALL
         SELECT customer_id, rowid FROM events WHERE rowid > ?1 AND rowid <= ?2 AND customer_id IS NOT NULL)
       ORDER BY key, event`,
    );
    this.markIndexed = db.prepare("UPDATE search_progress SET indexed = ? WHERE indexed < ?");
    this.newest = db.prepare(
      "SELECT (SELECT indexed FROM search_progress) AS indexed, (SELECT coalesce(max(rowid), 0) FROM events) AS newest",
    );
    // A tail left by a crash counts: the first commit of this process arms its indexing.
    const row = this.newest.get();
    this.stored = Math.max(0, Number(row?.newest ?? 0) - Number(row?.indexed ?? 0));
  }

  /** An event was stored (in the transaction under way). */
  noteStored(): void {
    this.stored++;
  }

  /** True when the tail should be indexed in the transaction under way. */
  get full(): boolean {
    return this.stored >= SEARCH_BATCH;
  }

  /** True when events are waiting to be indexed, so a later commit must index them. */
  get waiting(): boolean {
    return this.stored > 0;
  }

  /** Indexes every event after the last indexed one; runs inside a write transaction. */
  index(): void {
    this.stored = 0;
    const row = this.newest.get();
    const from = Number(row?.indexed ?? 0);
    const to = Number(row?.newest ?? 0);
    if (to <= from) return;
    this.indexTail.run(from, to);
    this.markIndexed.run(to, to);
  }
}
