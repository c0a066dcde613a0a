import type { FlowConfig } from '../config/schema';
import type { AuditLog, Clock, LogPort, MetricsPort, Publisher, QuarantineSink } from '../ports';

/** What every capture use case needs: its flow and source, where envelopes go, audit and quarantine, telemetry. */
export interface CaptureUseCaseDeps {
  readonly flow: FlowConfig;
  /** The source this use case captures. */
  readonly sourceId: string;
  readonly transformQueueUrl: string;
  readonly publisher: Publisher;
  readonly audit: AuditLog;
  readonly quarantine: QuarantineSink;
  readonly clock?: Clock;
  readonly logger?: LogPort;
  readonly metrics?: MetricsPort;
}
