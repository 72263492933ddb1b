import { decodeReport } from '../../protocol/messages.js';
import type { TopicHandler } from './context.js';

/** report: the device's update state; committed reports also extend its commit history. */
export const onReport: TopicHandler = async (ctx, deviceId, payload) => {
  const report = decodeReport(payload);
  await ctx.devices.recordReport(deviceId, report);
  ctx.changed?.(deviceId, 'report');
  await ctx.events?.recordReport(deviceId, report, Date.now(), (err) => ctx.log.warn({ device: deviceId, err: (err as Error).message }, 'device history not written'));
  if (report.state === 'failed' || report.state === 'rolled_back') {
    ctx.log.info({ device: deviceId, state: report.state, reason: report.reason, detail: report.detail }, 'device update did not complete');
  }
};
