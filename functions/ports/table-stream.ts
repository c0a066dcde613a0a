/** What the stream ARN lookup needs to know of a table, or undefined when there is no such table. */
export interface TableStreamInfo {
  readonly streamEnabled: boolean;
  readonly streamArn?: string;
  readonly viewType?: string;
}
