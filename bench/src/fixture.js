var __assign =
  (this && this.__assign) ||
  function () {
    __assign =
      Object.assign ||
      function (t) {
        for (var s, i = 1, n = arguments.length; i < n; i++) {
          s = arguments[i];
          for (var p in s) if (Object.hasOwn(s, p)) t[p] = s[p];
        }
        return t;
      };
    return __assign.apply(this, arguments);
  };
Object.defineProperty(exports, '__esModule', { value: true });
exports.fixture = fixture;
var node_child_process_1 = require('node:child_process');
var node_fs_1 = require('node:fs');
var node_path_1 = require('node:path');
/** Orders per MiB of an ORA database from `ora-db seed` (measured: 2.7 M orders ≈ 1041 MiB). */
var ORDERS_PER_MIB = 2600;
/**
 * A deterministic ORA-shaped database of about `sizeMib`, generated once by `ora-db seed` (fixed
 * seed and end date) and cached under bench/.fixtures.
 */
function fixture(root, sizeMib) {
  var dir = (0, node_path_1.join)(root, 'bench/.fixtures');
  (0, node_fs_1.mkdirSync)(dir, { recursive: true });
  var orders = Math.max(1000, Math.round(sizeMib * ORDERS_PER_MIB));
  var path = (0, node_path_1.join)(dir, 'ora-'.concat(orders, '.db'));
  if ((0, node_fs_1.existsSync)(path)) return path;
  var temp = ''.concat(path, '.building');
  (0, node_fs_1.rmSync)(temp, { force: true });
  console.error('bench: generating '.concat(path, ' (~').concat(sizeMib, ' MiB, ').concat(orders, ' orders)\u2026'));
  var r = (0, node_child_process_1.spawnSync)(
    process.execPath,
    [
      (0, node_path_1.join)(root, 'packages/cli/dist/ora-db.mjs'),
      'seed',
      '--db',
      temp,
      '--orders',
      String(orders),
      '--seed',
      '7',
      '--end-date',
      '2026-11-01',
      '--days',
      '1500',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: __assign(__assign({}, process.env), { ORA_LOG_LEVEL: 'warn' }) },
  );
  if (r.status !== 0) throw new Error('fixture generation failed');
  (0, node_fs_1.renameSync)(temp, path);
  console.error('bench: fixture is '.concat(((0, node_fs_1.statSync)(path).size / 1048576).toFixed(0), ' MiB'));
  return path;
}
