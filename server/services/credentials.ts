// Device credentials: issue a client certificate (CN = device id) over a key the operator made,
// revoke a device, rotate its password or certificate. Every change that takes a credential back
// rewrites the CRL and closes the device's current connection (docs/security.md, transport).
import { WfError } from '../../protocol/errors.js';
import type { BrokerCredentials } from '../broker/dynsec.js';
import { audit, type Actor } from '../store/db.js';
import type { Sql } from '../store/sql.js';
import type { Credentials, DeviceRepo, DeviceView, IssuedCert } from '../store/devices.js';
import { csrPublicKey, issueClientCert, type Issuer, type RevokedSerial } from '../tls/certs.js';

export interface CredentialDeps {
  sql: Sql;
  devices: DeviceRepo;
  /** The fleet CA when the server speaks TLS and holds the CA key; null otherwise. */
  issuer: Issuer | null;
  /** Rewrite the CRL file (a no-op without TLS). */
  writeCrl(revoked: RevokedSerial[]): Promise<void>;
  /** Close the device's connection on the embedded broker (a no-op with an external one). */
  disconnect(deviceId: string): void;
  /** An external broker whose clients the server manages (--broker-dynsec); absent otherwise. */
  broker?: BrokerCredentials;
}

export interface IssuedCredentials extends Credentials {
  /** PEM client certificate when the device authenticates with one. */
  certificate?: string;
  certSerial?: string;
}

async function issueFor(deps: CredentialDeps, id: string, csr: string): Promise<{ pem: string; cert: IssuedCert }> {
  if (!deps.issuer) throw new WfError('TLS_CA_KEY_MISSING', 'start the server with --tls (or --tls-ca-key with your own CA) to issue device certificates');
  const publicKey = await csrPublicKey(csr);
  const issued = await issueClientCert(deps.issuer, id, publicKey);
  return { pem: issued.certPem, cert: { serial: issued.serial, notAfter: Math.floor(issued.notAfter.getTime() / 1000) } };
}

async function refreshCrl(deps: CredentialDeps): Promise<void> {
  await deps.writeCrl((await deps.devices.revokedSerials()).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt * 1000) })));
}

/** A new device with a password, or with a certificate for the key in `csr`. */
export async function addDevice(deps: CredentialDeps, d: { id: string; tags?: Record<string, string>; csr?: string }, actor: Actor | null = null): Promise<IssuedCredentials> {
  await deps.devices.checkNew([d]);
  const issued = d.csr ? await issueFor(deps, d.id, d.csr) : undefined;
  const [creds] = await deps.devices.create([{ id: d.id, tags: d.tags, cert: issued?.cert }]);
  await audit(deps.sql, 'device.add', { devices: [d.id], credential: issued ? 'certificate' : 'password', certSerial: issued?.cert.serial }, { actor });
  if (creds!.password !== undefined) await addToBroker(deps, [creds!]);
  return issued ? { ...creds, certificate: issued.pem, certSerial: issued.cert.serial } : creds;
}

export async function revokeDevice(deps: CredentialDeps, id: string, actor: Actor | null = null): Promise<DeviceView> {
  const before = await deps.devices.require(id);
  await deps.devices.revoke(id);
  await audit(deps.sql, 'device.revoke', { device: id, certSerial: before.certSerial }, { actor });
  await refreshCrl(deps);
  deps.disconnect(id);
  await deps.broker?.removeDevice(id);
  return deps.devices.require(id);
}

/** New credentials of the same kind as asked: a certificate when `csr` is given, else a password. */
export async function rotateCredentials(deps: CredentialDeps, id: string, csr?: string, actor: Actor | null = null): Promise<IssuedCredentials> {
  const before = await deps.devices.require(id);
  if (before.revokedAt !== null) throw new WfError('DEVICE_REVOKED', id);
  const issued = csr ? await issueFor(deps, id, csr) : undefined;
  const creds = await deps.devices.rotate(id, issued?.cert);
  await audit(deps.sql, 'device.rotate-credentials', { device: id, kind: issued ? 'certificate' : 'password', oldSerial: before.certSerial, newSerial: issued?.cert.serial }, { actor });
  await refreshCrl(deps);
  if (creds.password !== undefined) await deps.broker?.setPassword(id, creds.password);
  deps.disconnect(id);
  return issued ? { ...creds, certificate: issued.pem, certSerial: issued.cert.serial } : creds;
}

/**
 * Password devices just stored: their broker clients, when the server manages an external broker's.
 * A failure leaves them stored (the password was already made); rotate-credentials repairs each.
 */
export async function addToBroker(deps: CredentialDeps, created: Credentials[]): Promise<void> {
  if (!deps.broker) return;
  const withPassword = created.filter((c): c is Credentials & { password: string } => c.password !== undefined);
  if (deps.broker.addDevices && withPassword.length > 1) {
    try {
      await deps.broker.addDevices(withPassword.map((c) => ({ id: c.id, password: c.password })));
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new WfError('BROKER_CREDENTIALS_FAILED', `${withPassword.length} devices are stored but not all are on the broker (${reason}); "wasmfleet devices rotate-credentials ID" retries each`);
    }
    return;
  }
  for (const c of created) {
    if (c.password === undefined) continue;
    try {
      await deps.broker.addDevice(c.id, c.password);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new WfError('BROKER_CREDENTIALS_FAILED', `device ${c.id} is stored but not on the broker (${reason}); "wasmfleet devices rotate-credentials ${c.id}" retries`);
    }
  }
}
