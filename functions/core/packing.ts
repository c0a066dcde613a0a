/**
 * Several step messages in one SQS message: SQS bills every send, receive and delete per message (per 64 KB), so a
 * message of ten records costs a tenth per record. A pack is a header line naming each item's length, then the
 * items' bodies back to back, so items come out exactly as they went in (no JSON parse of a record to unpack).
 */

const HEADER = '{"synclinePack":1,"lengths":[';

/** Records per message: as many as a Lambda batch of ten messages should carry. */
export const PACK_ITEMS = 10;

export interface PackItem {
  readonly id: string;
  readonly body: string;
}

export interface Pack {
  /** The ids of the items in this message. */
  readonly ids: readonly string[];
  readonly body: string;
}

/** The pack of these items (bodies in order). */
export function packBody(bodies: readonly string[]): string {
  return `${HEADER}${bodies.map((b) => b.length).join(',')}]}\n${bodies.join('')}`;
}

/** Groups items into packs of at most `maxItems` items and `maxChars` characters; an item too big to share goes alone, as it is. */
export function packItems(items: readonly PackItem[], maxItems = PACK_ITEMS, maxChars = 240 * 1024): Pack[] {
  const out: Pack[] = [];
  let current: PackItem[] = [];
  let chars = 0;
  const flush = () => {
    if (current.length === 1) out.push({ ids: [current[0]!.id], body: current[0]!.body });
    else if (current.length > 1) out.push({ ids: current.map((i) => i.id), body: packBody(current.map((i) => i.body)) });
    current = [];
    chars = 0;
  };
  for (const item of items) {
    if (current.length >= maxItems || (current.length > 0 && chars + item.body.length + 16 > maxChars)) flush();
    current.push(item);
    chars += item.body.length + 16;
  }
  flush();
  return out;
}

/** The item bodies of a pack, or undefined when the body is not a pack (a single message). */
export function unpackBody(body: string): string[] | undefined {
  if (!body.startsWith(HEADER)) return undefined;
  const newline = body.indexOf('\n');
  if (newline < 0) return undefined;
  let lengths: unknown;
  try {
    lengths = (JSON.parse(body.slice(0, newline)) as { lengths?: unknown }).lengths;
  } catch {
    return undefined;
  }
  if (!Array.isArray(lengths) || !lengths.every((n) => Number.isInteger(n) && n >= 0)) return undefined;
  const out: string[] = [];
  let at = newline + 1;
  for (const n of lengths as number[]) {
    out.push(body.slice(at, at + n));
    at += n;
  }
  return at === body.length ? out : undefined;
}
