export * from './pagination';
export * from './records';
export * from './pull-run';
