import type { SourceConfig } from '../../config/schema';
import type { PageToken } from './pagination';
import { parseMs } from './records';

type PullHttp = NonNullable<Extract<SourceConfig, { type: 'schedule' }>['http']>;
export type CursorFormat = NonNullable<PullHttp['cursorFormat']>;

/** One page's request: the URL, the method and, for POST, the JSON body. */
export interface PageRequest {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly body?: string;
}

const EPOCH = '1970-01-01T00:00:00Z';
/** `{cursor}` as written, or as a URL parser percent-encodes it. */
const CURSOR_IN_URL = /\{cursor\}|%7Bcursor%7D/gi;

/** The URL or POST body carries the high-water mark. */
export function carriesCursor(http: Pick<PullHttp, 'url' | 'body'>): boolean {
  return new RegExp(CURSOR_IN_URL.source, 'i').test(http.url) || JSON.stringify(http.body ?? {}).includes('{cursor}');
}
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** A time (ms) as `cursorFormat` writes it: ISO-8601, epoch ms or s, or a pattern of yyyy MM dd HH mm ss in `timeZone`. */
export function formatCursor(ms: number, format: CursorFormat, timeZone = 'UTC'): string {
  if (format === 'iso') return new Date(ms).toISOString().replace('.000Z', 'Z');
  if (format === 'epoch-ms') return String(ms);
  if (format === 'epoch-s') return String(Math.floor(ms / 1000));
  const parts = wallClock(ms, timeZone);
  return format.replace(/yyyy|MM|dd|HH|mm|ss/g, (t) => parts[t]!);
}

/** The wall-clock fields of an instant in a time zone, zero-padded. */
function wallClock(ms: number, timeZone: string): Record<string, string> {
  if (timeZone === 'UTC') {
    const d = new Date(ms);
    return { yyyy: pad(d.getUTCFullYear(), 4), MM: pad(d.getUTCMonth() + 1), dd: pad(d.getUTCDate()), HH: pad(d.getUTCHours()), mm: pad(d.getUTCMinutes()), ss: pad(d.getUTCSeconds()) };
  }
  const fields = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(ms);
  const at = (type: Intl.DateTimeFormatPartTypes) => Number(fields.find((f) => f.type === type)!.value);
  return { yyyy: pad(at('year'), 4), MM: pad(at('month')), dd: pad(at('day')), HH: pad(at('hour')), mm: pad(at('minute')), ss: pad(at('second')) };
}

/**
 * The high-water mark as the request carries it: the committed mark (`since`), else `cursorStart`, else the epoch.
 * A mark that is no time (an opaque string) is carried as it is.
 */
export function cursorText(http: Pick<PullHttp, 'cursorFormat' | 'cursorStart' | 'cursorTimeZone'>, since: string | undefined): string {
  const raw = since ?? http.cursorStart ?? EPOCH;
  const ms = parseMs(raw);
  return ms === undefined ? raw : formatCursor(ms, http.cursorFormat ?? 'iso', http.cursorTimeZone);
}

/**
 * The request of page `token`: `{cursor}` in the URL (URL-encoded) and in string values of a POST body; the
 * pagination parameter in the query, or in the body for POST; Link and next-url pages are requested as given.
 */
export function pageRequest(http: PullHttp, token: PageToken, mark: string | undefined, query: Readonly<Record<string, string>> = {}): PageRequest {
  const p = http.pagination;
  if ((p.type === 'link' || p.type === 'next-url') && token.token) return { url: token.token, method: 'GET' };
  const url = new URL(mark === undefined ? http.url : http.url.replace(CURSOR_IN_URL, () => encodeURIComponent(mark)));
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const params: Record<string, string | number> = {};
  if (p.type === 'cursor' && token.token !== undefined) params[p.param] = token.token;
  if (p.type === 'page') params[p.param] = token.token !== undefined ? Number(token.token) : p.startAt;
  if (p.type === 'offset') {
    params[p.param] = Number(token.token ?? '0');
    params[p.limitParam] = p.limit;
  }
  if (http.method === 'POST') {
    const body = { ...(replaceCursor(http.body ?? {}, mark) as Record<string, unknown>), ...params };
    return { url: url.toString(), method: 'POST', body: JSON.stringify(body) };
  }
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, String(v));
  return { url: url.toString(), method: 'GET' };
}

function replaceCursor(value: unknown, mark: string | undefined): unknown {
  if (mark === undefined) return value;
  if (typeof value === 'string') return value.replaceAll('{cursor}', mark);
  if (Array.isArray(value)) return value.map((v) => replaceCursor(v, mark));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceCursor(v, mark)]));
  return value;
}
