#!/usr/bin/env node
/**
 * Builds the native oneDNN addon `build/Release/onednn_backend.node` from `src/native/**\/*.cc`.
 *
 * - Calls g++ directly (no node-gyp: it would download Node's headers). Node-API headers come from the
 *   `node-api-headers` package, the C++ wrapper from `node-addon-api`.
 * - Incremental: a `.cc` is recompiled when it, any header under `src/native`, or this script is newer than its
 *   object file; the addon is relinked when an object is newer than it. A no-op build takes milliseconds.
 * - If oneDNN (`libdnnl-dev`) or g++ is missing, prints one line saying so and exits 0: the library then runs on
 *   the tfjs `cpu` backend.
 * - Only oneDNN 2.x (Debian 12's libdnnl-dev is 2.6.3) builds: oneDNN 3 removed the operation descriptors the addon
 *   uses. Another major version is skipped like a missing one.
 * - Compile errors fail the build (exit 1), except with `--optional` (the package's install hook): then one line says
 *   that the backend was not built and how to see why, and the exit code is 0, so that installing the package never
 *   fails for want of the fast backend. The addon is written to a temporary file and renamed into place, so a failed
 *   link never leaves a half-written addon.
 *
 * Environment: `DNNL_ROOT` (a oneDNN install prefix with include/ and lib/), `CXX` (compiler, default g++),
 * `NATIVE_JOBS` (parallel compiles, default: number of CPUs), `NATIVE_DEBUG=1` (-O0 -g instead of -O3).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = join(root, 'src', 'native');
const objDir = join(root, 'build', 'obj');
const outFile = join(root, 'build', 'Release', 'onednn_backend.node');
const selfFile = fileURLToPath(import.meta.url);
const require = createRequire(import.meta.url);
const cxx = process.env.CXX || 'g++';
/** Whether a failed compile or link is reported and skipped rather than failing (the install hook). */
const optional = process.argv.includes('--optional');

/** A failed build: an error (exit 1), or with --optional one line and exit 0 (the cpu backend is used instead). */
function fail(what) {
  if (!optional) {
    console.error(`build-native: ${what} failed`);
    process.exit(1);
  }
  console.log(`build-native: ${what} failed, so the onednn backend is not built and the library will use tfjs's cpu backend; ` +
    `run \`npm run build:native\` in ${root} to see why`);
  process.exit(0);
}

/** Prints why the addon is not built and exits successfully, so the TypeScript build can go on. */
function skip(message) {
  console.log(message);
  process.exit(0);
}

/** Every file under `dir` (recursively) whose name ends with one of `exts`. */
function listFiles(dir, exts) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) out.push(p);
  }
  return out.sort();
}

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : -Infinity);

/** The oneDNN include and library directories, or null when oneDNN is not installed. */
function findDnnl() {
  const prefixes = [process.env.DNNL_ROOT, '/usr', '/usr/local', '/opt/intel/oneapi/dnnl/latest'].filter(Boolean);
  for (const prefix of prefixes) {
    const inc = join(prefix, 'include');
    if (!existsSync(join(inc, 'oneapi', 'dnnl', 'dnnl.hpp'))) continue;
    const version = join(inc, 'oneapi', 'dnnl', 'dnnl_version.h');
    const major = existsSync(version) ? /#define\s+DNNL_VERSION_MAJOR\s+(\d+)/.exec(readFileSync(version, 'utf8'))?.[1] : undefined;
    if (major !== undefined && major !== '2') {
      skip(`oneDNN ${major}.x found under ${prefix}: the onednn backend needs oneDNN 2.x (Debian 12's libdnnl-dev), so it will not be built`);
    }
    const libDirs = [join(prefix, 'lib'), join(prefix, 'lib64'), join(prefix, 'lib', 'x86_64-linux-gnu')];
    const lib = libDirs.find((d) => existsSync(join(d, 'libdnnl.so')));
    if (lib) return { inc, lib };
  }
  return null;
}

function main() {
  const sources = listFiles(srcDir, ['.cc']);
  if (sources.length === 0) skip('build-native: no sources under src/native; nothing to build');
  const dnnl = findDnnl();
  if (!dnnl) {
    skip('libdnnl-dev not found: the onednn backend will not be built; run `apt-get install libdnnl-dev`');
  }
  if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) {
    skip(`${cxx} not found: the onednn backend will not be built; run \`apt-get install g++\``);
  }

  const napiInclude = require('node-api-headers').include_dir;
  const addonInclude = require('node-addon-api').include_dir;
  const debug = process.env.NATIVE_DEBUG === '1';
  const cflags = [
    '-std=c++17',
    ...(debug ? ['-O0', '-g'] : ['-O3']),
    '-fopenmp',
    '-fPIC',
    '-fvisibility=hidden',
    '-Wall',
    '-Wextra',
    '-Wno-unused-parameter',
    '-DNAPI_VERSION=8',
    '-DNODE_ADDON_API_DISABLE_DEPRECATED',
    '-DNODE_ADDON_API_CPP_EXCEPTIONS',
    '-DNODE_ADDON_API_CPP_EXCEPTIONS_ALL',
    `-I${napiInclude}`,
    `-I${addonInclude}`,
    `-I${dnnl.inc}`,
    `-I${srcDir}`,
  ];
  const ldflags = ['-shared', '-fopenmp', `-L${dnnl.lib}`, `-Wl,-rpath,${dnnl.lib}`, '-ldnnl', '-lgomp'];

  // Any header change, or a change to this script (flags), recompiles everything.
  const headersTime = Math.max(selfFile ? mtime(selfFile) : 0, ...listFiles(srcDir, ['.h', '.hpp']).map(mtime));
  mkdirSync(objDir, { recursive: true });
  mkdirSync(dirname(outFile), { recursive: true });

  const objects = sources.map((src) => join(objDir, relative(srcDir, src).replace(/[\\/]/g, '__').replace(/\.cc$/, '.o')));
  const stale = sources
    .map((src, i) => ({ src, obj: objects[i] }))
    .filter(({ src, obj }) => mtime(obj) < Math.max(mtime(src), headersTime));
  // Objects of deleted sources must not be linked.
  for (const f of listFiles(objDir, ['.o'])) if (!objects.includes(f)) rmSync(f);

  const jobs = Math.max(1, Number(process.env.NATIVE_JOBS) || cpus().length);
  let failed = false;
  const compileAll = async () => {
    const queue = [...stale];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        console.log(`build-native: compiling ${relative(root, item.src)}`);
        const tmp = `${item.obj}.tmp`;
        const code = await run(cxx, [...cflags, '-c', item.src, '-o', tmp]);
        if (code === 0) renameSync(tmp, item.obj);
        else {
          rmSync(tmp, { force: true });
          failed = true;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker));
  };

  return compileAll().then(async () => {
    if (failed) fail('compilation');
    if (stale.length === 0 && mtime(outFile) >= Math.max(...objects.map(mtime))) {
      return; // up to date
    }
    const tmp = `${outFile}.tmp`;
    const code = await run(cxx, [...objects, '-o', tmp, ...ldflags]);
    if (code !== 0) {
      rmSync(tmp, { force: true });
      fail('linking');
    }
    renameSync(tmp, outFile);
    console.log(`build-native: wrote ${relative(root, outFile)}`);
  });
}

/** Runs a command with inherited stdio; resolves to its exit code. */
function run(cmd, args) {
  return new Promise((resolvePromise) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('error', () => resolvePromise(127));
    child.on('close', (code) => resolvePromise(code ?? 1));
  });
}

await main();
