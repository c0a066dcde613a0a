import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/load';
import type { SyncStack } from '../../lib/stacks/sync-stack';
import { exampleConfigInput, synthStack } from './helpers';

/** Three vendor webhook sources (two of them sharing one secret), one Standard Webhooks source, an OAuth pull and an http target with create. */
function saasConfig() {
  return parseConfig({
    ...exampleConfigInput(),
    flows: [
      {
        id: 'saas',
        key: ['id'],
        sources: [
          { id: 'github', type: 'webhook', format: 'form', auth: { type: 'github', secretName: 'github-webhook-secret' }, recordPath: 'issue' },
          { id: 'github-org', type: 'webhook', auth: { type: 'github', secretName: 'github-webhook-secret' }, recordPath: 'repository' },
          { id: 'stripe', type: 'webhook', auth: { type: 'stripe', secretName: 'stripe-webhook-secret' }, recordPath: 'data.object' },
          { id: 'crm', type: 'webhook' },
        ],
        targets: [
          {
            id: 'jira',
            type: 'http',
            url: 'https://acme.atlassian.net/rest/api/2/issue/{remoteId}',
            create: { url: 'https://acme.atlassian.net/rest/api/2/issue', idPath: 'id' },
            auth: { type: 'oauth2', tokenUrl: 'https://auth.atlassian.com/oauth/token', secretName: 'jira-client' },
          },
        ],
      },
    ],
  });
}

let stack: SyncStack;
let template: Template;
beforeAll(() => {
  // Prepare: synthesize once (bundling skipped).
  ({ stack, template } = synthStack(saasConfig(), 'SaasAuth'));
});

const fnLogicalId = (id: string) => stack.getLogicalId(stack.flows.saas!.functions[id]!.node.defaultChild as never);
const secretLogicalId = (sourceId: string) => stack.getLogicalId(stack.flows.saas!.webhookSecrets[sourceId]!.node.defaultChild as never);

/** The Resource entries of the statements granting GetSecretValue in a function's role policy. */
function secretReads(functionId: string): unknown[] {
  const role = (template.toJSON().Resources[fnLogicalId(functionId)] as { Properties: { Role: { 'Fn::GetAtt': [string] } } }).Properties.Role['Fn::GetAtt'][0];
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify(p.Properties.Roles).includes(role));
  return policies.flatMap((p) =>
    (p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
      .filter((st) => [st.Action].flat().includes('secretsmanager:GetSecretValue'))
      .map((st) => st.Resource),
  );
}

describe('webhook sources with a vendor secret', () => {
  it('creates one Secrets Manager secret per source under its secretName, and the stack-named one for Standard Webhooks', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'github-webhook-secret', Description: Match.stringLikeRegexp("the sender's github webhook secret") });
    template.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'stripe-webhook-secret' });
    const crm = template.toJSON().Resources[secretLogicalId('crm')] as { Properties: Record<string, unknown> };
    expect(crm.Properties.Name).toBeUndefined();
  });

  it('keeps a named secret on update and delete but not when its creation fails, so a failed first deploy leaves no name taken', () => {
    template.hasResource('AWS::SecretsManager::Secret', { Properties: Match.objectLike({ Name: 'github-webhook-secret' }), DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain' });
  });

  it("lets each source's capture function read its own secret only", () => {
    expect(secretReads('capture-github')).toEqual([{ Ref: secretLogicalId('github') }]);
    expect(secretReads('capture-stripe')).toEqual([{ Ref: secretLogicalId('stripe') }]);
    expect(JSON.stringify(secretReads('capture-crm'))).not.toContain(secretLogicalId('github'));
  });

  it('creates a secret that two sources name once, and lets both capture functions read it', () => {
    template.resourcePropertiesCountIs('AWS::SecretsManager::Secret', { Name: 'github-webhook-secret' }, 1);
    expect(secretLogicalId('github-org')).toBe(secretLogicalId('github'));
    expect(secretReads('capture-github-org')).toEqual([{ Ref: secretLogicalId('github') }]);
  });

  it('grants the http target reading its oauth2 client secret', () => {
    expect(JSON.stringify(secretReads('deliver-jira'))).toContain('jira-client');
  });

  it('passes cdk-nag AwsSolutions with the documented acknowledgements only', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations).toEqual([]);
    expect(Annotations.fromStack(stack).findError('*', Match.anyValue())).toEqual([]);
  });
});
