// uws_echo.js - uWebSockets echo server (uWebSockets.js, as packaged by
// npm @trufflesuite/uws-js-unofficial), a peer of mod_websocket in bench/run.
//
//   node uws_echo.js PORT [CERT KEY]
//
// With CERT and KEY (PEM files): wss://, uWS.SSLApp with them as
// cert_file_name/key_file_name (bench/run's uws_tls server).
//
// DEFLATE=shared in the environment: permessage-deflate with
// SHARED_COMPRESSOR | SHARED_DECOMPRESSOR (no context kept either way);
// DEFLATE=dedicated: DEDICATED_COMPRESSOR_16KB (window 11, memLevel 4, like
// mod_websocket's dedicated mode) | SHARED_DECOMPRESSOR (bench/run's
// uws_pmd, uws_pmd_ded).
//
// Loads the package's prebuilt native binary directly: the package would
// otherwise fall back silently to a pure-JS implementation built on `ws`,
// which is not what we want to measure.  No compression (unless DEFLATE),
// no idle timeout or
// automatic pings (the client's pings keep idle connections alive), and a
// backpressure limit high enough that no echo is ever dropped.
'use strict';
const path = require('path');

const port = Number(process.argv[2]);
const [cert, key] = process.argv.slice(3, 5);
if (!port || (cert && !key)) {
    console.error('usage: node uws_echo.js PORT [CERT KEY]');
    process.exit(2);
}
const pkgDir = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
const binary = path.join(pkgDir, 'binaries',
    `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
const uWS = require(binary);   // throws if there is no native build for this Node

const deflate = process.env.DEFLATE || '';
const compression = deflate === 'shared' ? uWS.SHARED_COMPRESSOR | uWS.SHARED_DECOMPRESSOR
    : deflate === 'dedicated' ? uWS.DEDICATED_COMPRESSOR_16KB | uWS.SHARED_DECOMPRESSOR
    : uWS.DISABLED;
if (deflate && compression === uWS.DISABLED) {
    console.error(`uws_echo: DEFLATE must be shared or dedicated, not ${deflate}`);
    process.exit(2);
}
const app = cert ? uWS.SSLApp({ cert_file_name: cert, key_file_name: key }) : uWS.App();
app.ws('/echo', {
    compression,
    maxPayloadLength: 16 * 1024 * 1024,
    maxBackpressure: 256 * 1024 * 1024,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    // send()'s third argument: compress (only if negotiated; false by default)
    message: (ws, message, isBinary) => { ws.send(message, isBinary, !!deflate); },
}).listen('127.0.0.1', port, (token) => {
    if (!token) {
        console.error(`uws_echo: cannot listen on 127.0.0.1:${port}`);
        process.exit(1);
    }
    const version = require(path.join(pkgDir, 'package.json')).version;
    console.log(`uWS ${version} (${path.basename(binary)}) echo on ${cert ? 'wss' : 'ws'}://127.0.0.1:${port}/echo${deflate ? ', deflate ' + deflate : ''}`);
});
for (const sig of ['SIGTERM', 'SIGINT'])
    process.on(sig, () => process.exit(0));
