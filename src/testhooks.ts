/**
 * @module Test-only fault switches, for tests that must stop payhook at an exact point (a kill between the
 * ack and the action; a planted ack-before-commit bug the crash suite must catch). Release builds replace
 * `process.env.PAYHOOK_TEST_HOOK` with "" at build time (see the Makefile), so there these compile away.
 */
export type TestHook = "" | "hold-worker" | "ack-before-commit";

export const testHook = (process.env.PAYHOOK_TEST_HOOK ?? "") as TestHook;
