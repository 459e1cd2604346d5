/**
 * @module `payhook alerts test [CHANNEL]`: sends a test notification to one channel or every one, now and
 * without the store, and says per channel whether it arrived (never the channel's URL).
 */
import { createChannel } from "../../alerts/channels.ts";
import { resolveConfig } from "../../config/resolve.ts";
import { ConfigError, UsageError } from "../../errors.ts";
import { configOption } from "../options.ts";
import type { Command } from "../types.ts";

export const alerts: Command = {
  name: "alerts",
  summary: "send a test notification to the alert channels",
  usage: "payhook alerts test [CHANNEL] [--config FILE]",
  options: { ...configOption },
  async run({ runtime, io, values, positionals }) {
    const [sub, name, ...rest] = positionals;
    if (sub !== "test") {
      throw new UsageError(
        sub === undefined ? "alerts needs a subcommand: test" : `unknown alerts subcommand "${sub}"`,
      );
    }
    if (rest.length > 0) throw new UsageError(`alerts test takes at most one channel (got "${rest[0]}")`);
    const config = resolveConfig(values.config as string | undefined, io.env);
    const channels = config.alerts?.channels ?? [];
    if (channels.length === 0) {
      throw new ConfigError([
        `${config.source}: alerts: no channels; add alerts: { notify: [{ name, slack: { url } }] }`,
      ]);
    }
    const chosen = name === undefined ? channels : channels.filter((c) => c.name === name);
    if (chosen.length === 0) {
      throw new UsageError(`no channel is named "${name}"; the config has ${channels.map((c) => c.name).join(", ")}`);
    }
    const now = new Date();
    const body = {
      id: `test_${now.getTime()}`,
      rule: "test",
      state: "open" as const,
      summary: "a test notification from payhook alerts test",
      details: "If you read this, payhook can reach this channel.",
      opened_at: now.toISOString(),
      count: 1,
    };
    let failed = 0;
    for (const settings of chosen) {
      const result = await createChannel(settings, runtime).send(body, body.id);
      if (result.ok) io.out(`${settings.name} (${settings.kind}): sent`);
      else {
        failed++;
        io.out(`${settings.name} (${settings.kind}): not sent: ${result.error}`);
      }
    }
    return failed === 0 ? 0 : 1;
  },
};
