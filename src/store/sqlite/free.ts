/** @module The ordering rule (`order:` on an action) as SQL on the SQLite store, shared by its claim and views. */

/**
 * True for a pending delivery `d` that its order key does not hold back: unordered, or no other delivery of its
 * action and key is running, and none created earlier (then stored earlier) is pending. Dead and failed ones are
 * not in the partial index deliveries_order, so they never hold a key. Unordered rows stop at the first test.
 * This is the rule; a NULL next_at (held behind its key) only keeps rows that cannot pass it out of the claim's scan.
 */
export const FREE = `(d.order_key IS NULL OR NOT EXISTS (
  SELECT 1 FROM deliveries b WHERE b.action = d.action AND b.order_key = d.order_key
    AND b.status IN ('pending', 'running')
    AND (b.status = 'running' OR b.order_created < d.order_created
      OR (b.order_created = d.order_created AND b.id < d.id))))`;
