/* The pure parts of an HTTP target's requests and answers: URLs, methods, remote ids, results, echoed values. */
import { getPath } from '../core/envelope';
import { collectValueTexts, scrubbable } from '../core/scrub';
import type { TargetResult } from '../ports';
import type { HttpRequestPlan, HttpTargetConfig } from './http-target-writer';

/** A final answer of the API (after retries). */
export interface Answer {
  readonly kind: 'answer';
  readonly status: number;
  readonly text: string;
  readonly headers: Headers;
}

/** 2xx is written; any other final answer rejects the record with the response body (and where a redirect pointed). */
export function settled(req: HttpRequestPlan, answer: Answer): TargetResult {
  if (answer.status >= 200 && answer.status < 300) return { status: 'written' };
  const location = answer.status >= 300 && answer.status < 400 ? answer.headers.get('location') : null;
  return {
    status: 'rejected',
    reason: `${req.method} answered ${answer.status}`,
    detail: { status: answer.status, body: answer.text, ...(location ? { location } : {}) },
  };
}

/** The created record's id: at `idPath` in the JSON answer, or the last segment of `Location` for `$location`. */
export function remoteIdOf(idPath: string, answer: Answer): string | undefined {
  if (idPath === '$location') {
    const location = answer.headers.get('location');
    const segment = location ? decodeURIComponent(new URL(location, 'http://x').pathname.split('/').filter(Boolean).pop() ?? '') : '';
    return segment || undefined;
  }
  try {
    const value = getPath(JSON.parse(answer.text), idPath);
    return typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined;
  } catch {
    return undefined;
  }
}

/** The URL template with `{key}` and `{remoteId}` filled, each URL-encoded. */
export const fill = (template: string, key: string, remoteId?: string) => {
  const url = template.split('{key}').join(encodeURIComponent(key));
  return remoteId === undefined ? url : url.split('{remoteId}').join(encodeURIComponent(remoteId));
};

/** Method for an op: a single method serves upserts (deletes use DELETE); `{upsert, delete}` picks per op. */
export function methodFor(method: HttpTargetConfig['method'], op: 'upsert' | 'delete'): string {
  if (typeof method === 'string') return op === 'upsert' ? method : 'DELETE';
  return op === 'upsert' ? method.upsert : (method.delete ?? 'DELETE');
}

/**
 * Why a key cannot fill the URL template: `.` and `..` (even percent-encoded, which URL parsers decode first) as a
 * whole path segment would move the request to another path (`PUT /contacts/..` is `PUT /`).
 */
export function dotSegmentKey(template: string, key: string): string | undefined {
  if (key !== '.' && key !== '..') return undefined;
  const path = template.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').split(/[?#]/)[0] ?? '';
  const whole = path.split('/').some((segment) => segment === '{key}');
  return whole ? `key "${key}" cannot fill {key} of ${template}: as a whole path segment it would change the path` : undefined;
}

/**
 * A record's values as an answer may quote them: as sent, JSON-escaped (also to ASCII, as many JSON encoders do),
 * URL- and form-encoded, upper- and lower-cased. Numbers of up to four digits are left (a status code is one),
 * unless the same text is also a string value (a PIN).
 */
export function echoForms(data: Record<string, unknown> | null): string[] {
  const texts = new Set<string>();
  collectValueTexts(data, texts, (v) => !(typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 10_000));
  const forms = new Set<string>();
  for (const v of scrubbable(texts)) {
    const escaped = JSON.stringify(v).slice(1, -1);
    const url = encodeURIComponent(v);
    for (const f of [v, escaped, escaped.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`), url, url.replace(/%20/g, '+'), v.toUpperCase(), v.toLowerCase()]) forms.add(f);
  }
  // Longest first, so a value is scrubbed whole before a shorter one inside it.
  return scrubbable(forms).sort((a, b) => b.length - a.length);
}
