// X.509 certificates for the fleet's transport: the fleet CA, the server certificate, device
// client certificates (CN = device id) and the CRL. Everything is built by @peculiar/x509 on
// Node's WebCrypto (ECDSA P-256, which OpenSSL, libmosquitto and every MQTT broker accept);
// no ASN.1 is written here. Keys travel as PKCS#8 PEM, certificates as PEM.
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import { WfError } from '../../protocol/errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const EC: EcKeyGenParams & EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY_MS = 86_400_000;

export interface KeyAndCert {
  keyPem: string;
  certPem: string;
}

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

export async function importPrivateKey(pem: string): Promise<CryptoKey> {
  try {
    return await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(pem), EC, false, ['sign']);
  } catch (err) {
    throw new WfError('TLS_MATERIAL_INVALID', `private key is not a PKCS#8 ECDSA P-256 key: ${(err as Error).message}`);
  }
}

export function parseCertificate(pem: string, what: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(pem);
  } catch (err) {
    throw new WfError('TLS_MATERIAL_INVALID', `${what} is not a PEM certificate: ${(err as Error).message}`);
  }
}

/** A random positive 128-bit serial, hex (RFC 5280 §4.1.2.2: at most 20 octets, positive). */
function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] &= 0x7f;
  b[0] |= 0x01;
  return Buffer.from(b).toString('hex');
}

/** Serial as Node's TLS and x509 print it: upper-case hex without leading zeros. */
export function normalSerial(serial: string): string {
  return serial.replace(/^0+/, '').toUpperCase();
}

export async function createCa(commonName: string, years = 10): Promise<KeyAndCert> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [commonName] }, { O: ['wasmfleet'] }],
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + years * 365 * DAY_MS),
    keys,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keyPem: await privateKeyPem(keys.privateKey), certPem: cert.toString('pem') };
}

export interface Issuer {
  cert: x509.X509Certificate;
  key: CryptoKey;
}

export async function loadIssuer(ca: KeyAndCert): Promise<Issuer> {
  return { cert: parseCertificate(ca.certPem, 'CA certificate'), key: await importPrivateKey(ca.keyPem) };
}

interface LeafParams {
  commonName: string;
  publicKey: CryptoKey | x509.PublicKey;
  usage: 'server' | 'client';
  /** DNS names and IP addresses (server certificates). */
  hosts?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

async function issueLeaf(issuer: Issuer, p: LeafParams): Promise<{ certPem: string; serial: string; notAfter: Date }> {
  const now = Date.now();
  const notAfter = p.notAfter ?? new Date(now + (p.usage === 'server' ? 825 : 730) * DAY_MS);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([p.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey),
  ];
  if (p.hosts?.length) {
    extensions.push(new x509.SubjectAlternativeNameExtension(p.hosts.map((h) => ({ type: isIP(h) ? 'ip' : 'dns', value: h }) as x509.JsonGeneralName)));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [p.commonName] }],
    issuer: issuer.cert.subjectName,
    notBefore: p.notBefore ?? new Date(now - 60_000),
    notAfter,
    publicKey: p.publicKey,
    signingKey: issuer.key,
    signingAlgorithm: EC,
    extensions,
  });
  return { certPem: cert.toString('pem'), serial: normalSerial(cert.serialNumber), notAfter };
}

/** A server certificate with a fresh key, valid for the given host names and addresses. */
export async function issueServerCert(issuer: Issuer, hosts: string[]): Promise<KeyAndCert> {
  const keys = await generateKeyPair();
  const { certPem } = await issueLeaf(issuer, { commonName: hosts[0] ?? 'wasmfleet', publicKey: keys.publicKey, usage: 'server', hosts });
  return { keyPem: await privateKeyPem(keys.privateKey), certPem };
}

export interface IssuedClientCert {
  certPem: string;
  serial: string;
  notAfter: Date;
}

/** A client certificate for `commonName` over a public key the holder generated (its key never reaches us). */
export async function issueClientCert(
  issuer: Issuer,
  commonName: string,
  publicKey: CryptoKey | x509.PublicKey,
  validity: { notBefore?: Date; notAfter?: Date } = {},
): Promise<IssuedClientCert> {
  return issueLeaf(issuer, { commonName, publicKey, usage: 'client', ...validity });
}

/** A certificate signing request for `commonName`, signed by the key it certifies (proof of possession). */
export async function createCsr(commonName: string, keys: CryptoKeyPair): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [commonName] }], keys, signingAlgorithm: EC });
  return csr.toString('pem');
}

/** The public key of a CSR whose self-signature verifies. The subject is not trusted: the caller sets it. */
export async function csrPublicKey(pem: string): Promise<x509.PublicKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    throw new WfError('CERT_REQUEST_INVALID', `not a PEM certificate request: ${(err as Error).message}`);
  }
  if (!(await csr.verify())) throw new WfError('CERT_REQUEST_INVALID', 'the request is not signed by the key it carries');
  const alg = csr.publicKey.algorithm as EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') throw new WfError('CERT_REQUEST_INVALID', 'the key must be ECDSA P-256');
  return csr.publicKey;
}

export interface RevokedSerial {
  serial: string;
  revokedAt: Date;
}

/** A CRL signed by the CA (what mosquitto's crlfile and OpenSSL read). */
export async function createCrl(issuer: Issuer, revoked: RevokedSerial[], validDays = 30): Promise<string> {
  const thisUpdate = new Date(Date.now() - 60_000);
  const now = Date.now();
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.cert.subjectName,
    thisUpdate,
    nextUpdate: new Date(now + validDays * DAY_MS),
    signingKey: issuer.key,
    signingAlgorithm: EC,
    entries: revoked.map((r) => ({ serialNumber: r.serial, revocationDate: r.revokedAt < thisUpdate ? r.revokedAt : thisUpdate, reason: x509.X509CrlReason.unspecified })),
    extensions: [await x509.AuthorityKeyIdentifierExtension.create(issuer.cert.publicKey)],
  });
  // OpenSSL (mosquitto's crlfile) reads the RFC 7468 label "X509 CRL".
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}
