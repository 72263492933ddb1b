import { decodeHello } from '../../protocol/messages.js';
import type { TopicHandler } from './context.js';

/** hello: what the device is and can run; the pre-flight checks of rollouts read it. */
export const onHello: TopicHandler = async (ctx, deviceId, payload) => {
  await ctx.devices.recordHello(deviceId, decodeHello(payload));
  ctx.changed?.(deviceId, 'hello');
};
