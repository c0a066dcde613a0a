import type { FlowConfig } from '../../config/schema';

/**
 * The names, after the flow's include, exclude and rename, of fields a change leaves as they are (values its source
 * did not have, such as an unchanged TOASTed column). A field the transform drops is not kept; one it renames is
 * kept under its new name.
 */
export function keptAfterTransform(transform: FlowConfig['transform'], keep: readonly string[]): string[] {
  const include = transform.include;
  const exclude = new Set(transform.exclude ?? []);
  const rename = new Map(Object.entries(transform.rename ?? {}));
  const out = new Set<string>();
  for (const field of keep) {
    if (include && !include.some((p) => p === field || p.startsWith(`${field}.`))) continue;
    if (exclude.has(field)) continue;
    out.add(rename.get(field) ?? field);
  }
  return [...out].sort();
}
