/**
 * EventBridge event-pattern matching (content filtering), pure.
 *
 * Semantics follow EventBridge / aws event-ruler:
 * - keys AND together, values in a leaf array OR together;
 * - an event array matches when any of its elements matches (arrays are "crushed");
 * - a nested pattern over an array of objects must match within one element (array-consistent);
 * - `exists` looks at leaf values only: an object or an empty array is not a leaf, `null` is.
 */

import { compileValid } from './compile';
import { validatePattern } from './validate';

export { validatePattern } from './validate';

/** A compiled pattern: a predicate over events. */
export type PatternMatcher = (event: unknown) => boolean;

const cache = new WeakMap<object, PatternMatcher>();

/** True when `event` matches the EventBridge `pattern`. Throws on an invalid pattern. */
export function matchesPattern(pattern: Record<string, unknown>, event: unknown): boolean {
  let m = cache.get(pattern);
  if (!m) {
    m = compilePattern(pattern);
    cache.set(pattern, m);
  }
  return m(event);
}

/** Compiles a pattern once so it can be applied to many events. Throws on an invalid pattern. */
export function compilePattern(pattern: Record<string, unknown>): PatternMatcher {
  const problems = validatePattern(pattern);
  if (problems.length > 0) throw new Error(`invalid event pattern: ${problems.join('; ')}`);
  return compileValid(pattern);
}
