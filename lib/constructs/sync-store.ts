import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption, type ITable } from 'aws-cdk-lib/aws-dynamodb';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Secret, type ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { NUMBER_KEY_ATTRIBUTES, STORE_TABLES, type TablePlan } from '../../functions/plan/plan';
import type { StoreTableId } from '../../functions/plan/store-tables';

/** Key prefix of claim-check payloads in the payload bucket (see functions/adapters/s3-payload-store). */
export const PAYLOAD_CLAIM_PREFIX = 'claims/';

export { AUDIT_TIME_INDEX, CONFLICT_OPEN_INDEX, QUARANTINE_TIME_INDEX, STATE_TRUNCATE_INDEX } from '../../functions/plan/store-tables';
/**
 * Days a claim-check payload is kept. A DLQ keeps a message at most 14 days from its first send, and a message
 * redriven from it may stay as long again: 30 days cover a message's first stay and one redrive, so its pointer
 * never outlives its payload. A payload is deleted as soon as its message is consumed; this bounds what failures leave.
 */
export const PAYLOAD_CLAIM_EXPIRY_DAYS = 30;

const keyType = (name: string): AttributeType => (NUMBER_KEY_ATTRIBUTES.has(name) ? AttributeType.NUMBER : AttributeType.STRING);

/** Tables of a store that already exists (for example created by another stack). */
export interface ExistingStoreTables {
  readonly state: ITable;
  readonly audit: ITable;
  readonly quarantine: ITable;
  readonly conflicts: ITable;
  readonly dedup: ITable;
}

/** Props of {@link SyncStore}. */
export interface SyncStoreProps {
  /**
   * Use these tables instead of creating them. Refused together with `tableProps`:
   * an existing table's settings belong to whoever created it. They must have the keys, indexes and TTL
   * attributes of `STORE_TABLES` in functions/plan/store-tables.ts (e.g. the conflicts table's `openByFlow` index).
   * @default - the store creates its five tables
   */
  readonly existingTables?: ExistingStoreTables;
  /**
   * Settings of the tables the store creates.
   * @default - on-demand billing, point-in-time recovery, AWS-managed encryption, the store's `removalPolicy` (RETAIN_ON_UPDATE_OR_DELETE unless set)
   */
  readonly tableProps?: SyncStoreTableProps;
  /**
   * Removal policy of the tables and of the hash-key secret it creates.
   * @default RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Use this secret as the HMAC key of `hash` masking instead of generating one.
   * @default - a generated 64-character secret
   */
  readonly hashKeySecret?: ISecret;
}

/** Settings for the tables a {@link SyncStore} creates. */
export interface SyncStoreTableProps {
  /**
   * Point-in-time recovery.
   * @default true
   */
  readonly pointInTimeRecovery?: boolean;
  /**
   * Table removal policy; overrides the store's `removalPolicy` for tables.
   * @default - the store's removalPolicy
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Deletion protection of created tables.
   * @default false
   */
  readonly deletionProtection?: boolean;
}

/**
 * The DynamoDB tables every flow of a stack shares (state, audit, quarantine, conflicts, dedup, as listed in
 * the plan's STORE_TABLES) and the per-deployment HMAC key used by `hash` masking.
 */
export class SyncStore extends Construct {
  public readonly state: ITable;
  public readonly audit: ITable;
  public readonly quarantine: ITable;
  public readonly conflicts: ITable;
  public readonly dedup: ITable;
  /** HMAC-SHA256 key of `hash` masking; the same key for every flow so hashes join across flows. */
  public readonly hashKeySecret: ISecret;
  /** Removal policy the store was created with; flows reuse it for the target tables they create. */
  public readonly removalPolicy: RemovalPolicy;
  /**
   * Claim check of queue messages over 250 KB: bodies are written under `claims/<date>/` by the step that sends
   * them and read by the one that consumes them; objects expire after {@link PAYLOAD_CLAIM_EXPIRY_DAYS} days.
   */
  public readonly payloadBucket: Bucket;

  constructor(scope: Construct, id: string, props: SyncStoreProps = {}) {
    super(scope, id);
    if (props.existingTables && props.tableProps) {
      throw new Error('SyncStore: give either existingTables or tableProps, not both (existing tables keep their own settings)');
    }
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;
    const tables = props.existingTables ?? this.createTables(props.tableProps ?? {});
    this.state = tables.state;
    this.audit = tables.audit;
    this.quarantine = tables.quarantine;
    this.conflicts = tables.conflicts;
    this.dedup = tables.dedup;
    this.hashKeySecret =
      props.hashKeySecret ??
      new Secret(this, 'HashKey', {
        description: 'syncline: HMAC key for "hash" masking; changing it changes every hashed value',
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
        removalPolicy: this.removalPolicy,
      });
    this.payloadBucket = new Bucket(this, 'PayloadBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          id: 'expire-claims',
          prefix: PAYLOAD_CLAIM_PREFIX,
          expiration: Duration.days(PAYLOAD_CLAIM_EXPIRY_DAYS),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // Claims are transient copies of queued messages: nothing to keep once the store goes, unless it is retained.
      removalPolicy: this.removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
  }

  /** The table with this plan id. */
  table(id: StoreTableId): ITable {
    return this[id];
  }

  private createTables(tableProps: SyncStoreTableProps): ExistingStoreTables {
    const removalPolicy = tableProps.removalPolicy ?? this.removalPolicy;
    const make = (plan: TablePlan): Table => {
      const table = new Table(this, `${plan.id[0].toUpperCase()}${plan.id.slice(1)}Table`, {
        partitionKey: { name: plan.partitionKey, type: keyType(plan.partitionKey) },
        sortKey: plan.sortKey ? { name: plan.sortKey, type: keyType(plan.sortKey) } : undefined,
        timeToLiveAttribute: plan.ttlAttribute,
        billingMode: BillingMode.PAY_PER_REQUEST,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: tableProps.pointInTimeRecovery ?? true },
        encryption: TableEncryption.AWS_MANAGED,
        deletionProtection: tableProps.deletionProtection ?? false,
        removalPolicy,
      });
      for (const index of plan.indexes) {
        table.addGlobalSecondaryIndex({
          indexName: index.name,
          partitionKey: { name: index.partitionKey, type: keyType(index.partitionKey) },
          sortKey: { name: index.sortKey, type: keyType(index.sortKey) },
          projectionType: index.keysOnly ? ProjectionType.KEYS_ONLY : ProjectionType.ALL,
        });
      }
      return table;
    };
    const byId = Object.fromEntries(STORE_TABLES.map((plan) => [plan.id, make(plan)])) as Record<StoreTableId, Table>;
    return byId;
  }
}
