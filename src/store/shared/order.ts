/** @module The ordering rule (`order:` on an action) as SQL, the same on every store, for its claim and its views. */

/**
 * True for a pending delivery `d` that its order key does not hold back: unordered, or no other delivery of its
 * action and key (in `deliveries`, the table's name as the store's SQL writes it) is running, and none created
 * earlier (ties: stored earlier) is pending. Dead and failed ones never hold a key. Unordered rows stop at the
 * first test. On PostgreSQL, a claim that races another past this test (its snapshot predates the other's commit)
 * is stopped by the unique index deliveries_order_running and tried again.
 */
export const orderFree = (deliveries: string) => `(d.order_key IS NULL OR NOT EXISTS (
  SELECT 1 FROM ${deliveries} b WHERE b.action = d.action AND b.order_key = d.order_key
    AND b.status IN ('pending', 'running')
    AND (b.status = 'running' OR b.order_created < d.order_created
      OR (b.order_created = d.order_created AND b.id < d.id))))`;
