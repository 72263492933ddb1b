// The console's read endpoints on a seeded fleet (docs/console.md): the devices page (filters,
// keyset pages, totals), the fleet counts, version adoption over time, the module catalog with
// its capability diff, and the audit filters. Real server, real store (SQLite or PostgreSQL), real HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDevices } from '../device-sim/bench-seed.js';
import { openStore } from '../server/store/open.js';
import type { AdoptionView, DevicePageView, FleetSummaryView, ModuleCatalogView } from '../protocol/views.js';
import type { AuditEntry } from '../server/store/db.js';
import { startFleet, type TestFleet } from './helpers/server.js';

const NOW_S = 1_790_000_000;
const digest = (n: number) => n.toString(16).padStart(64, '0');
const RELEASES = [
  { component: 'app', version: '1.0.0', manifestDigest: digest(1) },
  { component: 'app', version: '0.9.0', manifestDigest: digest(2) },
  { component: 'app', version: '0.8.0', manifestDigest: digest(3) },
];

describe('console reads on a seeded fleet', () => {
  let fleet: TestFleet;
  const page = (query: string) => fleet.api.get<DevicePageView>(`/v1/devices?${query}`);

  beforeAll(async () => {
    fleet = await startFleet({ clock: () => NOW_S * 1000 });
    await fleet.server.close();
    // Seeded through the store the server runs on (SQLite file or PostgreSQL database).
    const { sql } = await openStore({ dataDir: fleet.dataDir, db: fleet.store.db });
    await seedDevices(sql, 600, RELEASES, 'console-reads');
    // A device with a failure on record, and one that never said hello.
    await sql.run("UPDATE devices SET state = 'failed', reason = 'DIGEST_MISMATCH', last_error = 'DIGEST_MISMATCH: chunk 3 of 9' WHERE id = 'bench-000007'");
    await sql.run(`INSERT INTO devices (id, token_hash, tags, created_at) VALUES ('new_dev1', '', '{"site":"Plant-A"}', ?)`, [NOW_S]);
    // Adoption history of "app" (seconds): three devices move from 0.9.0 to 1.0.0 over 1000 s.
    await sql.run('DELETE FROM commits');
    const commit = (device: string, seq: number, version: string, at: number) =>
      sql.run("INSERT INTO commits (device_id, sequence, component, version, manifest_digest, at) VALUES (?, ?, 'app', ?, 'd', ?)", [device, seq, version, at]);
    await commit('bench-000001', 1, '0.9.0', NOW_S - 2000);
    await commit('bench-000002', 1, '0.9.0', NOW_S - 1500);
    await commit('bench-000003', 1, '0.9.0', NOW_S - 950);
    await commit('bench-000001', 2, '1.0.0', NOW_S - 850);
    await commit('bench-000002', 2, '1.0.0', NOW_S - 450);
    await commit('bench-000003', 2, '1.0.0', NOW_S - 50);
    await sql.close();
    await fleet.restart();
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it('pages through every device in id order with a total, 200 at most per page', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const p: DevicePageView = await page(`limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(p.total).toBe(601);
      expect(p.devices.length).toBeLessThanOrEqual(200);
      seen.push(...p.devices.map((d) => d.id));
      cursor = p.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen.length).toBe(601);
    expect([...seen].sort()).toEqual(seen);
    expect(new Set(seen).size).toBe(601);
    const first = (await page('limit=1')).devices[0];
    expect(first).toMatchObject({ id: 'bench-000001', state: 'committed', host: expect.stringMatching(/^(v8|wasm3|wamr)$/), lastError: null });
    expect(first.running).toEqual([{ component: 'app', version: expect.any(String), manifestDigest: expect.any(String) }]);
    expect(typeof first.lastSeen).toBe('number');
    const bad = await fleet.api.request('GET', '/v1/devices?limit=201').catch((e: Error) => e);
    expect(String(bad)).toContain('limit 201: 1-200');
  });

  it('filters by id, tag, state, release, host and online, each total matching a count of the whole fleet', async () => {
    const { devices: all } = await fleet.api.get<{ devices: Array<{ id: string; tags: Record<string, string>; state: string; online: boolean; hello: { host: string } | null; running: Array<{ version: string }> }> }>('/v1/devices');
    expect(all.length).toBe(601);
    const expectFilter = async (query: string, keep: (d: (typeof all)[number]) => boolean) => {
      const want = all.filter(keep).map((d) => d.id);
      const p = await page(`limit=50&${query}`);
      expect(p.total, query).toBe(want.length);
      expect(p.devices.map((d) => d.id), query).toEqual(want.slice(0, 50));
      return want.length;
    };
    expect(await expectFilter('q=00012', (d) => d.id.includes('00012'))).toBe(11); // 000012, 000120-000129
    // "_" and "%" are not wildcards in a search
    expect(await expectFilter('q=w_dev', (d) => d.id === 'new_dev1')).toBe(1);
    expect(await expectFilter('q=h_0', () => false)).toBe(0);
    expect(await expectFilter('q=%25', () => false)).toBe(0);
    expect(await expectFilter('tag=site%3Dplant-c', (d) => d.tags.site === 'plant-c')).toBeGreaterThan(20);
    expect(await expectFilter('tag=site%3Dplant-c&tag=ring%3Dcanary', (d) => d.tags.site === 'plant-c' && d.tags.ring === 'canary')).toBeGreaterThan(0);
    // tags match exactly: not by case, not by prefix
    expect(await expectFilter('tag=site%3DPlant-A', (d) => d.tags.site === 'Plant-A')).toBe(1);
    expect(await expectFilter('tag=site%3Dplant', () => false)).toBe(0);
    expect(await expectFilter('state=failed', (d) => d.state === 'failed')).toBe(1);
    expect(await expectFilter('release=app%400.9.0', (d) => d.running.some((r) => r.version === '0.9.0'))).toBeGreaterThan(5);
    expect(await expectFilter('host=wasm3', (d) => d.hello?.host === 'wasm3')).toBeGreaterThan(50);
    expect(await expectFilter('online=false', (d) => !d.online)).toBeGreaterThan(3);
    expect(await expectFilter('host=wamr&online=true&tag=hw%3Drev2', (d) => d.hello?.host === 'wamr' && d.online && d.tags.hw === 'rev2')).toBeGreaterThan(10);
    // a filtered page continues after its cursor
    const p1 = await page('limit=5&host=v8');
    const p2 = await page(`limit=5&host=v8&cursor=${p1.nextCursor}`);
    expect(p2.devices[0].id > p1.devices[4].id).toBe(true);
    expect(p2.devices.every((d) => d.host === 'v8')).toBe(true);
  });

  it('shows the last error of a device with its reason code apart', async () => {
    const p = await page('limit=1&q=bench-000007');
    expect(p.devices[0]).toMatchObject({ state: 'failed', reason: 'DIGEST_MISMATCH', lastError: { code: 'DIGEST_MISMATCH', detail: 'chunk 3 of 9' } });
  });

  it('counts the fleet by state, release, online and host kind', async () => {
    const { devices: all } = await fleet.api.get<{ devices: Array<{ state: string; online: boolean; hello: { host: string } | null; running: Array<{ component: string; version: string }> }> }>('/v1/devices');
    const f = await fleet.api.get<FleetSummaryView>('/v1/console/fleet');
    const count = <T>(keyOf: (d: (typeof all)[number]) => T[]) => {
      const out: Record<string, number> = {};
      for (const d of all) for (const k of keyOf(d)) out[String(k)] = (out[String(k)] ?? 0) + 1;
      return out;
    };
    expect(f.devices).toBe(601);
    expect(f.online).toBe(all.filter((d) => d.online).length);
    expect(f.offline).toBe(601 - f.online);
    expect(f.byState).toEqual(count((d) => [d.state]));
    expect(f.byHost).toEqual(count((d) => [d.hello?.host ?? 'unknown']));
    expect(f.byHost.unknown).toBe(1);
    const releases = count((d) => d.running.map((r) => `${r.component}@${r.version}`));
    expect(Object.fromEntries(f.byRelease.map((r) => [r.release, r.devices]))).toEqual(releases);
    expect(f.byRelease[0]).toMatchObject({ release: 'app@1.0.0', module: 'app', version: '1.0.0' });
    expect(f.adoptionModules).toEqual(['app']);
  });

  it('charts version adoption: devices per version at each point in time', async () => {
    const a = await fleet.api.get<AdoptionView>(`/v1/console/adoption?module=app&points=11&since=${NOW_S - 1000}`);
    expect(a).toMatchObject({ module: 'app', from: NOW_S - 1000, to: NOW_S, bucketSeconds: 100, versions: ['0.9.0', '1.0.0'] });
    expect(a.points.map((p) => p.at)).toEqual(Array.from({ length: 11 }, (_, k) => NOW_S - 1000 + k * 100));
    expect(a.points.map((p) => p.counts)).toEqual([
      { '0.9.0': 2 }, // -1000: two devices on 0.9.0 (from before the window)
      { '0.9.0': 3 }, // -900: the third joined at -950
      { '0.9.0': 2, '1.0.0': 1 }, // -800: the first moved at -850
      { '0.9.0': 2, '1.0.0': 1 },
      { '0.9.0': 2, '1.0.0': 1 },
      { '0.9.0': 2, '1.0.0': 1 }, // -500: the second moves only at -450
      { '0.9.0': 1, '1.0.0': 2 }, // -400
      { '0.9.0': 1, '1.0.0': 2 },
      { '0.9.0': 1, '1.0.0': 2 },
      { '0.9.0': 1, '1.0.0': 2 },
      { '1.0.0': 3 }, // now: the last moved at -50
    ]);
    // the whole history by default, in a bounded number of points
    const all = await fleet.api.get<AdoptionView>('/v1/console/adoption?module=app');
    expect(all.from).toBe(NOW_S - 2000);
    expect(all.points.length).toBeLessThanOrEqual(60);
    expect(all.points.at(-1)!.counts).toEqual({ '1.0.0': 3 });
    const none = await fleet.api.get<AdoptionView>('/v1/console/adoption?module=nothing');
    expect(none.versions).toEqual([]);
  });
});

describe('console: module catalog and audit filters', () => {
  let fleet: TestFleet;

  beforeAll(async () => {
    fleet = await startFleet();
    await fleet.publish('counter', 'app', '1.0.0'); // kv, telemetry
    await fleet.publish('sensor-reporter', 'app', '1.1.0'); // sensor, telemetry
    await fleet.publish('blink', 'app', '2.0.0'); // gpio, log
    await fleet.publish('counter', 'other', '0.1.0');
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it('lists versions newest first with what each added and removed in capabilities', async () => {
    const c = await fleet.api.get<ModuleCatalogView>('/v1/console/modules');
    expect(c.modules.map((m) => m.name)).toEqual(['app', 'other']);
    const app = c.modules[0].versions;
    expect(app.map((v) => [v.version, v.previous, v.added, v.removed])).toEqual([
      ['2.0.0', '1.1.0', ['gpio', 'log'], ['sensor', 'telemetry']],
      ['1.1.0', '1.0.0', ['sensor'], ['kv']],
      ['1.0.0', null, [], []],
    ]);
    expect(app[0]).toMatchObject({ size: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/), manifestDigest: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('filters the audit log by action, actor and time, newest first in pages', async () => {
    const ops = await fleet.api.post<{ id: string; token: string }>('/v1/tokens', { name: 'ops', role: 'admin' });
    const { ApiClient } = await import('../cli/client.js');
    const asOps = new ApiClient({ server: fleet.server.httpUrl, token: ops.token });
    for (const id of ['a1', 'a2', 'a3']) await asOps.post('/v1/devices', { id });
    await fleet.api.post('/v1/devices', { id: 'b1' });
    const byOps = (await fleet.api.get<{ entries: AuditEntry[] }>(`/v1/audit?actor=${ops.id}&action=device.add`)).entries;
    expect(byOps.map((e) => e.detail.devices)).toEqual([['a1'], ['a2'], ['a3']]);
    expect(byOps.every((e) => e.actor === `${ops.id} ops`)).toBe(true);
    const newest = (await fleet.api.get<{ entries: AuditEntry[] }>('/v1/audit?action=device.add&order=desc&limit=2')).entries;
    expect(newest.map((e) => e.detail.devices)).toEqual([['b1'], ['a3']]);
    const next = (await fleet.api.get<{ entries: AuditEntry[] }>(`/v1/audit?action=device.add&order=desc&limit=2&before=${newest[1].id}`)).entries;
    expect(next.map((e) => e.detail.devices)).toEqual([['a2'], ['a1']]);
    const at = newest[0].at;
    expect((await fleet.api.get<{ entries: AuditEntry[] }>(`/v1/audit?action=device.add&until=${at - 3600}`)).entries).toEqual([]);
    expect((await fleet.api.get<{ entries: AuditEntry[] }>(`/v1/audit?action=device.add&since=${at - 3600}&until=${at + 1}`)).entries.length).toBe(4);
  });
});
