import { describe, expect, it } from 'vitest';
import { parseDebeziumEvent } from '../../../../functions/core/capture/debezium';
import { decimalFromBytes } from '../../../../functions/core/capture/debezium-values';

/**
 * Logical types as the JSON converter writes them with `schemas.enable=true`; names and encodings from
 * https://debezium.io/documentation/reference/stable/connectors/postgresql.html#postgresql-data-types
 * (Decimal: bytes of the unscaled two's-complement value, scale in `parameters`; VariableScaleDecimal: a struct
 * of `scale` and `value`; io.debezium.time.Date: days since epoch; MicroTimestamp: microseconds since epoch, no zone).
 */
const column = (field: string, type: string, name?: string, parameters?: Record<string, string>) => ({ field, type, optional: true, ...(name ? { name } : {}), ...(parameters ? { parameters } : {}) });
const columns = [
  column('id', 'int32'),
  column('price', 'bytes', 'org.apache.kafka.connect.data.Decimal', { scale: '2', 'connect.decimal.precision': '10' }),
  { field: 'ratio', type: 'struct', optional: true, name: 'io.debezium.data.VariableScaleDecimal', fields: [column('scale', 'int32'), column('value', 'bytes')] },
  column('born', 'int32', 'io.debezium.time.Date'),
  column('opens', 'int64', 'io.debezium.time.MicroTime'),
  column('created', 'int64', 'io.debezium.time.Timestamp'),
  column('updated', 'int64', 'io.debezium.time.MicroTimestamp'),
  column('seen', 'int64', 'io.debezium.time.NanoTimestamp'),
  column('zoned', 'string', 'io.debezium.time.ZonedTimestamp'),
  column('bio', 'string'),
];
const schema = {
  type: 'struct',
  name: 'server.public.products.Envelope',
  optional: false,
  fields: [
    { field: 'before', type: 'struct', optional: true, name: 'server.public.products.Value', fields: columns },
    { field: 'after', type: 'struct', optional: true, name: 'server.public.products.Value', fields: columns },
    { field: 'source', type: 'struct', optional: false, fields: [] },
    column('op', 'string'),
  ],
};

describe('logical types with a schema', () => {
  it('decodes decimals, dates, times and timestamps to decimal strings and ISO-8601', () => {
    const after = {
      id: 1,
      price: 'B88=', // 0x07CF = 1999, scale 2
      ratio: { scale: 3, value: 'MNQ=' }, // 0x30D4 = 12500, scale 3
      born: 19_000, // 2022-01-08
      opens: 34_200_000_000, // 09:30:00
      created: 1_559_033_904_863,
      updated: 1_559_033_904_863_112,
      seen: 1_559_033_904_863_112_000,
      zoned: '2019-05-28T08:58:24.863112Z',
      bio: 'plain',
    };
    const item = parseDebeziumEvent({ schema, payload: { op: 'c', before: null, after, source: { connector: 'postgresql', lsn: 1, ts_ms: 1 } } }, 0);
    expect(item).toMatchObject({
      kind: 'change',
      data: {
        id: 1,
        price: '19.99',
        ratio: '12.500',
        born: '2022-01-08',
        opens: '09:30:00.000000',
        created: '2019-05-28T08:58:24.863',
        updated: '2019-05-28T08:58:24.863112',
        zoned: '2019-05-28T08:58:24.863112Z',
        bio: 'plain',
      },
    });
    expect((item as unknown as { data: { seen: string } }).data.seen).toMatch(/^2019-05-28T08:58:24\.863\d{6}$/);
  });

  it('decodes a decimal as long as PostgreSQL allows, and leaves a longer one as it came', () => {
    // 61 KB of bytes is the largest numeric (147,455 digits); 1 MB took seconds to turn into digits.
    const longest = Buffer.alloc(61 * 1024, 0x11).toString('base64');
    const beyond = Buffer.alloc(1024 * 1024, 0x11).toString('base64');
    expect(decimalFromBytes(longest, 0)).toMatch(/^\d{150000,}$/);
    expect(decimalFromBytes(beyond, 0)).toBeUndefined();
  });

  it('decodes negative and zero-scale decimals', () => {
    expect(decimalFromBytes('/w==', 0)).toBe('-1');
    expect(decimalFromBytes('+DE=', 2)).toBe('-19.99'); // 0xF831 = -1999
    expect(decimalFromBytes('AQ==', 3)).toBe('0.001');
    // Oracle NUMBER(P,S) with S < 0 (oracle.adoc, NumberToZeroScaleConverter): 123 with scale -2 is 12300.
    expect(decimalFromBytes('ew==', -2)).toBe('12300');
    expect(decimalFromBytes('hQ==', -3)).toBe('-123000'); // 0x85 = -123
    expect(decimalFromBytes('AA==', -2)).toBe('0');
    expect(decimalFromBytes('not base64!', 2)).toBeUndefined();
  });

  it('decodes timestamps before 1970', () => {
    const item = parseDebeziumEvent({ schema, payload: { op: 'c', after: { id: 2, updated: -1 }, source: { lsn: 1 } } }, 0);
    expect(item).toMatchObject({ data: { updated: '1969-12-31T23:59:59.999999' } });
  });

  it('decodes dates past year 9999, and leaves a date or timestamp beyond what a Date holds as it came', () => {
    // PostgreSQL dates reach 5874897 AD; a Date holds 10^8 days either side of 1970.
    const far = parseDebeziumEvent({ schema, payload: { op: 'c', after: { id: 5, born: 3_000_000, created: 4_102_444_800_000 }, source: { lsn: 1 } } }, 0);
    expect(far).toMatchObject({ data: { born: '+010183-09-21', created: '2100-01-01T00:00:00.000' } });
    const beyond = parseDebeziumEvent({ schema, payload: { op: 'c', after: { id: 6, born: 2_147_483_647, created: 9_000_000_000_000_000 }, source: { lsn: 1 } } }, 0);
    expect(beyond).toMatchObject({ kind: 'change', data: { born: 2_147_483_647, created: 9_000_000_000_000_000 } });
  });

  it('leaves values as they came without a schema, and values that do not fit their type', () => {
    const bare = parseDebeziumEvent({ op: 'c', after: { id: 3, price: 'B88=' }, source: { lsn: 1 } }, 0);
    expect(bare).toMatchObject({ data: { price: 'B88=' } });
    const odd = parseDebeziumEvent({ schema, payload: { op: 'c', after: { id: 3, born: 'yesterday', price: 12 }, source: { lsn: 1 } } }, 0);
    expect(odd).toMatchObject({ data: { born: 'yesterday', price: 12 } });
  });

  it('does not decode the unavailable placeholder of a decimal column, it leaves the column out', () => {
    const item = parseDebeziumEvent({ schema, payload: { op: 'u', after: { id: 4, price: '__debezium_unavailable_value' }, source: { lsn: 1 } } }, 0);
    expect(item).toMatchObject({ data: { id: 4 }, unavailable: ['price'] });
  });
});
