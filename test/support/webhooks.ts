import { randomUUID } from 'node:crypto';
import { signWebhook } from '../../lib/cli/sign';

export interface PostOptions {
  readonly secret: string;
  readonly id?: string;
  /** Epoch seconds; default now. */
  readonly timestamp?: number;
  /** Sign with this secret instead (a bad signature). */
  readonly signWith?: string;
  readonly headers?: Record<string, string>;
}

/** POSTs a body signed per Standard Webhooks; answers status and parsed JSON. */
export async function postWebhook(url: string, body: unknown, options: PostOptions): Promise<{ status: number; json: any }> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const id = options.id ?? `msg_${randomUUID()}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const headers = signWebhook(options.signWith ?? options.secret, id, timestamp, raw);
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers, ...options.headers }, body: raw });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

export async function getJson(url: string): Promise<{ status: number; json: any }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}
