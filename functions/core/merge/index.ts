export type {
  Change,
  Clock,
  Conflict,
  Decision,
  Entry,
  FieldLwwDoc,
  LwwDoc,
  ManualDoc,
  ManualEntry,
  MergeContext,
  MergeDoc,
  MergeResult,
  PriorityDoc,
  RecordView,
  Resolved,
  Strategy,
  StrategyName,
} from './types';
export { clockOf, compareClock, REVIEW_SOURCE, sameJson } from './clock';
export { changeTimeOf, conflictsOf, emptyDoc, mergeChanges, viewOf } from './merge';
export { packDoc, unpackDoc, type PackedDoc } from './compact';
export { resolutionChange, type ResolutionChoice } from './resolution';
export { strategies, strategyOf } from './strategies';
export { autoResolveChoice, autoResolveWinner, type AutoResolveChoice, type AutoResolveStrategy, type ConflictSide } from './auto-resolve';
