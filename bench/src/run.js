var __spreadArray =
  (this && this.__spreadArray) ||
  function (to, from, pack) {
    if (pack || arguments.length === 2)
      for (var i = 0, l = from.length, ar; i < l; i++) {
        if (ar || !(i in from)) {
          if (!ar) ar = Array.prototype.slice.call(from, 0, i);
          ar[i] = from[i];
        }
      }
    return to.concat(ar || Array.prototype.slice.call(from));
  };
var _a, _b, _c, _d, _e;
Object.defineProperty(exports, '__esModule', { value: true });
// pnpm bench [--quick] [--runs N] [--size-mib N]: runs the benchmarks, prints a Markdown table,
// writes bench/results/<date>.json. Figures are ratios of medians taken in alternation.
var node_fs_1 = require('node:fs');
var node_os_1 = require('node:os');
var node_path_1 = require('node:path');
var node_url_1 = require('node:url');
var backup_bench_js_1 = require('./backup-bench.js');
var fixture_js_1 = require('./fixture.js');
var stats_js_1 = require('./stats.js');
var root = (0, node_path_1.join)((0, node_path_1.dirname)((0, node_url_1.fileURLToPath)(import.meta.url)), '../..');
var args = process.argv.slice(2);
var quick = args.includes('--quick');
var arg = (name, fallback) => {
  var i = args.indexOf(name);
  var v = i >= 0 ? Number(args[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) {
    console.error('bench: '.concat(name, ' takes a positive number'));
    process.exit(2);
  }
  return v;
};
var sizeMib = arg('--size-mib', quick ? 100 : 1024);
var runs = arg('--runs', quick ? 2 : 3);
var machine = ''
  .concat((0, node_os_1.cpus)().length, ' \u00D7 ')
  .concat(
    (_b = (_a = (0, node_os_1.cpus)()[0]) === null || _a === void 0 ? void 0 : _a.model) !== null && _b !== void 0
      ? _b
      : 'cpu',
    ', ',
  )
  .concat(((0, node_os_1.totalmem)() / 2 ** 30).toFixed(0), ' GiB RAM, Node ')
  .concat(process.version);
var db = (0, fixture_js_1.fixture)(root, sizeMib);
var backup = await (0, backup_bench_js_1.benchBackup)(root, db, runs);
var pass = (ok) => (ok ? 'met' : '**missed**');
var lines = __spreadArray(
  [
    '## Backup ('
      .concat(backup.fixtureMib, ' MiB ORA database, ')
      .concat(runs, ' runs each in alternation; ')
      .concat(machine, ')'),
    '',
    '| procedure | min | median | max | artifact |',
    '|---|---|---|---|---|',
    '| ora-db backup (snapshot + integrity_check + zstd + SHA-256 + round trip + manifest) | '
      .concat((0, stats_js_1.fmt)(backup.ours.min), ' | ')
      .concat((0, stats_js_1.fmt)(backup.ours.median), ' | ')
      .concat((0, stats_js_1.fmt)(backup.ours.max), ' | ')
      .concat((backup.artifactBytes.ours / 1048576).toFixed(1), ' MiB |'),
    backup.guide
      ? '| guide: cp + integrity_check + gzip -6 | '
          .concat((0, stats_js_1.fmt)(backup.guide.min), ' | ')
          .concat((0, stats_js_1.fmt)(backup.guide.median), ' | ')
          .concat((0, stats_js_1.fmt)(backup.guide.max), ' | ')
          .concat(
            (((_c = backup.artifactBytes.guideGzip6) !== null && _c !== void 0 ? _c : 0) / 1048576).toFixed(1),
            ' MiB |',
          )
      : '| guide: skipped | | | | |',
    backup.sqliteBackup
      ? '| sqlite3 .backup (copy only) | '
          .concat((0, stats_js_1.fmt)(backup.sqliteBackup.min), ' | ')
          .concat((0, stats_js_1.fmt)(backup.sqliteBackup.median), ' | ')
          .concat((0, stats_js_1.fmt)(backup.sqliteBackup.max), ' | uncompressed |')
      : '| sqlite3 .backup: skipped | | | | |',
    '',
    '| target | figure | status |',
    '|---|---|---|',
    '| backup \u2265 3x faster than the guide (aim 4x) | '
      .concat((_d = backup.ratioGuideOverOurs) !== null && _d !== void 0 ? _d : 'n/a', 'x | ')
      .concat(backup.ratioGuideOverOurs === null ? 'n/a' : pass(backup.ratioGuideOverOurs >= 3), ' |'),
    "| artifact \u2264 gzip -6's | "
      .concat((backup.artifactBytes.ours / 1048576).toFixed(1), ' vs ')
      .concat(
        (((_e = backup.artifactBytes.guideGzip6) !== null && _e !== void 0 ? _e : 0) / 1048576).toFixed(1),
        ' MiB | ',
      )
      .concat(
        backup.artifactBytes.guideGzip6 === null
          ? 'n/a'
          : pass(backup.artifactBytes.ours <= backup.artifactBytes.guideGzip6),
        ' |',
      ),
    '| writer p99 during backup \u2264 2x idle, no failed write | idle p99 '
      .concat(backup.writer.idle.p99Ms.toFixed(2), ' ms, during ')
      .concat(backup.writer.duringBackup.p99Ms.toFixed(2), ' ms (')
      .concat(backup.writer.p99Ratio, 'x), failures ')
      .concat(backup.writer.duringBackup.failures, ' | ')
      .concat(pass(backup.writer.p99Ratio <= 2 && backup.writer.duringBackup.failures === 0), ' |'),
  ],
  backup.notes.map((n) => '\nNote: '.concat(n)),
  true,
);
console.log(lines.join('\n'));
(0, node_fs_1.mkdirSync)((0, node_path_1.join)(root, 'bench/results'), { recursive: true });
var file = (0, node_path_1.join)(
  root,
  'bench/results/'.concat(new Date().toISOString().slice(0, 10)).concat(quick ? '-quick' : '', '.json'),
);
(0, node_fs_1.writeFileSync)(
  file,
  ''.concat(
    JSON.stringify({ machine: machine, quick: quick, sizeMib: sizeMib, runs: runs, backup: backup }, null, 2),
    '\n',
  ),
);
console.error('bench: results written to '.concat(file));
