import { SynclineError } from '../core/errors';
/** Ports of a full-table re-capture (backfill) of a `dynamodb-stream` source. */

/** One page of one scan segment. */
export interface ScanPageRequest {
  /** Zero-based segment of a parallel scan. */
  readonly segment: number;
  readonly totalSegments: number;
  /** Resume right after the page that answered this cursor; absent = the segment's start. */
  readonly cursor?: string;
  /** Most items to read in this page. @default the scanner's own page size */
  readonly limit?: number;
}

/** An item of the table, or why it cannot be read (it goes to quarantine). */
export interface ScannedItem {
  /** The item as JSON-safe values; absent when `error` is set. */
  readonly record?: Record<string, unknown>;
  readonly error?: string;
}

export interface ScanPage {
  readonly items: readonly ScannedItem[];
  /** Opaque position right after this page; absent when the segment is finished. */
  readonly cursor?: string;
}

/** Reads a table segment by segment, page by page, with consistent reads. */
export interface TableScanner {
  /** The table, as answers and quarantine positions name it. */
  readonly tableName: string;
  /** Throws {@link InvalidCursorError} for a cursor it did not give for this segment. */
  scanPage(request: ScanPageRequest): Promise<ScanPage>;
  /** The table's item count as the service last computed it (for progress); undefined when unknown. */
  approximateItemCount(): Promise<number | undefined>;
}

/** A cursor that is not one this scanner answered for the segment asked: a caller error, never retried. */
export class InvalidCursorError extends SynclineError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCursorError';
  }
}
