// The container image's node_modules: the packages the bundle loads at run time (bundle-external.mjs) and
// the packages they need, found through package-lock.json as Node.js resolves them; every other installed
// package is removed (the bundle carries its code). The Dockerfile runs it with --remove in the image's build
// stage, after the bundle; without --remove it only says what it would remove (a project's own node_modules
// needs every package: the tests and the build use them).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { EXTERNAL } from './bundle-external.mjs';

const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
/** Installed packages by their path ("node_modules/a", "node_modules/a/node_modules/b"). */
const packages = lock.packages;

/** Where Node.js finds `name` when `from` (a package's path, or "" for the project) requires it. */
function resolve(from, name) {
  for (let base = from; ; base = base.slice(0, Math.max(0, base.lastIndexOf('/node_modules/')))) {
    const path = base === '' ? `node_modules/${name}` : `${base}/node_modules/${name}`;
    if (packages[path] !== undefined) return path;
    if (base === '') return undefined;
  }
}

const keep = new Set();
const pending = EXTERNAL.map((name) => {
  const path = resolve('', name);
  if (path === undefined) throw new Error(`image-modules: ${name} is not installed`);
  return path;
});
while (pending.length > 0) {
  const path = pending.pop();
  if (keep.has(path)) continue;
  keep.add(path);
  const { dependencies = {}, optionalDependencies = {}, peerDependencies = {} } = packages[path];
  for (const name of Object.keys({ ...dependencies, ...optionalDependencies, ...peerDependencies })) {
    const found = resolve(path, name);
    // An optional dependency of another platform, or a peer nobody installed, is simply absent.
    if (found !== undefined) pending.push(found);
  }
}

const remove = process.argv.includes('--remove');
let removed = 0;
for (const path of Object.keys(packages)) {
  if (path === '' || keep.has(path) || !existsSync(path)) continue;
  if (remove) rmSync(path, { recursive: true, force: true });
  removed += 1;
}
process.stdout.write(
  `image-modules: ${keep.size} packages kept (${[...keep].join(', ')}), ${removed} ${remove ? 'removed' : 'would be removed (--remove removes them)'}\n`,
);
