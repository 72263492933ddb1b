// wasmfleet tls init: make the fleet CA, the server certificate, the server's own client
// certificate and an empty CRL in <data>/tls without starting the server: what an external
// broker (mosquitto, EMQX) must be configured with before "wasmfleet server --broker mqtts://…".
import { prepareFleetTls, TLS_FILES } from '../../server/tls/fleet-tls.js';

export interface TlsFiles {
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  linkCert: string;
  linkKey: string;
  crl: string;
}

export async function initTls(dataDir: string, host: string, hosts: string[] = []): Promise<TlsFiles> {
  await prepareFleetTls(dataDir, host, { hosts });
  return {
    ca: TLS_FILES.caCert(dataDir),
    caKey: TLS_FILES.caKey(dataDir),
    serverCert: TLS_FILES.serverCert(dataDir),
    serverKey: TLS_FILES.serverKey(dataDir),
    linkCert: TLS_FILES.linkCert(dataDir),
    linkKey: TLS_FILES.linkKey(dataDir),
    crl: TLS_FILES.crl(dataDir),
  };
}

/** The mosquitto listener that takes each device's identity from its certificate (docs/security.md). */
export function mosquittoTlsSnippet(f: TlsFiles, port = 8883): string {
  return [
    `listener ${port}`,
    `cafile ${f.ca}`,
    `certfile ${f.serverCert}`,
    `keyfile ${f.serverKey}`,
    `crlfile ${f.crl}`,
    'require_certificate true',
    'use_identity_as_username true',
    'allow_anonymous false',
    'acl_file /etc/mosquitto/wasmfleet.acl',
    '',
  ].join('\n');
}
