// The JavaScript interpreter of Retort: a QuickJS component (built by
// componentize-qjs, see scripts/build-interpreters) that runs `*.js` revision
// scripts handed to it as data, through the `script-runner` world.
//
// A script is CommonJS-shaped: it sets `exports.id`, `exports.parents`,
// `exports.message` and `exports.upgrade` / `exports.downgrade` (or assigns
// `module.exports`), and reaches the database through `db` and `log`, which
// are in scope (or `require('retort')`). It runs with no WASI at all: the
// component's WASI imports are stubs that trap.

import database from 'retort:migration/database@0.1.0';
import logging from 'retort:migration/log@0.1.0';

/** The database refused a statement; `code` is its SQLSTATE or error code. */
class DatabaseError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'DatabaseError';
    this.code = code ?? null;
  }
}

// QuickJS hands 64-bit integers across the component boundary as numbers,
// exact up to 2^53: anything larger is refused rather than rounded.
function integer(v) {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`the integer ${v} is outside ±(2^53 - 1), which a JavaScript revision can bind exactly; bind it as a string`);
  }
  return { tag: 'integer', val: n };
}

function toValue(v) {
  if (v === null || v === undefined) return { tag: 'null' };
  if (typeof v === 'boolean') return { tag: 'boolean', val: v };
  if (typeof v === 'bigint') return integer(v);
  if (typeof v === 'number') return Number.isInteger(v) ? integer(v) : { tag: 'float', val: v };
  if (typeof v === 'string') return { tag: 'text', val: v };
  if (v instanceof Uint8Array) return { tag: 'blob', val: v };
  throw new TypeError(`cannot bind a ${typeof v} as a SQL parameter: use null, a boolean, a number, a string or a Uint8Array`);
}

function fromValue(v) {
  if (v.tag === 'null') return null;
  if (v.tag === 'blob') return v.val instanceof Uint8Array ? v.val : Uint8Array.from(v.val);
  return v.val;
}

function params(list) {
  if (!Array.isArray(list)) throw new TypeError('params must be an array');
  return list.map(toValue);
}

function call(f) {
  try {
    return f();
  } catch (e) {
    // An import's `error` arrives as an Error carrying the WIT payload.
    const payload = e && typeof e === 'object' && 'payload' in e ? e.payload : null;
    if (payload && typeof payload.message === 'string') {
      throw new DatabaseError(payload.message, payload.code);
    }
    throw e;
  }
}

/** The database the revision runs against. */
const db = {
  /** `"postgres"`, `"mysql"` or `"sqlite"`. */
  get dialect() { return database.dialect(); },
  /** `"online"` or `"offline"`. */
  get mode() { return database.mode(); },
  /** True when statements are recorded into a script. */
  get offline() { return database.mode() === 'offline'; },
  /** Runs one statement (`$1`..`$N` placeholders); returns rows affected (0 offline). */
  execute(sql, values = []) {
    return Number(call(() => database.execute(sql, params(values))));
  },
  /** Runs one statement that returns rows: an array of arrays, with `.columns`. Fails offline. */
  query(sql, values = []) {
    const result = call(() => database.query(sql, params(values)));
    const rows = result.values.map((row) => row.map(fromValue));
    rows.columns = result.columns;
    return rows;
  },
};

function say(level) {
  return (message) => logging.log(level, String(message));
}

/** Messages to the person running the migration. `log(m)` is `log.info(m)`. */
const log = Object.assign(say('info'), {
  trace: say('trace'),
  debug: say('debug'),
  info: say('info'),
  warn: say('warn'),
  error: say('error'),
});

const retort = Object.freeze({ db, log, DatabaseError });

function require(name) {
  if (name === 'retort') return retort;
  throw new Error(`cannot require '${name}': a revision script can require only 'retort'`);
}

// The wrapper's header shares the script's first line, so line numbers in
// stack traces are the script's own.
const HEADER = '(function (module, exports, require, db, log, DatabaseError) {';

function lineOf(e, path) {
  const stack = String((e && e.stack) || '');
  for (const name of [path, '<input>', '<eval>', 'eval_script']) {
    const at = stack.indexOf(name + ':');
    if (at >= 0) {
      const line = parseInt(stack.slice(at + name.length + 1), 10);
      if (line > 0) return line;
    }
  }
  if (e && e.lineNumber > 0) return e.lineNumber;
  return null;
}

function failure(script, e) {
  const message = e instanceof Error ? `${e.name}: ${e.message}` : `uncaught ${String(e)}`;
  return { message, line: lineOf(e, script.path) };
}

// Exports of the scripts this instance has loaded. An instance serves one
// call (the host checks `info` and runs `upgrade` in the same one), so the
// module body runs once per call.
const loaded = new Map();

function load(script) {
  const key = `${script.path}\0${script.source}`;
  if (loaded.has(key)) return loaded.get(key);
  const module = { exports: {} };
  try {
    const body = `${HEADER}${script.source}\n})\n//# sourceURL=${script.path}`;
    const factory = (0, eval)(body);
    factory(module, module.exports, require, db, log, DatabaseError);
  } catch (e) {
    throw failure(script, e);
  }
  loaded.set(key, module.exports);
  return module.exports;
}

function strings(m, name) {
  const v = m[name];
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  throw { message: `\`${name}\` must be a string, an array of strings or null`, line: null };
}

function run(script, name) {
  const m = load(script);
  if (typeof m[name] !== 'function') {
    throw { message: `the script exports no \`${name}\` function`, line: null };
  }
  try {
    m[name]();
  } catch (e) {
    throw failure(script, e);
  }
}

export function info(script) {
  const m = load(script);
  if (typeof m.id !== 'string') {
    throw { message: 'the script must export its id: exports.id = "<revision id>"', line: null };
  }
  return {
    id: m.id,
    downRevisions: strings(m, 'parents'),
    message: String(m.message ?? ''),
    branchLabels: strings(m, 'branchLabels'),
    dependsOn: strings(m, 'dependsOn'),
    transactional: m.transactional !== false,
  };
}

export function upgrade(script) {
  run(script, 'upgrade');
}

export function downgrade(script) {
  run(script, 'downgrade');
}
