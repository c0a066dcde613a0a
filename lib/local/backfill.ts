/** The answer of a whole backfill; the use case itself is functions/handlers/backfill-handler.ts, the same as in AWS. */
export type { BackfillChunkResult, BackfillSummary } from '../../functions/handlers/backfill-handler';
