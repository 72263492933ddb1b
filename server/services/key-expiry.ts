// Key lifecycle warnings: when the key document, or a key in it, expires. The server logs a warning
// at start and once a day from WARN_DAYS before; `wasmfleet status` shows the same summary.
import type { Logger } from 'pino';
import type { Trust } from '../trust.js';

export const KEY_EXPIRY_WARN_DAYS = 60;
const DAY = 86400;

export interface KeyExpiry {
  serial: number;
  rootVersion: number;
  /** The earliest expiry: the key document's or one of its keys'. */
  expires: number;
  /** What expires first: "key document" or "<role> key <kid>". */
  first: string;
  daysLeft: number;
  warning?: string;
}

export function keyExpiry(trust: Trust, now: number): KeyExpiry {
  const doc = trust.keyDocument;
  let first = 'key document';
  let expires = doc.expires;
  for (const k of doc.keys) {
    if (k.expires < expires) {
      expires = k.expires;
      first = `${k.role} key ${Buffer.from(k.kid).toString('hex')}`;
    }
  }
  const daysLeft = Math.floor((expires - now) / DAY);
  const r: KeyExpiry = { serial: doc.serial, rootVersion: trust.root.version, expires, first, daysLeft };
  if (daysLeft < KEY_EXPIRY_WARN_DAYS) {
    r.warning = `${first} expires in ${daysLeft} day(s) (${new Date(expires * 1000).toISOString()}); run "wasmfleet keys renew" with the root key, then reload the server (SIGHUP)`;
  }
  return r;
}

/** Log now and every day until stopped; returns the stop function. */
export function watchKeyExpiry(trust: () => Trust, now: () => number, log: Logger): () => void {
  const check = () => {
    const e = keyExpiry(trust(), now());
    if (e.warning) log.warn({ serial: e.serial, expires: e.expires, daysLeft: e.daysLeft }, e.warning);
  };
  check();
  const timer = setInterval(check, DAY * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
