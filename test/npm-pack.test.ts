/**
 * The npm package as users get it: `npm pack`, install the tarball into an empty project, build the
 * native RoCE addon there (`npm rebuild numaplan`: npm's implicit `node-gyp rebuild` for a package
 * with a binding.gyp), and use `io: 'native'` from the installed copy: a loopback RDMA WRITE between
 * two endpoints over the addon's batched socket.
 *
 * Dependencies come from the npm cache that `npm ci` filled (--prefer-offline); install scripts of the
 * dependencies are not run (the test needs none of their native parts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './support/data.js';
import { tool } from './support/tools.js';

const have = tool('npm') && tool('g++') && tool('make') && tool('python3') && process.platform === 'linux';

describe.skipIf(!have)('npm package: pack, install the tarball, build the addon, io: native', () => {
  const dir = mkdtempSync(join(tmpdir(), 'numaplan-pack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the tarball ships binding.gyp and the whole native/ folder, and io: native works from it', () => {
    expect(existsSync(join(REPO_ROOT, 'dist', 'index.js')), 'dist/ is built by `npm run build` (npm test does it)').toBe(true);
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: REPO_ROOT, encoding: 'utf8' })) as {
      filename: string;
      files: { path: string }[];
    }[];
    const files = (packed[0]?.files ?? []).map((f) => f.path);
    expect(files).toContain('binding.gyp');
    const native = readdirSync(join(REPO_ROOT, 'native')).map((f) => `native/${f}`);
    for (const f of native) expect(files, `the tarball lacks ${f}`).toContain(f);
    expect(files).toContain('dist/rdma/index.js');

    const project = join(dir, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    const tarball = join(dir, packed[0]?.filename as string);
    const install = spawnSync('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: project, encoding: 'utf8' });
    expect(install.status, install.stderr).toBe(0);
    const rebuild = spawnSync('npm', ['rebuild', 'numaplan', '--foreground-scripts'], { cwd: project, encoding: 'utf8' });
    expect(rebuild.status, `${rebuild.stdout}\n${rebuild.stderr}`).toBe(0);
    expect(existsSync(join(project, 'node_modules', 'numaplan', 'build', 'Release', 'roce_udp.node'))).toBe(true);
    // The probe helper is built with it, and `numaplan probe` runs from the installed copy.
    expect(existsSync(join(project, 'node_modules', 'numaplan', 'build', 'Release', 'numaplan_probe'))).toBe(true);
    const probe = spawnSync(process.execPath, [join(project, 'node_modules', 'numaplan', 'bin', 'numaplan.js'), 'probe', '--quick', '--buffer', '32M', '--json', '--no-progress'], { cwd: project, encoding: 'utf8' });
    expect(probe.status, probe.stderr).toBe(0);
    expect(JSON.parse(probe.stdout)).toMatchObject({ schema: 'numaplan.probe/v1', verified: true });

    // The README's RDMA example over native socket I/O, from the installed package.
    const script = `
      import { ACCESS, RdmaDevice, connectPair, openUdpTransport } from 'numaplan/rdma';
      const ta = await openUdpTransport({ address: '127.0.0.1', port: 0, io: 'native' });
      const tb = await openUdpTransport({ address: '127.0.0.1', port: 0, io: 'native' });
      const a = new RdmaDevice(ta), b = new RdmaDevice(tb);
      const pdA = a.allocPd(), pdB = b.allocPd(), cqA = a.createCq(), cqB = b.createCq();
      const qpA = a.createQp(pdA, { sendCq: cqA, recvCq: cqA }), qpB = b.createQp(pdB, { sendCq: cqB, recvCq: cqB });
      const bufA = Buffer.alloc(4096), bufB = Buffer.alloc(4096);
      const mrA = pdA.regMr(bufA, ACCESS.LOCAL_WRITE);
      const mrB = pdB.regMr(bufB, ACCESS.LOCAL_WRITE | ACCESS.REMOTE_WRITE);
      connectPair(qpA, qpB, { pathMtu: 1024 });
      bufA.write('hello native');
      qpA.postSend({ wrId: 1, opcode: 'rdma-write', sgList: [{ addr: mrA.addr, length: 12, lkey: mrA.lkey }], remoteAddr: mrB.addr, rkey: mrB.rkey });
      const wc = await cqA.next();
      console.log(JSON.stringify({ io: ta.io, status: wc.status, landed: bufB.toString('utf8', 0, 12) }));
      await a.close(); await b.close();
    `;
    writeFileSync(join(project, 'check.mjs'), script);
    const r = spawnSync(process.execPath, ['check.mjs'], { cwd: project, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop() as string)).toEqual({ io: 'native', status: 'success', landed: 'hello native' });
  }, 300_000);
});
