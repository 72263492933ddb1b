// The API's JSON views the console reads: one definition, shared with the server (protocol/views.ts).
export type {
  AdoptionView,
  AuditEntryView,
  DeviceHistoryView,
  DevicePageView,
  DeviceView,
  FleetSummaryView,
  ModuleCatalogView,
  ModuleView,
  RolloutLiveView,
  RolloutStreamEnd,
  RunningView,
  SessionView,
  TelemetryView,
} from '../../protocol/views.js';



/** A row of GET /v1/rollouts (server/store/rollouts.ts RolloutRow): the fields the list shows. */
export interface RolloutListItem {
  id: string;
  createdMs: number;
  kind: 'rollout' | 'deploy' | 'rollback';
  module: string;
  version: string;
  state: string;
  reason: string | null;
  wave: number;
  awaitingApproval: boolean;
  policy: { waves: unknown[] };
  updatedMs: number;
}
