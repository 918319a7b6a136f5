// Node's ws as a broadcast server for bench/run, the way its README
// broadcasts: every message on /publish is sent to each client of
// /subscribe.  node node_broadcast.mjs PORT
import { WebSocketServer, WebSocket } from '../../test/interop/node/node_modules/ws/wrapper.mjs';

const port = Number(process.argv[2]);
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 64 << 20 });
const subscribers = new Set();
wss.on('connection', (ws, req) => {
  req.socket.setNoDelay(true);
  if (req.url === '/subscribe') {
    subscribers.add(ws);
    ws.on('close', () => subscribers.delete(ws));
  } else {
    ws.on('message', (data, isBinary) => {
      for (const s of subscribers) if (s.readyState === WebSocket.OPEN) s.send(data, { binary: isBinary });
    });
  }
});
