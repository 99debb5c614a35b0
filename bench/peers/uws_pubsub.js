// uws_pubsub.js - uWebSockets pub/sub peer of mod_websocket in bench/run's
// fanout group: the protocol of bench/fanout_handler.c, with uWS's own
// topics (ws.subscribe, app.publish).
//
//   node uws_pubsub.js PORT
//
// On /fanout, text commands:
//   "sub <topic>"                        ws.subscribe(topic); answers "sub 0"
//                                        ("sub -1" if uWS refused)
//   "pubbench <topic> <n> <size> <seq>"  n binary messages of size bytes
//                                        (>= 16) through app.publish: seq + i
//                                        (u64 LE), then process.hrtime.bigint()
//                                        at the publish (CLOCK_MONOTONIC in
//                                        libuv on Linux, the clock wsload
//                                        reads), then '.' padding.
//
// app.publish reaches the subscribers of this process only (uWS topics do
// not cross threads or processes): it is compared with single-child
// mod_websocket.  Loads the package's native binary directly (as
// uws_echo.js does); no compression, no idle timeout, and a backpressure
// limit high enough that no publication is ever dropped for a subscriber.
'use strict';
const path = require('path');

const port = Number(process.argv[2]);
if (!port) {
    console.error('usage: node uws_pubsub.js PORT');
    process.exit(2);
}
const pkgDir = path.dirname(require.resolve('@trufflesuite/uws-js-unofficial/package.json'));
const binary = path.join(pkgDir, 'binaries',
    `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
const uWS = require(binary);

const app = uWS.App();
const buf = Buffer.alloc(65536, '.');
app.ws('/fanout', {
    compression: uWS.DISABLED,
    maxPayloadLength: 64 * 1024,
    maxBackpressure: 256 * 1024 * 1024,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    message: (ws, message, isBinary) => {
        if (isBinary) return;
        const cmd = Buffer.from(message).toString('latin1');
        if (cmd.startsWith('sub ')) {
            ws.send(ws.subscribe(cmd.slice(4)) ? 'sub 0' : 'sub -1', false);
        } else if (cmd.startsWith('pubbench ')) {
            const [topic, ns, sizes, seqs] = cmd.slice(9).split(' ');
            const n = Number(ns), size = Number(sizes);
            let seq = BigInt(seqs);
            if (!(n >= 1) || !(size >= 16) || size > buf.length) {
                ws.send('pubbench bad', false);
                return;
            }
            const msg = buf.subarray(0, size);
            for (let i = 0; i < n; i++, seq++) {
                msg.writeBigUInt64LE(seq, 0);
                msg.writeBigUInt64LE(process.hrtime.bigint(), 8);
                app.publish(topic, msg, true);
            }
        }
    },
}).listen('127.0.0.1', port, (token) => {
    if (!token) {
        console.error(`uws_pubsub: cannot listen on 127.0.0.1:${port}`);
        process.exit(1);
    }
    const version = require(path.join(pkgDir, 'package.json')).version;
    console.log(`uWS ${version} (${path.basename(binary)}) pub/sub on ws://127.0.0.1:${port}/fanout`);
});
for (const sig of ['SIGTERM', 'SIGINT'])
    process.on(sig, () => process.exit(0));
