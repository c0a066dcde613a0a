import { z } from 'zod';

/** Schemas of the connections to the systems users run: webhook auth schemes, pull and push credentials, HTTP pulls. */

export const secretNameSchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'required: the name of the secret that holds the credential (Secrets Manager; locally SYNCLINE_SECRET_<NAME>)' : undefined) })
  .min(1)
  // The characters CreateSecret takes: https://docs.aws.amazon.com/cli/latest/reference/secretsmanager/create-secret.html
  .regex(/^[A-Za-z0-9/_+=.@-]{1,512}$/, 'must be a Secrets Manager name: at most 512 ASCII letters, digits and /_+=.@-');

/** How a webhook source authenticates its sender; each scheme is checked exactly as that sender signs. */
export const webhookAuthSchema = z.discriminatedUnion('type', [
  /** `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks). Without `secretName`: the stack's secret per source. */
  z.strictObject({ type: z.literal('standard-webhooks'), secretName: secretNameSchema.optional() }),
  /** `X-Hub-Signature-256: sha256=<hex>`; delivery id `X-GitHub-Delivery`. */
  z.strictObject({ type: z.literal('github'), secretName: secretNameSchema }),
  /** `X-Hub-Signature: sha256=<hex>`; delivery id `X-Atlassian-Webhook-Identifier`. */
  z.strictObject({ type: z.literal('jira'), secretName: secretNameSchema }),
  /** `X-Shopify-Hmac-Sha256: <base64>`; delivery id `X-Shopify-Event-Id`, else `X-Shopify-Webhook-Id`. */
  z.strictObject({ type: z.literal('shopify'), secretName: secretNameSchema }),
  /** `Stripe-Signature: t=..,v1=..`; delivery id: the event's `id`. */
  z.strictObject({ type: z.literal('stripe'), secretName: secretNameSchema, toleranceSeconds: z.number().int().positive().max(3600).default(300) }),
  /** Any other HMAC sender. */
  z.strictObject({
    type: z.literal('hmac'),
    secretName: secretNameSchema,
    header: z.string().min(1),
    algorithm: z.enum(['sha1', 'sha256', 'sha512']).default('sha256'),
    encoding: z.enum(['hex', 'base64']).default('hex'),
    /** Text before the digest in the header, such as `sha256=`. */
    prefix: z.string().optional(),
    /** Header holding the sender's delivery id (replay protection); without it, the body's hash within 24 hours. */
    idHeader: z.string().min(1).optional(),
  }),
  /** A static shared secret in a header (`authorization` takes `Bearer <secret>`) or a query parameter. */
  z
    .strictObject({ type: z.literal('token'), secretName: secretNameSchema, header: z.string().min(1).optional(), query: z.string().min(1).optional(), idHeader: z.string().min(1).optional() })
    .refine((a) => Boolean(a.header) !== Boolean(a.query), { message: 'give exactly one of header or query' }),
  /** HTTP basic auth; the secret is `user:password`. */
  z.strictObject({ type: z.literal('basic'), secretName: secretNameSchema, idHeader: z.string().min(1).optional() }),
]);

/** Credentials of an outgoing request (pulls and `http` targets); each names its secret. */
const oauth2Auth = z.strictObject({
  type: z.literal('oauth2'),
  /** Token endpoint of the client-credentials grant. */
  tokenUrl: z.url(),
  /** Secret holding `{"clientId", "clientSecret"}`. */
  secretName: secretNameSchema,
  scope: z.string().min(1).optional(),
  /** How the client authenticates to the token endpoint: form fields (`body`, as Salesforce expects) or HTTP basic. @default "body" */
  clientAuth: z.enum(['body', 'basic']).default('body'),
});
export const pullAuthSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('bearer'), secretName: secretNameSchema }),
  z.strictObject({ type: z.literal('basic'), secretName: secretNameSchema }),
  /** The secret as the value of a header, such as `x-api-key`. */
  z.strictObject({ type: z.literal('header'), name: z.string().min(1), secretName: secretNameSchema }),
  oauth2Auth,
]);

