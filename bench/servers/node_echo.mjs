// Node's ws as an echo server for bench/run, from the interop tests'
// locked dependencies.  node node_echo.mjs PORT
import { WebSocketServer } from '../../test/interop/node/node_modules/ws/wrapper.mjs';

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 64 << 20, perMessageDeflate: process.env.COMPRESS === '1' });
wss.on('connection', (ws, req) => {
  req.socket.setNoDelay(true);
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
