// Example compensation trigger for an `orders` keyspace. Register it in the config:
//
//   triggers: [{ name: refund, module: ./refund-trigger.mjs }]
//   keyspaces: { orders: { resolver: trigger:refund, onSplit: diverge, ... } }
//
// An order's value is JSON: {"orderId":"o-1","status":"created"|"paid"|"shipped",
// "paymentId":"pay_…","amountCents":1200}. During a split a customer may pay for the same
// order in both regions (the retry went to the other data center). After the heal this
// trigger keeps one payment and asks for the other to be refunded.
//
// Like every trigger it is a pure, synchronous function and symmetric: swapping `current`
// and `incoming` gives the same answer (geogate checks this and falls back to lww if not).

/** Where refunds are requested; a real deployment puts its payment service here. */
export const REFUND_URL = 'https://payments.example.com/v1/refunds';

const STATUS_RANK = { created: 0, paid: 1, shipped: 2 };

export default function refund({ current, incoming, type }) {
  // One side deleted the order, the other updated it: money taken must not vanish.
  if (current.tombstone || incoming.tombstone) {
    const live = current.tombstone ? incoming : current;
    // Returning the live side's own bytes keeps them as they are (the journal then shows
    // the delete as the loser); returning `order` would re-encode it as canonical JSON.
    return isPaid(asOrder(live)) ? { value: live.value, contentType: live.contentType } : { delete: true };
  }
  const a = asOrder(current);
  const b = asOrder(incoming);
  if (isPaid(a) && isPaid(b) && a.paymentId !== b.paymentId) {
    // Charged twice: keep the payment with the smaller id, refund the other.
    const [keep, refundOf] = a.paymentId < b.paymentId ? [a, b] : [b, a];
    const body = { orderId: refundOf.orderId, paymentId: refundOf.paymentId, amountCents: refundOf.amountCents, reason: `duplicate charge (${type})` };
    return { value: keep, actions: [{ kind: 'webhook', url: REFUND_URL, body }] };
  }
  // Otherwise the order that got further wins; equal progress: the later write (HLC, then region).
  return { value: further(a, b, current, incoming) };
}

function asOrder(side) {
  const order = side.json;
  if (typeof order !== 'object' || order === null || typeof order.orderId !== 'string' || !(order.status in STATUS_RANK)) {
    throw new Error(`not an order: ${JSON.stringify(order)}`); // geogate falls back to lww and journals this
  }
  return order;
}

function isPaid(order) {
  return STATUS_RANK[order.status] >= STATUS_RANK.paid && typeof order.paymentId === 'string';
}

function further(a, b, sideA, sideB) {
  const byRank = STATUS_RANK[a.status] - STATUS_RANK[b.status];
  if (byRank !== 0) return byRank > 0 ? a : b;
  const byHlc = sideA.hlc[0] - sideB.hlc[0] || sideA.hlc[1] - sideB.hlc[1];
  if (byHlc !== 0) return byHlc > 0 ? a : b;
  return sideA.origin > sideB.origin ? a : b;
}
