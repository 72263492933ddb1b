import { decodeTelemetry } from '../../protocol/messages.js';
import type { TopicHandler } from './context.js';

/** telemetry: what modules publish through the host; the latest value per name is kept. */
export const onTelemetry: TopicHandler = async (ctx, deviceId, payload) => {
  const t = decodeTelemetry(payload);
  ctx.devices.recordTelemetry(deviceId, t.name, t.value, t.time);
  ctx.series?.record(deviceId, t.name, t.value);
};
