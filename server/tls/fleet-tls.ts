// The server's TLS material in <data>/tls/ (docs/security.md, transport): the fleet CA, the server
// certificate the broker (MQTT/TLS, WSS) and the API (HTTPS) present, and the CRL of device
// certificates taken back. Made on first start unless the operator brings their own.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { WfError } from '../../protocol/errors.js';
import { writeFileAtomic } from '../../protocol/keyfiles.js';
import { SERVER_USER } from '../broker/acl.js';
import { createCa, createCrl, generateKeyPair, issueClientCert, issueServerCert, loadIssuer, parseCertificate, privateKeyPem, type Issuer, type KeyAndCert, type RevokedSerial } from './certs.js';

export interface TlsOptions {
  /** Bring your own: server certificate and key (PEM), and the CA that signs device certificates. */
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  /** The CA's key, so that "devices add --cert" can issue with a CA you brought. */
  caKeyFile?: string;
  /** Extra host names or addresses for the generated server certificate. */
  hosts?: string[];
}

export interface FleetTls {
  dir: string;
  caFile: string;
  crlFile: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Null when the operator brought a CA without its key: the server cannot issue device certificates. */
  issuer: Issuer | null;
  /** The server's own client certificate (CN wasmfleet-server), for an external broker that wants certificates. */
  link: KeyAndCert | null;
  /** Rewrite the CRL (after a revocation or a rotation). */
  writeCrl(revoked: RevokedSerial[]): Promise<void>;
}

export const TLS_FILES = {
  dir: (dataDir: string) => join(dataDir, 'tls'),
  caCert: (dataDir: string) => join(dataDir, 'tls', 'ca.crt'),
  caKey: (dataDir: string) => join(dataDir, 'tls', 'ca.key'),
  serverCert: (dataDir: string) => join(dataDir, 'tls', 'server.crt'),
  serverKey: (dataDir: string) => join(dataDir, 'tls', 'server.key'),
  crl: (dataDir: string) => join(dataDir, 'tls', 'crl.pem'),
  linkCert: (dataDir: string) => join(dataDir, 'tls', 'link.crt'),
  linkKey: (dataDir: string) => join(dataDir, 'tls', 'link.key'),
};

function read(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new WfError('TLS_MATERIAL_INVALID', `${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Host names and addresses a server certificate must name: the listen host (unless a wildcard), localhost, 127.0.0.1, and the extra ones. */
export function serverHosts(listenHost: string, extra: string[] = []): string[] {
  const hosts = ['localhost', '127.0.0.1', '::1', ...extra];
  if (!['0.0.0.0', '::', ''].includes(listenHost)) hosts.unshift(listenHost);
  return [...new Set(hosts)];
}

/** Not about to expire, and names every host. */
function certCovers(certPem: string, hosts: string[]): boolean {
  const cert = parseCertificate(certPem, 'certificate');
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const names = new Set((san?.names.toJSON() ?? []).map((n) => n.value.toLowerCase()));
  return cert.notAfter.getTime() > Date.now() + 86_400_000 && hosts.every((h) => names.has(h.toLowerCase()));
}

/** Load or create the TLS material; a generated server certificate is re-issued when it no longer covers the hosts. */
export async function prepareFleetTls(dataDir: string, listenHost: string, opts: TlsOptions = {}): Promise<FleetTls> {
  const dir = TLS_FILES.dir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const crlFile = TLS_FILES.crl(dataDir);
  let caFile: string;
  let caPem: string;
  let certPem: string;
  let keyPem: string;
  let issuer: Issuer | null = null;

  const brought = opts.certFile || opts.keyFile || opts.caFile;
  if (brought) {
    if (!opts.certFile || !opts.keyFile || !opts.caFile) {
      throw new WfError('TLS_MATERIAL_INVALID', '--tls-cert, --tls-key and --tls-ca go together');
    }
    caFile = opts.caFile;
    caPem = read(opts.caFile, 'CA certificate');
    certPem = read(opts.certFile, 'server certificate');
    keyPem = read(opts.keyFile, 'server key');
    parseCertificate(caPem, opts.caFile);
    parseCertificate(certPem, opts.certFile);
    if (opts.caKeyFile) issuer = await loadIssuer({ certPem: caPem, keyPem: read(opts.caKeyFile, 'CA key') });
  } else {
    caFile = TLS_FILES.caCert(dataDir);
    if (!existsSync(caFile)) {
      const ca = await createCa('wasmfleet fleet CA');
      writeFileAtomic(TLS_FILES.caKey(dataDir), ca.keyPem, 0o600, true);
      writeFileAtomic(caFile, ca.certPem, 0o644, true);
    }
    caPem = read(caFile, 'CA certificate');
    issuer = await loadIssuer({ certPem: caPem, keyPem: read(TLS_FILES.caKey(dataDir), 'CA key') });
    const hosts = serverHosts(listenHost, opts.hosts);
    const certFile = TLS_FILES.serverCert(dataDir);
    if (!existsSync(certFile) || !certCovers(readFileSync(certFile, 'utf8'), hosts)) {
      const server = await issueServerCert(issuer, hosts);
      writeFileAtomic(TLS_FILES.serverKey(dataDir), server.keyPem, 0o600, true);
      writeFileAtomic(certFile, server.certPem, 0o644, true);
    }
    certPem = read(certFile, 'server certificate');
    keyPem = read(TLS_FILES.serverKey(dataDir), 'server key');
  }

  let link: KeyAndCert | null = null;
  if (issuer) {
    const linkCert = TLS_FILES.linkCert(dataDir);
    if (!existsSync(linkCert) || !certCovers(readFileSync(linkCert, 'utf8'), [])) {
      const keys = await generateKeyPair();
      const issued = await issueClientCert(issuer, SERVER_USER, keys.publicKey);
      writeFileAtomic(TLS_FILES.linkKey(dataDir), await privateKeyPem(keys.privateKey), 0o600, true);
      writeFileAtomic(linkCert, issued.certPem, 0o644, true);
    }
    link = { certPem: read(linkCert, 'server client certificate'), keyPem: read(TLS_FILES.linkKey(dataDir), 'server client key') };
  }

  const writeCrl = async (revoked: RevokedSerial[]) => {
    if (issuer) writeFileAtomic(crlFile, await createCrl(issuer, revoked), 0o644, true);
  };
  // mosquitto's crlfile must exist before the first revocation.
  if (issuer && !existsSync(crlFile)) await writeCrl([]);
  return { dir, caFile, crlFile, caPem, certPem, keyPem, issuer, link, writeCrl };
}
