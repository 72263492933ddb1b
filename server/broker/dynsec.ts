// Device credentials on an external mosquitto through its dynamic security plugin
// (docs/security.md, "external brokers"): JSON commands on $CONTROL/dynamic-security/v1, each
// answered on …/response, sent over the server's own MQTT link (whose user is a dynsec admin).
// One role per device grants exactly the topics server/broker/acl.ts grants in the ACL file.
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { WfError } from '../../protocol/errors.js';
import { DEVICE_PUBLISHES, DEVICE_SUBSCRIBES, FRESHNESS_TOPIC, IMAGE_ROOT, TOPIC_ROOT, deviceTopic } from '../../protocol/topics.js';
import { IMAGE_TOPIC_PATTERN } from './acl.js';

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;
/** The role the server gives its own link user: publish to the fleet's topics. */
export const SERVER_ROLE = 'wasmfleet-server';

type Acl = { acltype: string; topic: string; allow: boolean; priority?: number };
type Command = { command: string; [field: string]: unknown };
type Response = { command?: unknown; error?: unknown; data?: unknown; correlationData?: unknown };

/** What the credentials service asks of the broker (a no-op object when nobody manages it). */
export interface BrokerCredentials {
  /** A new password device: its role and client, before the API answers. */
  addDevice(id: string, password: string): Promise<void>;
  /** Many at once (a batch add): the same, in as few round trips as the broker allows. */
  addDevices?(devices: Array<{ id: string; password: string }>): Promise<void>;
  /** Revocation: the client is deleted, and mosquitto drops its connection. */
  removeDevice(id: string): Promise<void>;
  /** A new password; recreates the client if the broker lost it. */
  setPassword(id: string, password: string): Promise<void>;
}

export const deviceRole = (id: string) => `wf-device-${id}`;

/** The same rights as mosquittoAcl's patterns, spelled out for one device. */
export function deviceAcls(id: string): Acl[] {
  return [
    ...DEVICE_PUBLISHES.map((k) => ({ acltype: 'publishClientSend', topic: deviceTopic(id, k), allow: true })),
    ...DEVICE_SUBSCRIBES.map((k) => ({ acltype: 'subscribeLiteral', topic: deviceTopic(id, k), allow: true })),
    { acltype: 'subscribeLiteral', topic: FRESHNESS_TOPIC, allow: true },
    // Chunk fan-out (protocol.md §5.2): read the image topics, never publish there.
    { acltype: 'subscribePattern', topic: IMAGE_TOPIC_PATTERN, allow: true },
  ];
}

const ALREADY = /already exists|already has role/i;
/** Devices per control message in a batch add (two commands each; a message stays well under 100 KB). */
const DYNSEC_BATCH = 50;
const NOT_FOUND = /not found/i;

interface Pending {
  resolve: (responses: Response[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  body: string;
  /** Sent again after a reconnect: its first answer may have gone to the old connection. */
  resent: boolean;
}

export class Dynsec implements BrokerCredentials {
  private readonly pending = new Map<string, Pending>();

  private constructor(
    private readonly client: MqttClient,
    private readonly timeoutMs: number,
  ) {
    client.on('message', (topic, payload) => {
      if (topic !== DYNSEC_RESPONSE_TOPIC) return;
      this.onResponse(payload);
    });
  }

  /**
   * Subscribes to the responses (again after each clean reconnect), then gives the link user its
   * publish rights once. Changing a client's roles makes mosquitto drop that client's connections,
   * the link among them: it reconnects by itself (mqtt.js), and the grant is checked afterwards.
   */
  static async start(client: MqttClient, linkUser: string, timeoutMs = 5000): Promise<Dynsec> {
    await client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
    const d = new Dynsec(client, timeoutMs);
    // Several server instances share the admin user: when one starts and grants the role, mosquitto
    // drops every link of that user, commands in flight included. Once subscribed again, send them again.
    client.on('connect', (ack) => {
      if (!ack.sessionPresent) void client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 }).then(() => d.resend(), () => {});
    });
    if (await d.hasRole(linkUser, SERVER_ROLE)) return d;
    const acls: Acl[] = [
      { acltype: 'publishClientSend', topic: `${TOPIC_ROOT}/#`, allow: true },
      { acltype: 'publishClientSend', topic: FRESHNESS_TOPIC, allow: true },
      { acltype: 'publishClientSend', topic: `${IMAGE_ROOT}/#`, allow: true },
    ];
    await d.run([{ command: 'createRole', rolename: SERVER_ROLE, acls }], ALREADY);
    const reconnected = new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const granted = d.send([{ command: 'addClientRole', username: linkUser, rolename: SERVER_ROLE }]).catch(() => ['no answer']);
    await Promise.race([reconnected, granted, new Promise((r) => setTimeout(r, timeoutMs))]);
    if (!client.connected) await Promise.race([reconnected, new Promise((r) => setTimeout(r, timeoutMs))]);
    if (!(await d.hasRole(linkUser, SERVER_ROLE))) throw new WfError('BROKER_CREDENTIALS_FAILED', `could not give ${linkUser} the role ${SERVER_ROLE}`);
    return d;
  }

