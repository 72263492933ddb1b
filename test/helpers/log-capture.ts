// A real pino logger whose JSON lines are kept in memory, so tests can assert what was logged.
import pino, { type Logger } from 'pino';

export interface CapturedLog {
  log: Logger;
  lines: Array<Record<string, unknown> & { msg: string; level: number }>;
  count(msg: string | RegExp): number;
}

export function captureLog(level = 'info'): CapturedLog {
  const lines: CapturedLog['lines'] = [];
  const log = pino({ level }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return {
    log,
    lines,
    count: (msg) => lines.filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg))).length,
  };
}
