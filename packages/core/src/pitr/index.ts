// `@ora/core/pitr`: restore points (point-in-time recovery) — take, list, rebuild, verify, prune,
// locally or on S3 (the S3 client is loaded on the store's first request, as for full backups).

export {
  type CheckPointsOptions,
  type CheckPointsReport,
  checkRestorePoints,
  type PointCheck,
} from './check-points.js';
export { type ChosenSource, chooseRestoreSource, type SourceSelector } from './choose-source.js';
export { type ForgetResult, forget, type PinResult, setPin } from './manage.js';
export {
  localPointStore,
  openPointStore,
  POINTS_SUBDIR,
  type PointStore,
  type PointStoreSettings,
} from './point-store.js';
export { pointSource } from './restore-source.js';
export { DEFAULT_POINT_RETENTION, type PointRetention } from './retention.js';
export {
  type ListedPoints,
  type PointManifest,
  type PointPhases,
  type PointSummary,
  type PruneOptions,
  type PruneReport,
  pickPoint,
  pointPacks,
  type RebuildReport,
  summarizePoints,
  type TakePointResult,
  type VerifyPointsReport,
} from './store.js';
export { type RestorePointOptions, type RestorePointResult, takeRestorePoint } from './take-restore-point.js';
