/** @module Per test: a fake of Stripe's API, a sink for forwarded requests, and the payhook the test started. */
import { afterEach, beforeEach } from "bun:test";
import { type FakeStripeApi, startFakeStripeApi } from "./fake-stripe-api.ts";
import type { RunningServer } from "./server.ts";
import { type Sink, startSink } from "./sink.ts";

export interface StripeFixture {
  fake: FakeStripeApi;
  sink: Sink;
  /** Set by the test when it starts one; killed after it. */
  server: RunningServer | undefined;
}

/** A fresh fake (answering API key `key`) and sink for each test of the file, stopped after it. */
export function useStripeFixture(key: string): StripeFixture {
  const fixture = { server: undefined } as StripeFixture;
  beforeEach(async () => {
    fixture.fake = startFakeStripeApi(key);
    fixture.sink = await startSink();
  });
  afterEach(async () => {
    await fixture.server?.kill();
    fixture.server = undefined;
    fixture.fake.stop();
    await fixture.sink.close();
  });
  return fixture;
}
