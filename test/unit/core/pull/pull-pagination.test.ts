import { describe, expect, it } from 'vitest';
import { itemsAt, nextLink, nextPageToken, pageUrl, parseLinkHeader } from '../../../../functions/core/pull/pagination';
import { compareCursor, cursorValue } from '../../../../functions/core/pull/records';
import { cursorText } from '../../../../functions/core/pull/page-request';
import { InexactNumber, parseJsonExact, parseJsonPulled } from '../../../../functions/core/json-safety';

describe('parseLinkHeader (RFC 8288)', () => {
  it('finds rel="next" among several links, with quoted commas and semicolons', () => {
    const header = '<https://api.test/items?page=1>; rel="first", <https://api.test/items?page=3>; rel="next"; title="a, b; c", <https://api.test/items?page=9>; rel=last';
    const links = parseLinkHeader(header);
    expect(links.map((l) => l.rel)).toEqual([['first'], ['next'], ['last']]);
    expect(links[1]!.params.title).toBe('a, b; c');
    expect(nextLink(header)).toBe('https://api.test/items?page=3');
  });

  it('handles multi-valued rel, case, relative URLs and commas inside the URL', () => {
    const header = '</items?cursor=a,b>; REL="prev NEXT"';
    expect(nextLink(header, 'https://api.test/items?cursor=x')).toBe('https://api.test/items?cursor=a,b');
  });

  it('ignores malformed entries and answers undefined without a next link', () => {
    expect(nextLink('garbage, <https://x.test/2>; rel="prev"')).toBeUndefined();
    expect(nextLink(undefined)).toBeUndefined();
    expect(parseLinkHeader('bad; rel=next, <https://x.test/3>; rel=next')[0]!.url).toBe('https://x.test/3');
  });
});

describe('itemsAt', () => {
  it("reads a dotted path, '' meaning the body itself", () => {
    expect(itemsAt({ data: { items: [1, 2] } }, 'data.items')).toEqual({ items: [1, 2] });
    expect(itemsAt([3], '')).toEqual({ items: [3] });
    expect(itemsAt({ data: {} }, 'data.items')).toEqual({ items: [] });
  });
  it('reports a body that is not an array', () => {
    expect(itemsAt({ a: 1 }, '')).toEqual({ error: expect.stringContaining('not an array') });
    expect(itemsAt({ data: 'x' }, 'data')).toEqual({ error: '"data" is string, not an array' });
  });
});

