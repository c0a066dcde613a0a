import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import { exampleConfigInput, flowLike, synthStack } from './helpers';

describe('a key field that carries declared PII unmasked', () => {
  it('is warned about at synth, since keys rest as they are in audit, lineage, logs and state keys', () => {
    // Prepare: the example flow keyed by the e-mail address its one target is allowed to receive
    const flow = flowLike('crm-contacts');
    const keyed = { ...flow, key: ['email'], pii: ['email_address'], targets: (flow.targets as Record<string, unknown>[]).map((t) => ({ ...t, allowPii: ['email'] })) };
    const hashed = { ...keyed, id: 'hashed', transform: { ...(flow.transform as Record<string, unknown>), mask: { email: 'hash' } } };

    // Act
    const { stack } = synthStack(parseConfig({ ...exampleConfigInput(), flows: [keyed, hashed] }), 'PiiKey');

    // Assess
    const warnings = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('carries PII field'));
    expect(warnings.map((w) => String(w.entry.data))).toEqual([expect.stringContaining('flow "crm-contacts": key field "email" carries PII field "email_address" unmasked')]);
  });
});