/** Whether Intl knows the time zone (Node's full ICU knows every IANA name). */
function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** A pattern `cursorFormat` holds one of these. */
const CURSOR_PATTERN_FIELD = /(yyyy|MM|dd|HH|mm|ss)/;

/** `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss` (in `cursorTimeZone`, default UTC), or a named format. */
const cursorFormatSchema = z.union([
  z.enum(['iso', 'epoch-ms', 'epoch-s']),
  z.string().regex(CURSOR_PATTERN_FIELD, 'must be "iso", "epoch-ms", "epoch-s" or a pattern of yyyy, MM, dd, HH, mm, ss such as "yyyy/MM/dd HH:mm"'),
]);

export const pullHttpSchema = z
  .strictObject({
    /** May hold `{cursor}`: the incremental high-water mark, URL-encoded. */
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    /** `POST` for APIs that search by POST; pagination parameters then go into `body`. @default "GET" */
    method: z.enum(['GET', 'POST']).default('GET'),
    /** JSON body of a POST; string values may hold `{cursor}`. */
    body: z.record(z.string(), z.unknown()).optional(),
    itemsPath: z.string().default(''),
    pagination: z
      .discriminatedUnion('type', [
        z.strictObject({ type: z.literal('none') }),
        /** `cursorPath` in the body is the next page's `param`; a true value at `stopPath` (Jira's `isLast`) ends the run. */
        z.strictObject({ type: z.literal('cursor'), cursorPath: z.string(), param: z.string(), stopPath: z.string().min(1).optional() }),
        /** `startAt` is a page number (the first page's), not an offset: for offsets use type "offset". */
        z.strictObject({ type: z.literal('page'), param: z.string().default('page'), startAt: z.number().int().default(1) }),
        z.strictObject({ type: z.literal('link') }),
        /** The next URL at `path` in the body (absolute, or relative to `url`), requested as given; a true `donePath` ends the run. */
        z.strictObject({ type: z.literal('next-url'), path: z.string().min(1), donePath: z.string().min(1).optional() }),
        /** `param` advances by the items received; stops on a short or empty page, or at the total at `totalPath`. */
        z.strictObject({
          type: z.literal('offset'),
          param: z.string().min(1).default('offset'),
          limitParam: z.string().min(1).default('limit'),
          limit: z.number().int().positive().max(10_000).default(100),
          totalPath: z.string().min(1).optional(),
        }),
      ])
      .default({ type: 'none' }),
    auth: pullAuthSchema.optional(),
    timeoutMs: z.number().int().positive().max(60_000).default(10_000),
    /** Incremental mode: query parameter that carries the high-water mark of `cursorField` (e.g. `updated_since`). Without it (and without `{cursor}`), older records are skipped client-side. */
    cursorParam: z.string().min(1).optional(),
    /** How `{cursor}` (default `iso`) and `cursorParam` (default: the raw value of `cursorField`) write the mark. */
    cursorFormat: cursorFormatSchema.optional(),
    /** The mark before the first pull (ISO-8601). @default "1970-01-01T00:00:00Z" */
    cursorStart: z.iso.datetime({ offset: true }).optional(),
    /** The IANA time zone a pattern `cursorFormat` writes its wall-clock time in (Jira reads JQL dates in the API user's). @default "UTC" */
    cursorTimeZone: z.string().refine(isTimeZone, 'must be an IANA time zone such as "America/New_York" or "UTC"').optional(),
  })
  .superRefine((h, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
    if (h.body !== undefined && h.method !== 'POST') issue('body', 'a body needs method "POST"');
    if (h.pagination.type === 'link' && h.method === 'POST') issue('pagination', 'Link header pagination follows URLs with GET; use method "GET"');
    if (h.pagination.type === 'next-url' && h.method === 'POST') issue('pagination', 'next-url pagination requests each URL as given, with GET; use method "GET"');
    if (h.cursorTimeZone !== undefined && !CURSOR_PATTERN_FIELD.test(h.cursorFormat ?? 'iso')) issue('cursorTimeZone', 'applies to a pattern cursorFormat such as "yyyy/MM/dd HH:mm"; iso and epoch marks name their instant already');
  });

