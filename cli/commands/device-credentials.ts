// devices add --cert / devices rotate-credentials: the device's private key is made here, on the
// operator's side; the server only sees a certificate signing request and signs a certificate
// with CN = device id. The key is written once (0600) beside the certificate and the fleet CA.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../protocol/keyfiles.js';
import { createCsr, generateKeyPair, privateKeyPem } from '../../server/tls/certs.js';
import type { ApiClient } from '../client.js';

export interface DeviceCredentialsAnswer {
  id: string;
  username: string;
  password?: string;
  certificate?: string;
  certSerial?: string;
  caCertificate?: string;
  mqttUrl: string;
  rootPublicKey: string;
}

export interface CertFiles {
  key: string;
  cert: string;
  ca?: string;
}

export interface DeviceCredentialsResult extends DeviceCredentialsAnswer {
  files?: CertFiles;
}

/** A fresh key and its CSR; the key stays with the caller. */
async function keyAndCsr(id: string): Promise<{ keyPem: string; csr: string }> {
  const keys = await generateKeyPair();
  return { keyPem: await privateKeyPem(keys.privateKey), csr: await createCsr(id, keys) };
}

function writeCertFiles(dir: string, answer: DeviceCredentialsAnswer, keyPem: string): CertFiles {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: CertFiles = { key: join(dir, `${answer.id}.key`), cert: join(dir, `${answer.id}.crt`) };
  writeFileAtomic(files.key, keyPem, 0o600, true);
  writeFileAtomic(files.cert, answer.certificate!, 0o644, true);
  if (answer.caCertificate) {
    files.ca = join(dir, 'ca.crt');
    writeFileAtomic(files.ca, answer.caCertificate, 0o644, true);
  }
  return files;
}

/** Register a device: with a password, or (cert) with a client certificate written to `outDir`. */
export async function addDeviceWithCredentials(
  client: ApiClient,
  id: string,
  opts: { tags: Record<string, string>; cert?: boolean; outDir: string },
): Promise<DeviceCredentialsResult> {
  if (!opts.cert) return client.post<DeviceCredentialsAnswer>('/v1/devices', { id, tags: opts.tags });
  const { keyPem, csr } = await keyAndCsr(id);
  const answer = await client.post<DeviceCredentialsAnswer>('/v1/devices', { id, tags: opts.tags, csr });
  return { ...answer, files: writeCertFiles(opts.outDir, answer, keyPem) };
}

/** New credentials; the old password or certificate is refused from then on. */
export async function rotateDeviceCredentials(client: ApiClient, id: string, opts: { cert?: boolean; outDir: string }): Promise<DeviceCredentialsResult> {
  const path = `/v1/devices/${encodeURIComponent(id)}/credentials`;
  if (!opts.cert) return client.post<DeviceCredentialsAnswer>(path, {});
  const { keyPem, csr } = await keyAndCsr(id);
  const answer = await client.post<DeviceCredentialsAnswer>(path, { csr });
  return { ...answer, files: writeCertFiles(opts.outDir, answer, keyPem) };
}
