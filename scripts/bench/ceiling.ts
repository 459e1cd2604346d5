/**
 * @module The ceiling: a bare Bun.serve that reads the whole body and answers 200, nothing else. payhook's
 * throughput is reported as a ratio of this one's, measured on the same machine in the same round.
 * Usage: bun scripts/bench/ceiling.ts; prints `listening <port>` once it is ready.
 */
const ceiling = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  async fetch(request) {
    await request.arrayBuffer();
    return new Response('{"received":true}', { headers: { "content-type": "application/json" } });
  },
});

console.log(`listening ${ceiling.port}`);
process.on("SIGTERM", () => {
  ceiling.stop(true);
  process.exit(0);
});
