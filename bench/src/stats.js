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
Object.defineProperty(exports, '__esModule', { value: true });
exports.fmt = void 0;
exports.summarize = summarize;
function summarize(values) {
  var _a, _b;
  var sorted = __spreadArray([], values, true).sort((a, b) => a - b);
  var mid = Math.floor(sorted.length / 2);
  var median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return {
    runs: values,
    min: (_a = sorted[0]) !== null && _a !== void 0 ? _a : 0,
    median: median,
    max: (_b = sorted.at(-1)) !== null && _b !== void 0 ? _b : 0,
  };
}
var fmt = (ms) => (ms >= 1000 ? ''.concat((ms / 1000).toFixed(2), ' s') : ''.concat(ms.toFixed(0), ' ms'));
exports.fmt = fmt;
