// Key rotation: a new key document (serial + 1) reaches devices in the next directive; after a
// director rotation the server signs with the new key, which devices accept through the new document.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotateKey } from '../cli/commands/keys-rotate.js';
import { bytesEqual, checkBundle, decodeBundle, deviceTopic, fromHex, keyId, openKeyDocument, parseSign1, readKeyPair } from '../protocol/index.js';
import { connectAs, deviceContext, nextMessage, startFleet, type TestFleet } from './helpers/server.js';

let fleet: TestFleet;
beforeAll(async () => {
  fleet = await startFleet();
  await fleet.publish('counter', 'counter', '1.0.0');
});
afterAll(async () => fleet?.close());

describe('keys rotate + server reload', () => {
  it('directives after a director rotation are signed by the new key and carry key document serial 2', async () => {
    const creds = await fleet.addDevice('rot-1');
    const oldDirector = readKeyPair(fleet.keysDir, 'director');
    rotateKey(fleet.keysDir, 'director', true);
    await fleet.server.reloadTrust();
    const newDirector = readKeyPair(fleet.keysDir, 'director');
    expect(bytesEqual(oldDirector.publicKey, newDirector.publicKey)).toBe(false);

    const client = await connectAs(creds);
    const msg = nextMessage(client, deviceTopic(creds.id, 'directive'));
    await fleet.api.post('/v1/deployments', { module: 'counter', version: '1.0.0', devices: [creds.id] });
    const bundleBytes = await msg;
    await client.endAsync();

    const bundle = decodeBundle(bundleBytes);
    expect(bytesEqual(parseSign1(bundle.directive, 'd', 4096).kid, keyId(newDirector.publicKey))).toBe(true);
    const ctx = deviceContext(creds, { capabilities: ['kv', 'telemetry'] });
    const checked = checkBundle(bundleBytes, { ...ctx, keydocSerial: 1 });
    expect(checked.keyDocument.serial).toBe(2);
    // The revoked director key is gone from the document devices now hold.
    const doc = openKeyDocument(bundle.keyDocument, { rootPublicKey: fromHex(creds.rootPublicKey), now: ctx.now });
    expect(doc.keys.some((k) => bytesEqual(k.publicKey, oldDirector.publicKey))).toBe(false);
    // A device that already stores serial 2 accepts it too; one that stores 3 refuses it.
    expect(() => checkBundle(bundleBytes, { ...ctx, keydocSerial: 2 })).not.toThrow();
    expect(() => checkBundle(bundleBytes, { ...ctx, keydocSerial: 3 })).toThrow(/serial 2 < stored 3/);
  });
});
