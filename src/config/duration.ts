// Durations in the config: "30s", "5m", "1h30m", "7d", "250ms".

const PART = /(\d+)(ms|s|m|h|d)/g;
export const DURATION = /^(\d+(ms|s|m|h|d))+$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** Milliseconds of a duration string; throws on anything else (the schema validates first). */
export function parseDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`not a duration: ${JSON.stringify(text)} (expected e.g. "30s", "1h30m")`);
  let total = 0;
  for (const match of text.matchAll(PART)) {
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  }
  return total;
}
