/** Deterministic, realistic CRM contact records shaped like the example flow's webhook source (cdk.json). */

/** A small seeded PRNG (mulberry32), so every bench run sees the same records. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Katherine', 'Linus', 'Margaret', 'Edsger', 'Barbara', 'Dennis', 'Frances', 'Ken', 'Radia', 'Tim', 'Hedy', 'John', 'Sophie', 'Niklaus', 'Jean', 'Donald', 'Shafi'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Johnson', 'Torvalds', 'Hamilton', 'Dijkstra', 'Liskov', 'Ritchie', 'Allen', 'Thompson', 'Perlman', 'Berners-Lee', 'Lamarr', 'Backus', 'Wilson', 'Wirth', 'Sammet', 'Knuth', 'Goldwasser'];
const COMPANIES = ['Analytical Engines Ltd', 'Harvard Mark Works', 'Bletchley Systems', 'Langley Research', 'Kernel Labs', 'Apollo Guidance Co', 'Shortest Path GmbH', 'Substitution Inc', 'Bell Unix Group', 'Fortran Partners'];
const DOMAINS = ['analytical.org', 'navy.mil.test', 'bletchley.co.uk', 'nasa-langley.gov', 'kernel.dev', 'apollo.space', 'tue.nl', 'mit.edu', 'bell-labs.com', 'ibm-research.com'];
const CITIES = [['London', 'GB'], ['Arlington', 'US'], ['Manchester', 'GB'], ['Hampton', 'US'], ['Helsinki', 'FI'], ['Boston', 'US'], ['Eindhoven', 'NL'], ['Cambridge', 'US'], ['Murray Hill', 'US'], ['Zurich', 'CH']] as const;
const STAGES = ['lead', 'marketing_qualified', 'sales_qualified', 'opportunity', 'customer', 'evangelist'];
const TAGS = ['newsletter', 'webinar-2026', 'trial', 'enterprise', 'partner', 'churn-risk', 'vip', 'event-lead'];

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
const digits = (rnd: () => number, n: number) => Array.from({ length: n }, () => Math.floor(rnd() * 10)).join('');

export interface GenerateOptions {
  /** Records to generate. */
  readonly count: number;
  /** Distinct contacts; record i updates contact `i % keys`. @default count (every record is a new contact) */
  readonly keys?: number;
  readonly seed?: number;
  /** Epoch ms of the first `updated_at`; each record is one second later. */
  readonly startMs?: number;
  /** Prefix of `contact_id`. @default 'c-' */
  readonly idPrefix?: string;
}

/**
 * CRM contact webhook payloads (about 0.8 KB of JSON each): the fields the example flow renames, excludes,
 * masks and validates, plus the address, lifecycle, tags and custom fields a CRM sends along. Every record is
 * valid and passes the flow's filter (no `@example.test` addresses), so each one is synced.
 */
export function generateContacts(options: GenerateOptions): Record<string, unknown>[] {
  const rnd = prng(options.seed ?? 42);
  const keys = options.keys ?? options.count;
  const start = options.startMs ?? Date.UTC(2026, 10, 1);
  const prefix = options.idPrefix ?? 'c-';
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < options.count; i++) {
    const n = i % keys;
    const first = pick(rnd, FIRST);
    const last = pick(rnd, LAST);
    const [city, country] = pick(rnd, CITIES);
    const domain = pick(rnd, DOMAINS);
    const created = start - 86_400_000 * (30 + (n % 700));
    out.push({
      event: i < keys ? 'contact.created' : 'contact.updated',
      contact_id: `${prefix}${String(n).padStart(7, '0')}`,
      first_name: first,
      last_name: last,
      email_address: `${first}.${last}${n}@${domain}`.toLowerCase(),
      phone_number: `+1 ${digits(rnd, 3)} ${digits(rnd, 3)} ${digits(rnd, 4)}`,
      national_id: `${digits(rnd, 3)}-${digits(rnd, 2)}-${digits(rnd, 4)}`,
      company_name: pick(rnd, COMPANIES),
      job_title: pick(rnd, ['Engineer', 'CTO', 'Head of Data', 'Analyst', 'Procurement Lead', 'VP Sales']),
      lifecycle_stage: pick(rnd, STAGES),
      lead_score: Math.floor(rnd() * 100),
      address: { street: `${1 + Math.floor(rnd() * 300)} ${pick(rnd, ['High St', 'Main St', 'Station Rd', 'Park Ave'])}`, city, postal_code: digits(rnd, 5), country },
      tags: TAGS.filter(() => rnd() < 0.25),
      custom_fields: { preferred_language: pick(rnd, ['en', 'de', 'fr', 'nl', 'fi']), newsletter_opt_in: rnd() < 0.6, seats: 1 + Math.floor(rnd() * 500) },
      internal_notes: `Met at ${pick(rnd, ['re:Invent', 'KubeCon', 'a webinar', 'the trade fair'])}; follow up in Q${1 + Math.floor(rnd() * 4)}.`,
      owner_password_hint: 'first pet',
      created_at: new Date(created).toISOString(),
      updated_at: new Date(start + i * 1000).toISOString(),
    });
  }
  return out;
}