  private async hasRole(username: string, rolename: string): Promise<boolean> {
    const [r] = await this.sendFull([{ command: 'getClient', username }]);
    if (r?.error) throw new WfError('BROKER_CREDENTIALS_FAILED', `getClient ${username}: ${String(r.error)}`);
    const roles = (r?.data as { client?: { roles?: Array<{ rolename?: unknown }> } } | undefined)?.client?.roles ?? [];
    return roles.some((x) => x.rolename === rolename);
  }

  async addDevice(id: string, password: string): Promise<void> {
    await this.run([{ command: 'createRole', rolename: deviceRole(id), acls: deviceAcls(id) }], ALREADY);
    // clientid: mosquitto accepts this username only with the device id as its client id.
    await this.run([{ command: 'createClient', username: id, password, clientid: id, roles: [{ rolename: deviceRole(id) }] }]);
  }

  /**
   * A batch: DYNSEC_BATCH devices per control message (mosquitto answers all of a message's
   * commands in one response), so 1,000 devices take 40 round trips instead of 2,000.
   */
  async addDevices(devices: Array<{ id: string; password: string }>): Promise<void> {
    for (let i = 0; i < devices.length; i += DYNSEC_BATCH) {
      const part = devices.slice(i, i + DYNSEC_BATCH);
      await this.run(part.map((d) => ({ command: 'createRole', rolename: deviceRole(d.id), acls: deviceAcls(d.id) })), ALREADY);
      await this.run(part.map((d) => ({ command: 'createClient', username: d.id, password: d.password, clientid: d.id, roles: [{ rolename: deviceRole(d.id) }] })));
    }
  }

  async removeDevice(id: string): Promise<void> {
    await this.run([{ command: 'deleteClient', username: id }], NOT_FOUND);
    await this.run([{ command: 'deleteRole', rolename: deviceRole(id) }], NOT_FOUND);
  }

  async setPassword(id: string, password: string): Promise<void> {
    const [err] = await this.send([{ command: 'setClientPassword', username: id, password }]);
    if (err && NOT_FOUND.test(err)) return this.addDevice(id, password);
    if (err) throw new WfError('BROKER_CREDENTIALS_FAILED', `setClientPassword ${id}: ${err}`);
  }

  /** Commands whose errors matching `tolerated` are fine (idempotent set-up); any other is raised. */
  private async run(commands: Command[], tolerated?: RegExp): Promise<void> {
    const errors = await this.send(commands);
    errors.forEach((err, i) => {
      const c = commands[i]!;
      if (err && !tolerated?.test(err)) throw new WfError('BROKER_CREDENTIALS_FAILED', `${c.command} ${String(c.username ?? c.rolename ?? '')}: ${err}`.replace(' :', ':'));
    });
  }

  /** One control message; resolves with each command's error (undefined when it succeeded). */
  private async send(commands: Command[]): Promise<Array<string | undefined>> {
    const responses = await this.sendFull(commands);
    return commands.map((_, i) => {
      const err = responses[i]?.error;
      return typeof err === 'string' ? err : undefined;
    });
  }

  private sendFull(commands: Command[]): Promise<Response[]> {
    const tags = commands.map(() => randomBytes(8).toString('hex'));
    const key = tags[0]!;
    return new Promise((resolve, reject) => {
      const body = JSON.stringify({ commands: commands.map((c, i) => ({ ...c, correlationData: tags[i] })) });
      this.pending.set(key, { resolve, reject, timer: this.deadline(key), body, resent: false });
      this.publish(key, body);
    });
  }

  private deadline(key: string): NodeJS.Timeout {
    return setTimeout(() => {
      const p = this.pending.get(key);
      this.pending.delete(key);
      p?.reject(new WfError('BROKER_CREDENTIALS_FAILED', `no answer from the dynamic security plugin within ${this.timeoutMs} ms (is it loaded, and is the link user a dynsec admin?)`));
    }, this.timeoutMs);
  }

  private publish(key: string, body: string): void {
    this.client.publish(DYNSEC_TOPIC, body, { qos: 1 }, (err) => {
      const p = this.pending.get(key);
      if (!err || !p) return;
      clearTimeout(p.timer);
      this.pending.delete(key);
      p.reject(new WfError('BROKER_CREDENTIALS_FAILED', `publish to ${DYNSEC_TOPIC}: ${err.message}`));
    });
  }

  /** After a reconnect: every command still waiting goes again, with a fresh deadline. */
  private resend(): void {
    for (const [key, p] of this.pending) {
      clearTimeout(p.timer);
      p.timer = this.deadline(key);
      p.resent = true;
      this.publish(key, p.body);
    }
  }

  private onResponse(payload: Buffer): void {
    let parsed: { responses?: Response[] };
    try {
      parsed = JSON.parse(payload.toString('utf8')) as typeof parsed;
    } catch {
      return;
    }
    const responses = Array.isArray(parsed.responses) ? parsed.responses : [];
    const first = responses[0]?.correlationData;
    const waiting = typeof first === 'string' ? this.pending.get(first) : undefined;
    if (!waiting) return; // another admin's answer, or one that came after its timeout
    clearTimeout(waiting.timer);
    this.pending.delete(first as string);
    // A command sent twice may have been done by the first copy: "already exists" / "not found" is then its success.
    waiting.resolve(waiting.resent ? responses.map((r) => (typeof r.error === 'string' && (ALREADY.test(r.error) || NOT_FOUND.test(r.error)) ? { ...r, error: undefined } : r)) : responses);
  }
}
