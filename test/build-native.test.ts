/**
 * scripts/build-native.mjs where the addon cannot be built: the package's install hook (`--optional`) must never fail
 * the install (one line, exit 0: the library then runs on the cpu backend), `npm run build:native` must fail on a
 * broken compile, and a oneDNN of another major version is skipped with a line saying why. Run on a copy of the
 * script and sources against fake oneDNN folders, so the real build is untouched.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { REPO_ROOT } from './train-fixtures.js';

let dir: string;

/** A fake oneDNN install prefix whose dnnl.hpp is `header` and whose version header says `major`. */
function fakeDnnl(name: string, header: string, major: number): string {
  const prefix = join(dir, name);
  mkdirSync(join(prefix, 'include', 'oneapi', 'dnnl'), { recursive: true });
  mkdirSync(join(prefix, 'lib'), { recursive: true });
  writeFileSync(join(prefix, 'include', 'oneapi', 'dnnl', 'dnnl.hpp'), header);
  writeFileSync(join(prefix, 'include', 'oneapi', 'dnnl', 'dnnl_version.h'), `#define DNNL_VERSION_MAJOR ${major}\n`);
  writeFileSync(join(prefix, 'lib', 'libdnnl.so'), '');
  return prefix;
}

/** Runs the copied build script with `args` against the oneDNN at `prefix`. */
function build(prefix: string, args: string[] = []): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [join(dir, 'pkg', 'scripts', 'build-native.mjs'), ...args], {
    env: { ...process.env, DNNL_ROOT: prefix, NATIVE_JOBS: '1' },
    encoding: 'utf8',
  });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'resnet-build-native-'));
  const pkg = join(dir, 'pkg');
  cpSync(join(REPO_ROOT, 'scripts', 'build-native.mjs'), join(pkg, 'scripts', 'build-native.mjs'));
  cpSync(join(REPO_ROOT, 'src', 'native'), join(pkg, 'src', 'native'), { recursive: true });
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(pkg, 'node_modules'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('a compile that fails: --optional says so in one line and exits 0; without it the build fails', () => {
  const broken = fakeDnnl('broken', '#error this oneDNN is broken\n', 2);
  const optional = build(broken, ['--optional']);
  assert.equal(optional.status, 0, optional.stderr);
  const last = optional.stdout.trim().split('\n').pop();
  assert.equal(last, `build-native: compilation failed, so the onednn backend is not built and the library will use tfjs's cpu backend; run \`npm run build:native\` in ${join(dir, 'pkg')} to see why`);
  const strict = build(broken);
  assert.equal(strict.status, 1);
  assert.match(strict.stderr, /build-native: compilation failed\n$/);
});

test('oneDNN 3 is skipped with a line saying the backend needs 2.x', () => {
  const v3 = fakeDnnl('v3', '\n', 3);
  const r = build(v3);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `oneDNN 3.x found under ${v3}: the onednn backend needs oneDNN 2.x (Debian 12's libdnnl-dev), so it will not be built\n`);
});
