/** Keeping record values out of texts that outlive the record: audit reasons, error details, logs. */
import { REDACTED } from './transform/mask';

/** Adds every scalar of `value`, at any depth, as text (those `keep` takes). */
export function collectValueTexts(value: unknown, out: Set<string>, keep: (scalar: string | number | boolean) => boolean = () => true): void {
  if (value === undefined || value === null) return;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    if (keep(value)) out.add(String(value));
  } else if (typeof value === 'object') for (const v of Object.values(value)) collectValueTexts(v, out, keep);
}

/** The texts worth scrubbing: shorter ones (`id`, `42`) would mangle the words around them and reveal little. */
export const scrubbable = (texts: Iterable<string>): string[] => [...texts].filter((s) => s.length >= 3);

/** `text` with every occurrence of each of `values` replaced by `[REDACTED]`. */
export function scrubbed(text: string, values: readonly string[]): string {
  let out = text;
  for (const v of values) out = out.split(v).join(REDACTED);
  return out;
}
