// A real mosquitto broker on a free loopback port, with a password file and the ACL file the
// server generates (server/broker/acl.ts), started per test file and stopped after it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mosquittoAcl, SERVER_USER } from '../../server/broker/acl.js';
import { tempDir, waitFor } from './server.js';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { freePort } from './free-port.js';

export interface Mosquitto {
  port: number;
  serverUrl: string;
  addUser(name: string, password: string): void;
  /** Stop and start again on the same port; without persistence, retained messages are gone. */
  restart(): Promise<void>;
  /** SIGHUP: mosquitto re-reads its password file, ACL and the certificate files (the CRL among them). */
  reload(): void;
  stop(): Promise<void>;
}

/**
 * A TLS listener that takes each client's identity from its certificate (docs/security.md,
 * "mosquitto"): the fleet CA verifies devices, the CRL takes revoked certificates back.
 */
export interface MosquittoTls {
  cafile: string;
  certfile: string;
  keyfile: string;
  crlfile: string;
}

function which(bin: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    try {
      execFileSync('test', ['-x', join(dir, bin)]);
      return join(dir, bin);
    } catch {
      /* next */
    }
  }
  throw new Error(`${bin} is not installed: run "bash .ci/run" or "apt-get install mosquitto" (the external-broker tests need a real mosquitto)`);
}

/** mosquitto's dynamic security plugin, where Debian (and most builds) put it. */
function dynsecPlugin(): string {
  for (const p of ['/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so', '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so', '/usr/lib/mosquitto_dynamic_security.so', '/usr/local/lib/mosquitto_dynamic_security.so']) {
    try {
      execFileSync('test', ['-f', p]);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error('mosquitto_dynamic_security.so not found: install Debian\'s mosquitto (2.x ships it)');
}

/**
 * dynsec: authentication and ACLs by the dynamic security plugin instead of the password and ACL
 * files; the server's link user is the plugin's admin (mosquitto_ctrl dynsec init), and nothing else exists.
 */
export async function startMosquitto(opts: { tls?: MosquittoTls; dynsec?: boolean } = {}): Promise<Mosquitto> {
  const mosquitto = which('mosquitto');
  const passwd = which('mosquitto_passwd');
  const dir = tempDir('wf-mosquitto-');
  const port = await freePort();
  const pwFile = join(dir, 'passwords');
  const serverPassword = 'server-secret';
  writeFileSync(pwFile, '');
  const addUser = (name: string, password: string) => execFileSync(passwd, ['-b', pwFile, name, password]);
  addUser(SERVER_USER, serverPassword);
  writeFileSync(join(dir, 'acl'), mosquittoAcl(SERVER_USER));
  const dynsecFile = join(dir, 'dynamic-security.json');
  if (opts.dynsec) execFileSync(which('mosquitto_ctrl'), ['dynsec', 'init', dynsecFile, SERVER_USER, serverPassword], { stdio: 'ignore' });
  const auth = opts.dynsec ? [`plugin ${dynsecPlugin()}`, `plugin_opt_config_file ${dynsecFile}`] : [`acl_file ${join(dir, 'acl')}`];
  const tls = opts.tls
    ? [`cafile ${opts.tls.cafile}`, `certfile ${opts.tls.certfile}`, `keyfile ${opts.tls.keyfile}`, `crlfile ${opts.tls.crlfile}`, 'require_certificate true', 'use_identity_as_username true']
    : opts.dynsec
      ? []
      : [`password_file ${pwFile}`];
  writeFileSync(
    join(dir, 'mosquitto.conf'),
    // Run as the test's own user: as root, mosquitto would otherwise drop to a user that cannot read our temp dir.
    [`user ${userInfo().username}`, 'log_dest stderr', `listener ${port} 127.0.0.1`, ...tls, 'allow_anonymous false', ...auth, 'persistence false', ''].join('\n'),
  );
  let proc: ChildProcess;
  let stderr = '';
  const launch = async () => {
    proc = spawn(mosquitto, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(`mosquitto on port ${port} (${stderr})`, () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    );
  };
  const stop = async () => {
    if (proc && proc.exitCode === null) {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    }
  };
  await launch();
  return {
    port,
    // With TLS the server authenticates with its own certificate (CN wasmfleet-server), not a password.
    serverUrl: opts.tls ? `mqtts://127.0.0.1:${port}` : `mqtt://${SERVER_USER}:${serverPassword}@127.0.0.1:${port}`,
    reload() {
      proc.kill('SIGHUP');
    },
    addUser(name, password) {
      addUser(name, password);
      // mosquitto re-reads the password file on SIGHUP
      proc.kill('SIGHUP');
    },
    async restart() {
      await stop();
      await launch();
    },
    async stop() {
      await stop();
      proc = undefined as unknown as ChildProcess;
    },
  };
}
