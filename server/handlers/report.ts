import { decodeReport } from '../../protocol/messages.js';
import { IN_FLIGHT_STATES } from '../../protocol/states.js';
import type { TopicHandler } from './context.js';

/**
 * report: the device's update state; committed reports also extend its commit history. The
 * rollout engine hears of outcomes only: it acts on none of the steps in between (assigned …
 * probation), which are most of a device's reports.
 */
export const onReport: TopicHandler = async (ctx, deviceId, payload) => {
  const report = decodeReport(payload);
  // The history is queued first and written in the same batch as the report (store/devices.ts):
  // an outcome's history is stored when the outcome is, before the engine hears of it.
  ctx.events?.recordReport(deviceId, report, Date.now());
  await ctx.devices.recordReport(deviceId, report);
  if (!IN_FLIGHT_STATES.includes(report.state)) ctx.changed?.(deviceId, 'report');
  if (report.state === 'failed' || report.state === 'rolled_back') {
    ctx.log.info({ device: deviceId, state: report.state, reason: report.reason, detail: report.detail }, 'device update did not complete');
  }
};
