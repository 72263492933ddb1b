import { decodeOnline } from '../../protocol/messages.js';
import type { TopicHandler } from './context.js';

/** online: true on connect, false from the device's will message when it drops. */
export const onOnline: TopicHandler = async (ctx, deviceId, payload) => {
  const online = decodeOnline(payload);
  await ctx.devices.recordOnline(deviceId, online);
  if (online) ctx.changed?.(deviceId, 'online');
};
