/**
 * A MongoDB change stream update description applied to the document before it: `truncatedArrays`, then
 * `removedFields`, then `updatedFields`, each by dotted path (a number names an array element), as
 * https://www.mongodb.com/docs/manual/reference/change-events/update/ describes them.
 */

/** The most elements an update may add to an array by naming an index past its end (MongoDB pads with null). */
const MAX_PAD = 10_000;

export interface UpdateDescription {
  readonly updatedFields: Readonly<Record<string, unknown>>;
  readonly removedFields: readonly string[];
  readonly truncatedArrays: readonly { readonly field: string; readonly size: number }[];
}

/** Whether the update names a field inside another one (a dotted path) or truncates an array: it needs the document. */
export function reachesInside(update: UpdateDescription): boolean {
  return update.truncatedArrays.length > 0 || [...Object.keys(update.updatedFields), ...update.removedFields].some((p) => p.includes('.'));
}

/** The document after the update, or why it cannot be applied (a path through a value that holds no fields). */
export function applyUpdate(before: Readonly<Record<string, unknown>>, update: UpdateDescription): Record<string, unknown> | string {
  const doc = structuredClone(before) as Record<string, unknown>;
  for (const { field, size } of update.truncatedArrays) {
    const at = parentOf(doc, field, false);
    const arr: unknown = typeof at === 'string' || !at ? undefined : (at.holder as Record<string | number, unknown>)[at.last];
    if (!Array.isArray(arr)) return `truncatedArrays names "${field}", which is not an array in the document before`;
    if (!Number.isSafeInteger(size) || size < 0) return `truncatedArrays gives "${field}" the size ${size}, not a whole number of at least 0`;
    arr.length = Math.min(arr.length, size);
  }
  for (const field of update.removedFields) {
    const at = parentOf(doc, field, false);
    if (typeof at === 'string') return at;
    if (!at) continue;
    // $unset of an array element leaves null in its place.
    if (Array.isArray(at.holder)) at.holder[at.last as number] = null;
    else delete at.holder[at.last];
  }
  for (const [field, value] of Object.entries(update.updatedFields)) {
    const at = parentOf(doc, field, true);
    if (typeof at === 'string') return at;
    if (!at) return `updatedFields names "${field}", which the document before cannot hold`;
    if (Array.isArray(at.holder)) {
      const i = at.last as number;
      if (i - at.holder.length > MAX_PAD) return `updatedFields names "${field}", more than ${MAX_PAD} elements past the array's end`;
      while (at.holder.length < i) at.holder.push(null);
      at.holder[i] = value;
    } else {
      Object.defineProperty(at.holder, at.last, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return doc;
}

type Parent = { holder: Record<string, unknown>; last: string } | { holder: unknown[]; last: number };

/** The object or array that holds the path's last segment; `create` makes missing objects on the way. */
function parentOf(doc: Record<string, unknown>, path: string, create: boolean): Parent | string | undefined {
  const parts = path.split('.');
  let node: unknown = doc;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    if (Array.isArray(node)) {
      if (!/^\d+$/.test(part)) return `"${path}" names field "${part}" of an array`;
      const index = Number(part);
      if (last) return { holder: node, last: index };
      if (node[index] === undefined || node[index] === null) {
        if (!create) return undefined;
        if (index - node.length > MAX_PAD) return `"${path}" names an element more than ${MAX_PAD} past the array's end`;
        while (node.length < index) node.push(null);
        node[index] = {};
      }
      node = node[index];
    } else if (node !== null && typeof node === 'object') {
      const obj = node as Record<string, unknown>;
      if (last) return { holder: obj, last: part };
      if (!Object.hasOwn(obj, part) || obj[part] === null || obj[part] === undefined) {
        if (!create) return undefined;
        Object.defineProperty(obj, part, { value: {}, enumerable: true, writable: true, configurable: true });
      }
      node = obj[part];
    } else {
      return `"${path}" goes through ${parts.slice(0, i).join('.')}, which holds no fields`;
    }
  }
  return undefined;
}
