/**
 * @module The forward target for the drain measurement: a bare Bun.serve that reads each body and answers 200,
 * so the measured rate is payhook's worker, not the receiver. Prints `listening <port>` once ready and, on
 * SIGTERM, `received <count>`.
 */
let received = 0;
const sink = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    await request.arrayBuffer();
    received += 1;
    return new Response("ok");
  },
});

console.log(`listening ${sink.port}`);
process.on("SIGTERM", () => {
  sink.stop(true);
  console.log(`received ${received}`);
  process.exit(0);
});
