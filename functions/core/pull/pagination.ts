import type { SourceConfig } from '../../config/schema';
import { getPath } from '../envelope';
import { InexactNumber, isJsonObject } from '../json-safety';

/** Pagination of an HTTP pull, as configured on the source. */
export type Pagination = NonNullable<Extract<SourceConfig, { type: 'schedule' }>['http']>['pagination'];

/** Where the next page is: a cursor value, a page number, an offset or a full URL, and the 1-based page count. */
export interface PageToken {
  /** Cursor value (cursor), page number (page), offset (offset) or absolute URL (link, next-url); absent on the first page. */
  readonly token?: string;
  /** 1-based number of the page this token fetches (for positions). */
  readonly page: number;
}

/** One `Link` header entry: the target URL and its parameters (`rel` split into its space-separated values). */
export interface LinkValue {
  readonly url: string;
  readonly rel: readonly string[];
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses an RFC 8288 `Link` header: `<url>; rel="next"; title="x", <url2>; rel=last`. Commas inside `<...>` or
 * quoted strings do not split entries; relative URLs resolve against `base`.
 */
export function parseLinkHeader(header: string | null | undefined, base?: string): LinkValue[] {
  if (!header) return [];
  const out: LinkValue[] = [];
  let i = 0;
  const n = header.length;
  while (i < n) {
    while (i < n && (header[i] === ' ' || header[i] === ',' || header[i] === '\t')) i++;
    if (i >= n) break;
    if (header[i] !== '<') {
      // Malformed entry: skip to the next comma outside quotes.
      i = skipEntry(header, i);
      continue;
    }
    const close = header.indexOf('>', i);
    if (close < 0) break;
    const rawUrl = header.slice(i + 1, close).trim();
    i = close + 1;
    const params: Record<string, string> = {};
    while (i < n) {
      while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
      if (header[i] !== ';') break;
      i++;
      while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
      let name = '';
      while (i < n && !'=;,'.includes(header[i]!)) name += header[i++];
      name = name.trim().toLowerCase();
      let value = '';
      if (header[i] === '=') {
        i++;
        while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
        if (header[i] === '"') {
          i++;
          while (i < n && header[i] !== '"') {
            if (header[i] === '\\' && i + 1 < n) i++;
            value += header[i++];
          }
          i++;
        } else {
          while (i < n && !';,'.includes(header[i]!)) value += header[i++];
          value = value.trim();
        }
      }
      // RFC 8288 3.3: only the first occurrence of a parameter counts.
      if (name && !(name in params)) params[name] = value;
    }
    let url = rawUrl;
    try {
      url = base ? new URL(rawUrl, base).toString() : rawUrl;
    } catch {
      // keep the raw value
    }
    out.push({ url, rel: (params.rel ?? '').toLowerCase().split(/\s+/).filter(Boolean), params });
  }
  return out;
}

function skipEntry(header: string, i: number): number {
  let quoted = false;
  for (; i < header.length; i++) {
    const c = header[i];
    if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) return i + 1;
  }
  return i;
}

/** The `rel="next"` URL of a Link header, if any. */
export function nextLink(header: string | null | undefined, base?: string): string | undefined {
  return parseLinkHeader(header, base).find((l) => l.rel.includes('next'))?.url;
}

/** The items of a response: `itemsPath` '' means the body is the array; otherwise a dotted path into it. */
export function itemsAt(body: unknown, itemsPath: string): { items: unknown[] } | { error: string } {
  const value = itemsPath === '' ? body : getPath(body, itemsPath);
  if (Array.isArray(value)) return { items: value };
  if (value === undefined || value === null) {
    // An absent list on a page is an empty page; a non-object body is an error.
    if (itemsPath !== '' && isJsonObject(body)) return { items: [] };
  }
  const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  return { error: itemsPath === '' ? `response body is ${what}, not an array (set itemsPath)` : `"${itemsPath}" is ${what}, not an array` };
}

/** The URL that fetches `token`: the configured URL plus the cursor or page parameter, or the Link URL itself. */
export function pageUrl(baseUrl: string, pagination: Pagination, token: PageToken, extraParams: Readonly<Record<string, string>> = {}): string {
  if (pagination.type === 'link' && token.token) return token.token;
  const url = new URL(baseUrl);
  for (const [k, v] of Object.entries(extraParams)) url.searchParams.set(k, v);
  if (pagination.type === 'cursor' && token.token !== undefined) url.searchParams.set(pagination.param, token.token);
  if (pagination.type === 'page') url.searchParams.set(pagination.param, token.token ?? String(pagination.startAt));
  if (pagination.type === 'offset') {
    url.searchParams.set(pagination.param, token.token ?? '0');
    url.searchParams.set(pagination.limitParam, String(pagination.limit));
  }
  return url.toString();
}

/**
 * Where the page after this one is, or undefined when this was the last:
 * - cursor: the value at `cursorPath` in the body (absent, null or '' = last page; a repeat trips the runaway guard);
 * - page: the next number, while the page had items;
 * - link: the Link header's `rel="next"`.
 */
export function nextPageToken(
  pagination: Pagination,
  current: PageToken,
  response: { readonly body: unknown; readonly link?: string | null; readonly url: string; readonly itemCount: number; readonly baseUrl?: string },
): PageToken | undefined {
  const page = current.page + 1;
  switch (pagination.type) {
    case 'none':
      return undefined;
    case 'next-url': {
      if (pagination.donePath && getPath(response.body, pagination.donePath) === true) return undefined;
      const value = getPath(response.body, pagination.path);
      if (typeof value !== 'string' || value === '') return undefined;
      // Relative to the configured URL (Salesforce's nextRecordsUrl is a path); the runaway guard catches a repeat.
      return { token: new URL(value, response.baseUrl ?? response.url).toString(), page };
    }
    case 'offset': {
      const offset = Number(current.token ?? '0') + response.itemCount;
      if (response.itemCount === 0 || response.itemCount < pagination.limit) return undefined;
      if (pagination.totalPath) {
        const total = Number(getPath(response.body, pagination.totalPath));
        if (Number.isFinite(total) && offset >= total) return undefined;
      }
      return { token: String(offset), page };
    }
    case 'cursor': {
      if (pagination.stopPath && getPath(response.body, pagination.stopPath) === true) return undefined;
      const value = getPath(response.body, pagination.cursorPath);
      if (value === undefined || value === null || value === '' || value === false) return undefined;
      // A numeric cursor beyond 2^53 keeps its digits.
      if (value instanceof InexactNumber) return { token: value.text, page };
      if (typeof value !== 'string' && typeof value !== 'number') return undefined;
      // A cursor seen before is not the end: the reader's runaway guard stops the run as partial.
      return { token: String(value), page };
    }
    case 'page': {
      if (response.itemCount === 0) return undefined;
      const number = current.token === undefined ? pagination.startAt : Number(current.token);
      return { token: String(number + 1), page };
    }
    case 'link': {
      const url = nextLink(response.link, response.url);
      return url ? { token: url, page } : undefined;
    }
  }
}
