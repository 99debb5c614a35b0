// ws_echo.js - Node.js `ws` echo server, a peer of mod_websocket in
// bench/run (and the backend of the httpd mod_proxy_http peer).
//
//   node ws_echo.js PORT [CERT KEY]
//
// With CERT and KEY (PEM files): wss://, the WebSocketServer on an
// https.createServer with them (bench/run's ws_tls server).
//
// Listens on 127.0.0.1:PORT, path /echo; every message goes back as it came
// (text stays text, binary stays binary).  No permessage-deflate, unless
// DEFLATE is set in the environment (bench/run's ws_pmd): then
// perMessageDeflate: true, i.e. ws's defaults (context kept both ways,
// windows of 15, messages under 1 KiB sent uncompressed, zlib on Node's
// thread pool, at most 10 at a time).  ws uses bufferutil/utf-8-validate
// when installed (they are, as optional dependencies of the uWS package).
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const [cert, key] = process.argv.slice(3, 5);
if (!port || (cert && !key)) {
    console.error('usage: node ws_echo.js PORT [CERT KEY]');
    process.exit(2);
}
const server = cert
    ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) })
    : null;
const wss = new WebSocketServer({
    ...(server ? { server } : { host: '127.0.0.1', port, backlog: 4096 }),
    path: '/echo',
    perMessageDeflate: !!process.env.DEFLATE,
    maxPayload: 16 * 1024 * 1024,
    clientTracking: false,
});
wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
});
const scheme = server ? 'wss' : 'ws';
const announce = () => console.log(`ws ${require('ws/package.json').version} echo on ${scheme}://127.0.0.1:${port}/echo${process.env.DEFLATE ? ', permessage-deflate' : ''}`);
if (server)
    server.listen({ host: '127.0.0.1', port, backlog: 4096 }, announce);
else
    wss.on('listening', announce);
for (const sig of ['SIGTERM', 'SIGINT'])
    process.on(sig, () => process.exit(0));
