// Fault injection for the simulated fleet. Each device draws its faults once from a seeded
// generator, so a run with the same --seed and --fail-rate hurts the same devices the same way.
import { createHash } from 'node:crypto';
import type { ChunkResponse } from '../protocol/messages.js';
import type { AgentFaults } from './agent.js';

export type FaultKind = 'disconnect' | 'restart' | 'corrupt' | 'slow' | 'skew';
export const FAULT_KINDS: readonly FaultKind[] = ['disconnect', 'restart', 'corrupt', 'slow', 'skew'];

export interface DeviceFaults {
  kinds: Set<FaultKind>;
  /** Drop the connection once per update, in the middle of its download. */
  disconnect: boolean;
  /** Restart the agent (same state dir) once per update, in the middle of its download. */
  restart: boolean;
  agent: AgentFaults;
  /** Device clock error in ms (within the protocol's 300 s allowance). */
  clockOffsetMs: number;
}

/** A seeded generator (SplitMix32 over a SHA-256 seed): deterministic per (fleet seed, device). */
export function seededRandom(seed: string): () => number {
  let s = createHash('sha256').update(seed).digest().readUInt32BE(0);
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let t = s ^ (s >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    t ^= t >>> 15;
    return (t >>> 0) / 4294967296;
  };
}

/**
 * Faults for one device: each kind independently with probability `rate`.
 * - corrupt: 1 chunk in 20 arrives truncated (refused, asked again), and the first chunk of
 *   each image arrives once with a flipped byte (caught by the digest, fetched again);
 * - slow: every chunk is delayed 20-200 ms;
 * - skew: the device clock is off by up to ±240 s.
 */
export function faultsFor(fleetSeed: string, deviceId: string, rate: number): DeviceFaults {
  const rnd = seededRandom(`${fleetSeed}/${deviceId}`);
  const kinds = new Set(FAULT_KINDS.filter(() => rnd() < rate));
  const agent: AgentFaults = {};
  if (kinds.has('corrupt')) {
    const flipped = new Set<string>();
    agent.chunk = (r: ChunkResponse): ChunkResponse | null => {
      if (!r.data || r.data.length < 2) return r;
      const key = Buffer.from(r.sha256).toString('hex');
      if (r.index === 0 && !flipped.has(key)) {
        flipped.add(key);
        const data = new Uint8Array(r.data);
        data[data.length >> 1] ^= 0x40;
        return { ...r, data };
      }
      return rnd() < 0.05 ? { ...r, data: r.data.subarray(0, r.data.length - 1) } : r;
    };
  }
  if (kinds.has('slow')) agent.chunkDelayMs = () => 20 + Math.floor(rnd() * 180);
  const clockOffsetMs = kinds.has('skew') ? Math.round((rnd() * 2 - 1) * 240_000) : 0;
  return { kinds, disconnect: kinds.has('disconnect'), restart: kinds.has('restart'), agent, clockOffsetMs };
}
