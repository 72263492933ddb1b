// wasmfleet server: the fleet server on the embedded defaults (aedes + SQLite + blobs in ./data),
// with --broker on an external MQTT broker, with --db on PostgreSQL. SIGINT/SIGTERM shut down
// gracefully; SIGHUP reloads the key document and director key after "keys rotate".
import { readFileSync } from 'node:fs';
import { WfError } from '../../protocol/errors.js';
import { startServer, type ServerOptions } from '../../server/index.js';
import { checkLimits, type Limits } from '../../server/limits/defaults.js';
import { describePostgresUrl } from '../../server/store/sql-postgres.js';

/** --limits <file>: a JSON object with some of the keys of Limits; each one replaces its default. */
export function readLimitsFile(path: string): Partial<Limits> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new WfError('REQUEST_INVALID', `--limits ${path}: ${(err as Error).message}`);
  }
  return checkLimits(value, `--limits ${path}`);
}

export async function runServer(opts: ServerOptions): Promise<void> {
  const server = await startServer(opts);
  process.stderr.write(
    `wasmfleet server\n  api   ${server.httpUrl}\n  mqtt  ${server.mqttUrl}\n` +
      (server.wsUrl ? `  ws    ${server.wsUrl}\n` : '') +
      (server.caFile ? `  ca    ${server.caFile} (clients trust this; give it to the CLI with --ca or $WASMFLEET_CA)\n` : '') +
      `  token ${opts.operatorToken ? '(given)' : `${opts.dataDir}/operator-token`}\n`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`${signal}: shutting down\n`);
      server.close().then(resolve, (err: unknown) => {
        process.stderr.write(`shutdown error: ${String(err)}\n`);
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', () => {
      server.reloadTrust().catch((err: unknown) => {
        process.stderr.write(`SIGHUP: keys not reloaded: ${(err as Error).message}\n`);
      });
    });
  });
}
