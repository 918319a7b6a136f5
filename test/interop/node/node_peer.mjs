// A peer written with Node's ws, a WebSocket implementation that Tether's
// authors did not write.
//   node node_peer.mjs client ws://127.0.0.1:PORT   checks a Tether server, exit 0 on success
//   node node_peer.mjs server                        echo server; prints its port, exits on /shutdown
import { randomBytes } from 'node:crypto';
import { WebSocket, WebSocketServer } from 'ws';

const sizes = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20];
const fail = (why) => { console.error('node client: ' + why); process.exit(1); };
const check = (ok, why) => { if (!ok) fail(why); };

function open(url, protocols, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { maxPayload: 32 << 20, ...options });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (req, res) => reject(new Error('status ' + res.statusCode)));
    ws.once('error', reject);
  });
}

const next = (ws) => new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data, isBinary })));
const closed = (ws) => new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));

async function checkEcho(base, options) {
  const ws = await open(base + '/echo', [], options);
  for (const size of sizes) {
    const text = Array.from({ length: size }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    const binary = Buffer.from(Array.from({ length: size }, (_, i) => i % 251));
    for (const [payload, isBinary] of [[text, false], [binary, true]]) {
      const reply = next(ws);
      ws.send(payload, { binary: isBinary });
      const got = await reply;
      check(got.isBinary === isBinary, `kind of ${size}-byte echo`);
      check(Buffer.compare(Buffer.from(got.data), Buffer.from(payload)) === 0, `${size}-byte echo differs`);
    }
  }
  // A fragmented message comes back whole.
  const whole = next(ws);
  ws.send('frag', { fin: false });
  ws.send('men', { fin: false });
  ws.send('ted', { fin: true });
  check((await whole).data.toString() === 'fragmented', 'fragmented echo');
  const pong = new Promise((resolve) => ws.once('pong', (data) => resolve(data.toString())));
  ws.ping('are you there');
  check((await pong) === 'are you there', 'pong payload');
  const done = closed(ws);
  ws.close(4000, 'bye');
  check((await done).code === 4000, 'server answered our close with another code');
}

// Highly compressible, repeated and incompressible messages: inflaters
// have failed on exactly these (Beast 1.81, its issue #3028).
function* stressMessages() {
  for (const size of [64 << 10, 1 << 20, 16 << 20]) {
    yield [Buffer.alloc(size, 0x41), true];
    yield ['tether! '.repeat(size / 8), false];
    yield [randomBytes(size), true];
  }
}

async function checkCompression(base, path, options) {
  const ws = await open(base + path, [], options);
  check(ws.extensions.startsWith('permessage-deflate'), `negotiated "${ws.extensions}" on ${path}`);
  for (const [payload, isBinary] of stressMessages()) {
    const reply = next(ws);
    ws.send(payload, { binary: isBinary });
    const got = await reply;
    check(Buffer.compare(Buffer.from(got.data), Buffer.from(payload)) === 0, `compressed echo of ${payload.length} bytes on ${path}`);
  }
  // A long run of small messages, all in flight at once.
  const small = Array.from({ length: 2000 }, (_, i) => JSON.stringify({ seq: i, kind: 'tick', value: i % 7 }));
  const received = [];
  const all = new Promise((resolve) => ws.on('message', (data) => { received.push(data.toString()); if (received.length === small.length) resolve(); }));
  for (const m of small) ws.send(m);
  await all;
  check(received.every((m, i) => m === small[i]), `small messages differ on ${path}`);
  ws.close();
}

async function client(base) {
  await checkEcho(base, { perMessageDeflate: false });
  await checkEcho(base, {}); // offers permessage-deflate; /echo does not compress
  await checkCompression(base, '/deflate', { perMessageDeflate: { threshold: 0 } });
  await checkCompression(base, '/deflate-takeover', { perMessageDeflate: { threshold: 0 } });
  const sub = await open(base + '/sub', ['v1', 'v2']);
  check(sub.protocol === 'v2', 'chose ' + sub.protocol);
  sub.close();
  const closing = await open(base + '/close', []);
  const why = await closed(closing);
  check(why.code === 4001 && why.reason === 'done', `server close was ${why.code} ${why.reason}`);
  try {
    await open(base + '/missing', []);
    fail('expected a refusal');
  } catch (e) {
    check(e.message === 'status 404', e.message);
  }
  console.log('node client: all checks passed');
}

function server() {
  const wss = new WebSocketServer({
    host: '127.0.0.1', port: 0, maxPayload: 32 << 20, perMessageDeflate: true,
    handleProtocols: (protocols) => (protocols.has('v1') ? 'v1' : false),
  });
  wss.on('listening', () => console.log(wss.address().port));
  wss.on('connection', (ws, req) => {
    if (req.url === '/shutdown') { ws.close(); wss.close(); setTimeout(() => process.exit(0), 100); return; }
    if (req.url === '/close4001') { ws.close(4001, 'server says bye'); return; }
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  setTimeout(() => process.exit(2), 120000).unref();
}

const [mode, url] = process.argv.slice(2);
if (mode === 'client') {
  setTimeout(() => fail('timed out'), 60000).unref();
  client(url).catch((e) => fail(e.message));
} else if (mode === 'server') {
  server();
} else {
  fail('usage: node_peer.mjs client URL | server');
}
