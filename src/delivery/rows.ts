/** @module The deliveries an event gets: one row per action, written in the event's own commit. */
import { orderKey } from "../actions/order.ts";
import type { Action } from "../actions/types.ts";
import type { NewDelivery } from "../store/types.ts";

/** The delivery row for one action; an ordered action's key is rendered here, so it commits with the delivery. */
export function newDelivery(action: Action, payload: unknown): NewDelivery {
  const key = orderKey(action.order, payload);
  return key === undefined
    ? { action: action.name, digest: action.digest }
    : { action: action.name, digest: action.digest, orderKey: key };
}
