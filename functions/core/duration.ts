/* The config's duration syntax ("5 minutes", "1 h", "30s"): one parser for the schema, the plan, the stack and the local runtime. */

const UNIT_MS: Readonly<Record<string, number>> = {
  s: 1_000, sec: 1_000, second: 1_000, seconds: 1_000,
  m: 60_000, min: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
};

/** A duration as the config schema accepts it: a whole number and one of the units of {@link parseDurationMs}. */
export const DURATION = /^\d+\s*(s|sec|second|seconds|m|min|minute|minutes|h|hour|hours|d|day|days)$/;

/** "5 minutes" -> 300000; throws on anything {@link DURATION} refuses (surrounding blanks aside). */
export function parseDurationMs(text: string): number {
  const m = /^(\d+)\s*([a-z]+)$/.exec(text.trim());
  const ms = m && Object.hasOwn(UNIT_MS, m[2]!) ? UNIT_MS[m[2]!]! : undefined;
  if (ms === undefined) throw new Error(`invalid duration "${text}": use a whole number and s, sec, second(s), m, min, minute(s), h, hour(s), d or day(s)`);
  return Number(m![1]) * ms;
}
