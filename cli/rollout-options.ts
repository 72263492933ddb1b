// Parsers for the rollout flags. Each throws commander's InvalidArgumentError, so a bad value
// exits 2 naming the flag, before any request is sent.
import { InvalidArgumentError } from 'commander';
import type { Selector, WaveSpec } from '../server/rollouts/model.js';

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "90", "30s", "10m", "2h", "1d" → seconds. */
export function duration(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected a duration like 30s, 10m, 2h or 1d, got "${value}"`);
  return Number(m[1]) * UNITS[m[2] || 's'];
}

/** "5%" → 5. Range checks are the server's (one place), so the message is the same for API users. */
export function percent(value: string): number {
  const m = /^(-?\d+(?:\.\d+)?)%?$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected a percentage like 5%, got "${value}"`);
  return Number(m[1]);
}

/** "1%,10%,50%,100%" or "10,100,100%" (counts and percentages). */
export function waves(value: string): WaveSpec[] {
  return value.split(',').map((part) => {
    const p = part.trim();
    if (/^\d+(\.\d+)?%$/.test(p)) return { percent: Number(p.slice(0, -1)) };
    if (/^\d+$/.test(p)) return { count: Number(p) };
    throw new InvalidArgumentError(`wave "${p}": expected a percentage (10%) or a device count (50)`);
  });
}

/** "200/min", "10/s", "1000/h" → devices per minute. */
export function rate(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\/(s|sec|min|m|h|hour)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`expected a rate like 200/min, got "${value}"`);
  const per = { s: 1 / 60, sec: 1 / 60, min: 1, m: 1, h: 60, hour: 60 }[m[2]]!;
  return Number(m[1]) / per;
}

export function factor(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
  return n;
}

/**
 * --target 'site=plant-a,hw=rev3,@host=wamr,@capability=sensor,@running=counter@1.0.0,@device=d1'
 * Plain key=value pairs are tags; keys starting with @ are device attributes.
 */
export function target(value: string): Selector {
  const sel: Selector = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`target "${part}": expected key=value`);
    const key = part.slice(0, eq);
    const v = part.slice(eq + 1);
    switch (key) {
      case '@host':
        sel.hosts = [...(sel.hosts ?? []), v];
        break;
      case '@abi':
        if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`target @abi: expected a number, got "${v}"`);
        sel.abi = Number(v);
        break;
      case '@capability':
        sel.capabilities = [...(sel.capabilities ?? []), v];
        break;
      case '@running':
        sel.running = v;
        break;
      case '@device':
        sel.devices = [...(sel.devices ?? []), v];
        break;
      default:
        if (key.startsWith('@')) throw new InvalidArgumentError(`target "${key}": attributes are @host, @abi, @capability, @running, @device`);
        sel.tags = { ...(sel.tags ?? {}), [key]: v };
    }
  }
  if (Object.keys(sel).length === 0) throw new InvalidArgumentError('target: empty');
  return sel;
}
