// ws_echo.js - Node.js `ws` echo server, a peer of mod_websocket in
// bench/run (and the backend of the httpd mod_proxy_http peer).
//
//   node ws_echo.js PORT
//
// Listens on 127.0.0.1:PORT, path /echo; every message goes back as it came
// (text stays text, binary stays binary).  No permessage-deflate (no other
// server in the comparison does it).  ws uses bufferutil/utf-8-validate
// when installed (they are, as optional dependencies of the uWS package).
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
if (!port) {
    console.error('usage: node ws_echo.js PORT');
    process.exit(2);
}
const wss = new WebSocketServer({
    host: '127.0.0.1',
    port,
    path: '/echo',
    backlog: 4096,
    perMessageDeflate: false,
    maxPayload: 16 * 1024 * 1024,
    clientTracking: false,
});
wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
});
wss.on('listening', () => console.log(`ws ${require('ws/package.json').version} echo on 127.0.0.1:${port}/echo`));
for (const sig of ['SIGTERM', 'SIGINT'])
    process.on(sig, () => process.exit(0));