describe('nextPageToken and pageUrl', () => {
  it('cursor: follows the cursor path until it is empty; a repeated cursor is followed (the runaway guard of the reader stops it)', () => {
    const p = { type: 'cursor', cursorPath: 'meta.next', param: 'after' } as const;
    const t2 = nextPageToken(p, { page: 1 }, { body: { meta: { next: 'c2' } }, url: 'u', itemCount: 5 });
    expect(t2).toEqual({ token: 'c2', page: 2 });
    expect(pageUrl('https://api.test/items?limit=5', p, t2!)).toBe('https://api.test/items?limit=5&after=c2');
    expect(nextPageToken(p, t2!, { body: { meta: { next: null } }, url: 'u', itemCount: 5 })).toBeUndefined();
    expect(nextPageToken(p, t2!, { body: { meta: { next: 'c2' } }, url: 'u', itemCount: 5 })).toEqual({ token: 'c2', page: 3 });
  });

  it('reports a body that is a bare number past 2^53 as no list, not an empty page', () => {
    expect(itemsAt(parseJsonExact('12345678901234567890'), 'data')).toMatchObject({ error: expect.any(String) });
  });

  it('parses a pulled page exactly where a long number needs it, and a page too deep for that with JSON.parse, not failing it', () => {
    expect((parseJsonPulled('{"id":9007199254740993}') as { id: InexactNumber }).id.text).toBe('9007199254740993');
    expect(parseJsonPulled('{"id":12,"n":1.5}')).toEqual({ id: 12, n: 1.5 });
    const deep = `{"items":[{"id":1,"big":12345678901234567890},{"id":2,"x":${'['.repeat(7000)}${']'.repeat(7000)}}]}`;
    expect((parseJsonPulled(deep) as { items: unknown[] }).items).toHaveLength(2);
  });

  it('cursor: a numeric cursor past 2^53, as the readers parse it exactly, is sent with all its digits', () => {
    const p = { type: 'cursor', cursorPath: 'next', param: 'since_id' } as const;
    const body = parseJsonExact('{"items": [], "next": 1234567890123456789}');
    expect(nextPageToken(p, { page: 1 }, { body, url: 'u', itemCount: 5 })).toEqual({ token: '1234567890123456789', page: 2 });
  });

  it('page: counts from startAt and stops at an empty page', () => {
    const p = { type: 'page', param: 'p', startAt: 0 } as const;
    expect(pageUrl('https://api.test/i', p, { page: 1 })).toBe('https://api.test/i?p=0');
    const t2 = nextPageToken(p, { page: 1 }, { body: [], url: 'u', itemCount: 3 });
    expect(t2).toEqual({ token: '1', page: 2 });
    expect(nextPageToken(p, t2!, { body: [], url: 'u', itemCount: 0 })).toBeUndefined();
  });

  it('link: takes the next URL from the Link header and fetches it as is', () => {
    const p = { type: 'link' } as const;
    const t = nextPageToken(p, { page: 1 }, { body: [], link: '<https://api.test/i?page=2>; rel="next"', url: 'https://api.test/i', itemCount: 1 });
    expect(t).toEqual({ token: 'https://api.test/i?page=2', page: 2 });
    expect(pageUrl('https://api.test/i', p, t!)).toBe('https://api.test/i?page=2');
    expect(nextPageToken(p, t!, { body: [], link: null, url: t!.token!, itemCount: 1 })).toBeUndefined();
  });

  it('adds extra parameters (the incremental high-water mark) to the first URL', () => {
    expect(pageUrl('https://api.test/i', { type: 'none' }, { page: 1 }, { since: '2026-01-01T00:00:00Z' })).toBe('https://api.test/i?since=2026-01-01T00%3A00%3A00Z');
  });
});

describe('cursor values', () => {
  it('parses ISO times and epoch ms, and orders them by time', () => {
    expect(cursorValue('2026-01-02T00:00:00Z', 'u')).toEqual({ raw: '2026-01-02T00:00:00Z', ms: Date.UTC(2026, 0, 2) });
    expect(cursorValue(1700000000000, 'u')).toEqual({ raw: '1700000000000', ms: 1700000000000 });
    expect(cursorValue({}, 'u')).toEqual({ error: expect.stringContaining('not an ISO-8601') });
    expect(compareCursor('2026-01-02T00:00:00Z', '2026-01-01T23:00:00-02:00')).toBeLessThan(0);
    expect(compareCursor('2026-01-01T23:00:00-05:00', '2026-01-02T00:00:00Z')).toBeGreaterThan(0);
  });

  it('keeps a number past the latest date as a cursor that is no time (a record takes the pull time, not a clock that wins every merge)', () => {
    expect(cursorValue(1e20, 'seq')).toEqual({ raw: '100000000000000000000' });
    expect(cursorValue('123456789012345678901234', 'seq')).toEqual({ raw: '123456789012345678901234' });
    expect(cursorValue(8.64e15, 'seq')).toEqual({ raw: '8640000000000000', ms: 8.64e15 });
  });

  it('orders digit cursors by their exact value, and sends one past the latest date as it is, whatever the format', () => {
    // A nanosecond epoch or a 20-digit sequence: a double would round it, a Date cannot hold it.
    expect(compareCursor('12345678901234566500', '12345678901234567000')).toBeLessThan(0);
    expect(compareCursor('999', '0001000')).toBeLessThan(0);
    expect(compareCursor('1700000000123456789', '1700000000123456789')).toBe(0);
    expect(cursorText({}, '12345678901234567890')).toBe('12345678901234567890');
    expect(cursorText({ cursorFormat: 'epoch-ms' }, '1700000000123456789')).toBe('1700000000123456789');
    expect(cursorText({ cursorFormat: 'epoch-s' }, '1700000000123')).toBe('1700000000');
  });
});
