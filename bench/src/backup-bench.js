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
var __awaiter =
  (this && this.__awaiter) ||
  ((thisArg, _arguments, P, generator) => {
    function adopt(value) {
      return value instanceof P
        ? value
        : new P((resolve) => {
            resolve(value);
          });
    }
    return new (P || (P = Promise))((resolve, reject) => {
      function fulfilled(value) {
        try {
          step(generator.next(value));
        } catch (e) {
          reject(e);
        }
      }
      function rejected(value) {
        try {
          step(generator['throw'](value));
        } catch (e) {
          reject(e);
        }
      }
      function step(result) {
        result.done ? resolve(result.value) : adopt(result.value).then(fulfilled, rejected);
      }
      step((generator = generator.apply(thisArg, _arguments || [])).next());
    });
  });
var __generator =
  (this && this.__generator) ||
  ((thisArg, body) => {
    var _ = {
        label: 0,
        sent: () => {
          if (t[0] & 1) throw t[1];
          return t[1];
        },
        trys: [],
        ops: [],
      },
      f,
      y,
      t,
      g = Object.create((typeof Iterator === 'function' ? Iterator : Object).prototype);
    return (
      (g.next = verb(0)),
      (g['throw'] = verb(1)),
      (g['return'] = verb(2)),
      typeof Symbol === 'function' &&
        (g[Symbol.iterator] = function () {
          return this;
        }),
      g
    );
    function verb(n) {
      return (v) => step([n, v]);
    }
    function step(op) {
      if (f) throw new TypeError('Generator is already executing.');
      while ((g && ((g = 0), op[0] && (_ = 0)), _))
        try {
          if (
            ((f = 1),
            y &&
              (t = op[0] & 2 ? y['return'] : op[0] ? y['throw'] || ((t = y['return']) && t.call(y), 0) : y.next) &&
              !(t = t.call(y, op[1])).done)
          )
            return t;
          if (((y = 0), t)) op = [op[0] & 2, t.value];
          switch (op[0]) {
            case 0:
            case 1:
              t = op;
              break;
            case 4:
              _.label++;
              return { value: op[1], done: false };
            case 5:
              _.label++;
              y = op[1];
              op = [0];
              continue;
            case 7:
              op = _.ops.pop();
              _.trys.pop();
              continue;
            default:
              if (!((t = _.trys), (t = t.length > 0 && t[t.length - 1])) && (op[0] === 6 || op[0] === 2)) {
                _ = 0;
                continue;
              }
              if (op[0] === 3 && (!t || (op[1] > t[0] && op[1] < t[3]))) {
                _.label = op[1];
                break;
              }
              if (op[0] === 6 && _.label < t[1]) {
                _.label = t[1];
                t = op;
                break;
              }
              if (t && _.label < t[2]) {
                _.label = t[2];
                _.ops.push(op);
                break;
              }
              if (t[2]) _.ops.pop();
              _.trys.pop();
              continue;
          }
          op = body.call(thisArg, _);
        } catch (e) {
          op = [6, e];
          y = 0;
        } finally {
          f = t = 0;
        }
      if (op[0] & 5) throw op[1];
      return { value: op[0] ? op[1] : void 0, done: true };
    }
  });
Object.defineProperty(exports, '__esModule', { value: true });
exports.benchBackup = benchBackup;
var node_module_1 = require('node:module');
var node_child_process_1 = require('node:child_process');
var node_fs_1 = require('node:fs');
var node_os_1 = require('node:os');
var node_path_1 = require('node:path');
var testkit_1 = require('@ora/testkit');
var stats_js_1 = require('./stats.js');
var require = (0, node_module_1.createRequire)(import.meta.url);
function has(cmd) {
  return (0, node_child_process_1.spawnSync)('sh', ['-c', 'command -v '.concat(cmd)]).status === 0;
}
function time(fn) {
  var t = performance.now();
  fn();
  return performance.now() - t;
}
function run(cmd, args, env) {
  if (env === void 0) {
    env = process.env;
  }
  var r = (0, node_child_process_1.spawnSync)(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env });
  if (r.status !== 0) throw new Error(''.concat(cmd, ' ').concat(args.join(' '), ' failed: ').concat(r.stderr));
}
/**
 * Backup, three ways, on the same file, in alternation (A B C A B C …):
 * - ours: `backup` bundle (consistent snapshot, full integrity_check, zstd, SHA-256, round trip, manifest);
 * - the guide: `cp` + `sqlite3 … "PRAGMA integrity_check"` + `gzip -6` (its backup_database.sh);
 * - `sqlite3 .backup` alone (a consistent copy, no check, no compression).
 * Then a writer at 100 commits/s: its latency idle and during our backup.
 */
