// The topic rules of protocol.md §5, as the embedded broker and the mosquitto ACL apply them.
import { describe, expect, it } from 'vitest';
import { devicePublishAllowed, deviceSubscribeAllowed, mosquittoAcl } from '../server/broker/acl.js';
import { deviceAcls } from '../server/broker/dynsec.js';
import { DEVICE_TOPICS, FRESHNESS_TOPIC, deviceTopic, imageTopic } from '../protocol/topics.js';

describe('device topic ACL', () => {
  it('lets a device publish only its own hello, online, report, telemetry and chunk requests', () => {
    for (const kind of ['hello', 'online', 'report', 'telemetry', 'chunk/get', 'chunk/stream']) expect(devicePublishAllowed('d1', `wf/v1/dev/d1/${kind}`)).toBe(true);
    expect(devicePublishAllowed('d1', 'wf/v1/dev/d2/chunk/stream')).toBe(false);
    expect(devicePublishAllowed('d1', 'wf/v1/dev/d1/directive')).toBe(false); // only the server sends directives
    expect(devicePublishAllowed('d1', 'wf/v1/dev/d1/chunk')).toBe(false);
    expect(devicePublishAllowed('d1', 'wf/v1/dev/d2/report')).toBe(false);
    expect(devicePublishAllowed('d1', 'wf/v1/dev/d1/report/extra')).toBe(false);
    expect(devicePublishAllowed('d1', '$SYS/broker')).toBe(false);
  });

  it('lets a device subscribe only to its own directive and chunk topics, without wildcards', () => {
    expect(deviceSubscribeAllowed('d1', 'wf/v1/dev/d1/directive')).toBe(true);
    expect(deviceSubscribeAllowed('d1', 'wf/v1/dev/d1/chunk')).toBe(true);
    expect(deviceSubscribeAllowed('d1', 'wf/v1/dev/+/directive')).toBe(false);
    expect(deviceSubscribeAllowed('d1', 'wf/v1/dev/d1/#')).toBe(false);
    expect(deviceSubscribeAllowed('d1', 'wf/v1/dev/d2/directive')).toBe(false);
  });

  it('lets every device read the fleet freshness topic, and none publish to it', () => {
    expect(deviceSubscribeAllowed('d1', 'wf/v1/fleet/freshness')).toBe(true);
    expect(deviceSubscribeAllowed('d1', 'wf/v1/fleet/#')).toBe(false);
    expect(devicePublishAllowed('d1', 'wf/v1/fleet/freshness')).toBe(false);
    const acl = mosquittoAcl('srv');
    expect(acl).toContain('topic readwrite wf/v1/fleet/freshness');
    expect(acl).toContain('pattern read wf/v1/fleet/freshness');
    expect(acl).not.toMatch(/pattern (write|readwrite) wf\/v1\/fleet/);
  });

  it('lets a device read exact image topics (chunk fan-out), never with wildcards, and never publish there', () => {
    const sha = 'ab'.repeat(32);
    expect(deviceSubscribeAllowed('d1', imageTopic(sha, 4096))).toBe(true);
    expect(deviceSubscribeAllowed('d1', imageTopic(sha, 256))).toBe(true);
    expect(deviceSubscribeAllowed('d1', imageTopic(sha, 65536))).toBe(true);
    for (const filter of ['wf/v1/img/#', 'wf/v1/img/+/+', `wf/v1/img/${sha}/+`, `wf/v1/img/+/4096`, `wf/v1/img/${sha}/#`, 'wf/v1/#', '#']) {
      expect(deviceSubscribeAllowed('d1', filter), filter).toBe(false);
    }
    // Only the protocol's chunk sizes, lowercase hex of 32 bytes, nothing after.
    for (const topic of [imageTopic(sha, 255), imageTopic(sha, 65537), imageTopic(sha, 0), `wf/v1/img/${sha}/04096`, imageTopic(sha.toUpperCase(), 4096), imageTopic(sha.slice(2), 4096), `${imageTopic(sha, 4096)}/x`]) {
      expect(deviceSubscribeAllowed('d1', topic), topic).toBe(false);
    }
    expect(devicePublishAllowed('d1', imageTopic(sha, 4096))).toBe(false);
    const acl = mosquittoAcl('srv');
    expect(acl).toContain('topic write wf/v1/img/#');
    expect(acl).toContain('pattern read wf/v1/img/+/+');
    expect(acl).not.toMatch(/pattern (write|readwrite) wf\/v1\/img/);
    const role = deviceAcls('d1').filter((a) => a.topic.startsWith('wf/v1/img'));
    expect(role).toEqual([{ acltype: 'subscribePattern', topic: 'wf/v1/img/+/+', allow: true }]);
  });

  it('generates the same rules as a mosquitto ACL file', () => {
    const acl = mosquittoAcl('srv');
    expect(acl).toContain('user srv\ntopic readwrite wf/v1/dev/#');
    expect(acl).toContain('pattern write wf/v1/dev/%u/report');
    expect(acl).toContain('pattern read wf/v1/dev/%u/directive');
    expect(acl).not.toContain('pattern write wf/v1/dev/%u/directive');
  });

  it("the dynamic security role of a device grants exactly what the embedded broker's rules grant", () => {
    const acls = deviceAcls('d1');
    expect(acls.every((a) => a.allow)).toBe(true);
    const pub = new Set(acls.filter((a) => a.acltype === 'publishClientSend').map((a) => a.topic));
    const sub = new Set(acls.filter((a) => a.acltype === 'subscribeLiteral').map((a) => a.topic));
    const images = acls.filter((a) => a.acltype === 'subscribePattern');
    expect(images.map((a) => a.topic)).toEqual(['wf/v1/img/+/+']); // the one pattern: image topics, read only
    expect(pub.size + sub.size + images.length).toBe(acls.length); // no other kinds, no other wildcards
    for (const kind of DEVICE_TOPICS) {
      for (const id of ['d1', 'd2']) {
        const topic = deviceTopic(id, kind);
        expect(pub.has(topic), `publish ${topic}`).toBe(devicePublishAllowed('d1', topic));
        expect(sub.has(topic), `subscribe ${topic}`).toBe(deviceSubscribeAllowed('d1', topic));
      }
    }
    expect(sub.has(FRESHNESS_TOPIC)).toBe(true);
    expect(pub.has(FRESHNESS_TOPIC)).toBe(false);
  });
});
