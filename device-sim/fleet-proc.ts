// One child of a fleet spread over processes (fleet-procs.ts): runs its slice of devices and
// reports its summary to the parent until told to stop.
import { Fleet } from './fleet.js';
import type { ProcConfig, ProcMessage } from './fleet-procs.js';

const send = (m: ProcMessage, then?: () => void) => process.send?.(m, undefined, {}, () => then?.());
// Ctrl-C reaches the whole process group: the parent stops us in order, with a final report.
process.on('SIGINT', () => {});

process.once('message', (cfg: ProcConfig) => {
  void (async () => {
    const fleet = await Fleet.start(cfg);
    send({ type: 'started', engine: fleet.engineName });
    const tick = setInterval(() => send({ type: 'summary', summary: fleet.summary() }), 250);
    send({ type: 'summary', summary: fleet.summary() });
    process.on('message', (m: { type: string }) => {
      if (m.type !== 'stop') return;
      clearInterval(tick);
      const devices = fleet.statuses();
      void fleet.stop().finally(() => {
        send({ type: 'result', devices }, () => process.disconnect());
      });
    });
  })().catch((err: Error) => {
    process.exitCode = 4;
    send({ type: 'error', message: err.stack ?? String(err) }, () => process.disconnect());
  });
});
// The parent went away (Ctrl-C, crash): do not leave devices running against nothing.
process.on('disconnect', () => setTimeout(() => process.exit(process.exitCode ?? 0), 5000).unref());
