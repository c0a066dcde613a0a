import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Webhook } from 'standardwebhooks';
import { EXIT, parse, UsageError, type Command } from './command';
import { messageOf } from '../../functions/core/errors';

/** Quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The three Standard Webhooks headers for a payload. */
export function signWebhook(secret: string, id: string, timestampSeconds: number, payload: string | Buffer): Record<string, string> {
  const signature = new Webhook(secret).sign(id, new Date(timestampSeconds * 1000), payload);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': signature };
}

export const signCommand: Command = {
  summary: 'sign a webhook payload (Standard Webhooks headers, or a curl command with --curl)',
  usage: [
    'usage: syncline sign [--secret whsec_...] [--id ID] [--timestamp SECONDS] (--data <json> | --file <file>) [--curl <url>] [--json]',
    '  --secret     signing secret; default: env SYNCLINE_WEBHOOK_SECRET',
    '  --id         webhook-id; default: a random msg_ id (a repeated id is accepted once)',
    '  --timestamp  webhook-timestamp in epoch seconds; default: now',
    '  --curl       print a ready curl command that posts the payload to this URL',
  ].join('\n'),
  async run({ args, out }) {
    const { values } = parse(
      args,
      {
        secret: { type: 'string' },
        id: { type: 'string' },
        timestamp: { type: 'string' },
        data: { type: 'string' },
        file: { type: 'string' },
        curl: { type: 'string' },
        json: { type: 'boolean' },
      },
      false,
    );
    const secret = values.secret ?? process.env.SYNCLINE_WEBHOOK_SECRET;
    if (!secret) throw new UsageError('give --secret whsec_... (or set SYNCLINE_WEBHOOK_SECRET)');
    if ((values.data === undefined) === (values.file === undefined)) throw new UsageError('give exactly one of --data or --file');
    const timestamp = values.timestamp === undefined ? Math.floor(Date.now() / 1000) : Number(values.timestamp);
    if (!Number.isInteger(timestamp) || timestamp < 0) throw new UsageError('--timestamp must be epoch seconds');
    const payload = values.file !== undefined ? readFileSync(values.file) : Buffer.from(values.data!, 'utf8');
    const id = values.id ?? `msg_${randomUUID().replace(/-/g, '')}`;
    let headers: Record<string, string>;
    try {
      headers = signWebhook(secret, id, timestamp, payload);
    } catch (err) {
      throw new UsageError(`--secret is not a valid signing secret (whsec_ followed by base64): ${messageOf(err)}`);
    }
    if (values.curl) {
      const body = values.file !== undefined ? `--data-binary ${shellQuote(`@${values.file}`)}` : `--data-raw ${shellQuote(values.data!)}`;
      const h = Object.entries({ 'content-type': 'application/json', ...headers }).map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)}`);
      const line = ['curl -sS -X POST', shellQuote(values.curl), ...h, body].join(' ');
      out(values.json ? JSON.stringify({ headers, curl: line }) : line);
      return EXIT.ok;
    }
    if (values.json) out(JSON.stringify(headers));
    else for (const [k, v] of Object.entries(headers)) out(`${k}: ${v}`);
    return EXIT.ok;
  },
};