function benchBackup(root, db, runs) {
  return __awaiter(this, void 0, void 0, function () {
    var bundle,
      work,
      notes,
      canGuide,
      ours,
      guide,
      sqliteBackup,
      oursBytes,
      guideBytes,
      env,
      _loop_1,
      i,
      writerSeconds_1,
      idleWriter,
      idle,
      busyWriter,
      dir_1,
      during,
      s,
      g;
    var _a, _b, _c;
    return __generator(this, (_d) => {
      switch (_d.label) {
        case 0:
          bundle = (0, node_path_1.join)(root, 'functions/backup/dist/index.mjs');
          work = (0, node_fs_1.mkdtempSync)((0, node_path_1.join)((0, node_os_1.tmpdir)(), 'ora-bench-'));
          notes = [];
          canGuide = has('sqlite3') && has('gzip');
          if (!canGuide)
            notes.push('sqlite3 or gzip is not installed: the guide and sqlite3 .backup columns were skipped');
          ours = [];
          guide = [];
          sqliteBackup = [];
          oursBytes = 0;
          guideBytes = null;
          env = __assign(__assign({}, process.env), { ORA_LOG_LEVEL: 'warn' });
          _d.label = 1;
        case 1:
          _d.trys.push([1, , 8, 9]);
          _loop_1 = (i) => {
            var dir_2 = (0, node_path_1.join)(work, 'ours-'.concat(i));
            ours.push(time(() => run(process.execPath, [bundle, '--db', db, '--backup-dir', dir_2], env)));
            var art = (0, node_fs_1.readdirSync)(dir_2).find((f) => f.endsWith('.zst'));
            oursBytes = (0, node_fs_1.statSync)((0, node_path_1.join)(dir_2, art)).size;
            (0, node_fs_1.rmSync)(dir_2, { recursive: true, force: true });
            if (canGuide) {
              var copy_1 = (0, node_path_1.join)(work, 'guide-'.concat(i, '.db'));
              guide.push(
                time(() =>
                  run('sh', [
                    '-c',
                    'cp "'
                      .concat(db, '" "')
                      .concat(copy_1, '" && sqlite3 "')
                      .concat(copy_1, '" "PRAGMA integrity_check;" | grep -qx ok && gzip -6 "')
                      .concat(copy_1, '"'),
                  ]),
                ),
              );
              guideBytes = (0, node_fs_1.statSync)(''.concat(copy_1, '.gz')).size;
              (0, node_fs_1.rmSync)(''.concat(copy_1, '.gz'), { force: true });
              var out_1 = (0, node_path_1.join)(work, 'sqlite-'.concat(i, '.db'));
              sqliteBackup.push(time(() => run('sqlite3', [db, ".backup '".concat(out_1, "'")])));
              (0, node_fs_1.rmSync)(out_1, { force: true });
            }
            console.error(
              'bench backup: run '
                .concat(i + 1, '/')
                .concat(runs, ': ours ')
                .concat((0, stats_js_1.fmt)((_a = ours.at(-1)) !== null && _a !== void 0 ? _a : 0))
                .concat(
                  canGuide
                    ? ', guide '
                        .concat(
                          (0, stats_js_1.fmt)((_b = guide.at(-1)) !== null && _b !== void 0 ? _b : 0),
                          ', sqlite3 .backup ',
                        )
                        .concat((0, stats_js_1.fmt)((_c = sqliteBackup.at(-1)) !== null && _c !== void 0 ? _c : 0))
                    : '',
                ),
            );
          };
          for (i = 0; i < runs; i++) {
            _loop_1(i);
          }
          writerSeconds_1 = Math.max(3, Math.min(10, ((0, stats_js_1.summarize)(ours).median / 1000) * 1.2));
          return [4 /*yield*/, (0, testkit_1.startWriter)(db, { ratePerSecond: 100 })];
        case 2:
          idleWriter = _d.sent();
          return [4 /*yield*/, new Promise((r) => setTimeout(r, writerSeconds_1 * 1000))];
        case 3:
          _d.sent();
          return [4 /*yield*/, idleWriter.stop()];
        case 4:
          idle = _d.sent();
          return [4 /*yield*/, (0, testkit_1.startWriter)(db, { ratePerSecond: 100 })];
        case 5:
          busyWriter = _d.sent();
          dir_1 = (0, node_path_1.join)(work, 'ours-writer');
          return [
            4 /*yield*/,
            new Promise((resolve, reject) => {
              var child = require('node:child_process').spawn(
                process.execPath,
                [bundle, '--db', db, '--backup-dir', dir_1],
                { stdio: 'ignore', env: env },
              );
              child.once('exit', (code) =>
                code === 0 ? resolve() : reject(new Error('backup under load exited '.concat(code))),
              );
            }),
          ];
        case 6:
          _d.sent();
          return [4 /*yield*/, busyWriter.stop()];
        case 7:
          during = _d.sent();
          s = (0, stats_js_1.summarize)(ours);
          g = canGuide ? (0, stats_js_1.summarize)(guide) : null;
          return [
            2 /*return*/,
            {
              fixtureMib: Math.round((0, node_fs_1.statSync)(db).size / 1048576),
              ours: s,
              guide: g,
              sqliteBackup: canGuide ? (0, stats_js_1.summarize)(sqliteBackup) : null,
              ratioGuideOverOurs: g ? Math.round((g.median / s.median) * 100) / 100 : null,
              artifactBytes: { ours: oursBytes, guideGzip6: guideBytes },
              writer: {
                idle: idle,
                duringBackup: during,
                p99Ratio: Math.round((during.p99Ms / Math.max(idle.p99Ms, 0.001)) * 100) / 100,
              },
              notes: notes,
            },
          ];
        case 8:
          (0, node_fs_1.rmSync)(work, { recursive: true, force: true });
          return [7 /*endfinally*/];
        case 9:
          return [2 /*return*/];
      }
    });
  });
}
