/** Listings an admin function answers within Lambda's synchronous payload limit (6 MB). */

/** JSON bytes of a listing's items kept whole. */
export const MAX_LISTING_BYTES = 4 * 1024 * 1024;

/** Bytes an item takes in the function's answer, where the listing is a JSON string inside the JSON response. */
export const answerBytes = (item: unknown): number => Buffer.byteLength(JSON.stringify(JSON.stringify(item)), 'utf8');

/**
 * The items of a listing, in their order, each past MAX_LISTING_BYTES in its `lighter` form (without its large
 * values, saying so): every item keeps its place, so a page is as long as it was asked to be.
 */
export function withinAnswerSize<T>(items: readonly T[], lighter: (item: T) => T, budget = MAX_LISTING_BYTES): T[] {
  let bytes = MAX_LISTING_BYTES - budget;
  return items.map((item) => {
    const whole = answerBytes(item);
    if (bytes + whole <= MAX_LISTING_BYTES) {
      bytes += whole;
      return item;
    }
    const light = lighter(item);
    bytes += answerBytes(light);
    return light;
  });
}

/** Why an item of a listing comes without its values. */
export const OMITTED = `left out of this listing: a listing holds at most ${MAX_LISTING_BYTES / 1024 / 1024} MB of values`;
