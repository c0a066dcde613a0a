import { EntityDecoder } from '@nodable/entities';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { messageOf } from '../errors';
import { isPlainObject } from '../shape';

/**
 * Salesforce Outbound Messages: a SOAP `notifications` call with up to 100 `Notification`s, each one `sObject`.
 * https://developer.salesforce.com/docs/platform/api/guide/sforce-api-om-outboundmessaging-wsdl.html
 */
export interface OutboundMessage {
  readonly organizationId: string;
  readonly notifications: readonly { readonly id: string; readonly record: Record<string, unknown> }[];
}

export type OutboundParse = { readonly ok: true; readonly message: OutboundMessage } | { readonly ok: false; readonly reason: string };

// Pure: a bundle that never parses XML drops the parser (webhook-body.ts).
const parser = /* @__PURE__ */ new XMLParser({
  removeNSPrefix: true,
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  // Values stay strings: ids such as 00D... and numbers beyond 2^53 are carried exactly.
  parseTagValue: false,
  trimValues: true,
  // Only the five predefined XML entities and character references (`&#233;`, `&#x1F600;`, XML 1.0 section 4.1),
  // which the parser's default decoder leaves as text; DTDs are refused before parsing.
  processEntities: { enabled: true, maxEntityCount: 0, maxTotalExpansions: 10_000, maxExpandedLength: 1_000_000 },
  entityDecoder: /* @__PURE__ */ new EntityDecoder({ numericAllowed: true, limit: { maxTotalExpansions: 10_000, maxExpandedLength: 1_000_000 } }),
  maxNestedTags: 64,
  isArray: (name) => name === 'Notification',
});

/** The answer Salesforce expects, or it retries the message for up to 24 hours. */
export const SALESFORCE_ACK =
  '<?xml version="1.0" encoding="UTF-8"?>' +
  '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>' +
  '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>' +
  '</soapenv:Body></soapenv:Envelope>';

export function parseOutboundMessage(xml: string): OutboundParse {
  // SOAP 1.1 section 3: a message must not contain a DTD; refusing it rules out entity expansion (XML bombs).
  if (/<!DOCTYPE/i.test(xml) || /<!ENTITY/i.test(xml)) return { ok: false, reason: 'a SOAP message must not contain a DOCTYPE or ENTITY declaration' };
  const valid = XMLValidator.validate(xml);
  if (valid !== true) return { ok: false, reason: `body is not well-formed XML: ${valid.err.msg} (line ${valid.err.line})` };
  const badReference = nonCharacterReference(xml);
  if (badReference) return { ok: false, reason: `body is not well-formed XML: character reference ${badReference} names no XML character` };
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (err) {
    return { ok: false, reason: `body is not a readable SOAP message: ${messageOf(err)}` };
  }
  const notifications = child(child(child(doc, 'Envelope'), 'Body'), 'notifications');
  if (!isPlainObject(notifications)) return { ok: false, reason: 'body is not a Salesforce Outbound Message: no soapenv:Envelope/soapenv:Body/notifications element' };
  const organizationId = notifications.OrganizationId;
  if (typeof organizationId !== 'string' || organizationId === '') return { ok: false, reason: 'the Outbound Message has no OrganizationId' };
  const list = Array.isArray(notifications.Notification) ? notifications.Notification : [];
  const out: { id: string; record: Record<string, unknown> }[] = [];
  for (const [i, n] of list.entries()) {
    const sObject = child(n, 'sObject');
    if (!isPlainObject(sObject)) return { ok: false, reason: `Notification ${i + 1} has no sObject` };
    const id = child(n, 'Id');
    out.push({ id: typeof id === 'string' ? id : String(i), record: plain(sObject) as Record<string, unknown> });
  }
  return { ok: true, message: { organizationId, notifications: out } };
}

/**
 * The first character reference that names no XML character (XML 1.0 section 4.1, production [2] Char: #x9, #xA,
 * #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF), such as `&#0;`; the decoder would drop it silently.
 */
function nonCharacterReference(xml: string): string | undefined {
  // Text of CDATA sections and comments is literal: no reference there.
  const markup = xml.replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '').replace(/<!--[\s\S]*?-->/g, '');
  for (const m of markup.matchAll(/&#(x[0-9a-fA-F]+|[0-9]+);/g)) {
    const code = m[1]!.startsWith('x') ? Number.parseInt(m[1]!.slice(1), 16) : Number.parseInt(m[1]!, 10);
    const ok = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
    if (!ok) return m[0];
  }
  return undefined;
}

/** Organization ids match on their first 15 characters (the 18-character form adds a case checksum). */
export function sameOrganization(a: string, b: string): boolean {
  return a.slice(0, 15) === b.slice(0, 15);
}

/** Empty elements (`<sf:Phone/>`, `xsi:nil`) become null. */
function plain(value: unknown): unknown {
  if (value === '') return null;
  if (Array.isArray(value)) return value.map(plain);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const child = (v: unknown, name: string): unknown => (isPlainObject(v) ? v[name] : undefined);
