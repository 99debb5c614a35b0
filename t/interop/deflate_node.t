# Interop: npm `ws` (8.x on Node) with perMessageDeflate against /deflate
# (shared mode), /deflate/dedicated (context kept both ways, window 11) and
# /echo (WebSocketDeflate off): the answers to ws's default offer and to
# clientNoContextTakeover, serverNoContextTakeover and smaller windows (each
# then seen in the wire sizes of repeated messages), round trips of 4 KiB
# JSON and binary, compression measured in socket bytes, plain echoes under
# 64 bytes, fragmented compressed sends (fin:false, compress:true), 50
# pipelined messages, 50 messages from a handler thread, the limit counted
# after inflating, and no extension where it is off.  Then the server's log
# line for each WebSocket must show the bytes the client counted
# (DeflateLog.pm).
# Everything twice: ws:// on the main port, then wss:// on the TLS vhost.
# Client: t/clients/deflate_node.js (npm ci in t/clients installs `ws`).
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use InteropClient;
use DeflateLog;

my @checks = qw(
    negotiated_shared negotiated_dedicated roundtrip_shared roundtrip_dedicated
    wire_compressed_shared wire_compressed_dedicated short_messages
    fragmented_shared fragmented_dedicated fragmented_small_threshold0
    context_takeover_on context_takeover_off client_no_context_takeover
    server_no_context_takeover window_bits_offer pipelined_50
    thread_shared thread_dedicated inflated_size_limit echo_no_extension
);

plan tests => 1 + 2 * (@checks + 2);

my $ws_pkg = InteropClient::client('node_modules/ws/package.json');
ok(-e $ws_pkg, 'npm package ws installed in t/clients')
    or diag("missing $ws_pkg: run `npm ci` in t/clients (scripts/deps.sh does)");

for my $t (['deflate-node-ws' => InteropClient::port()],
           ['deflate-node-wss' => InteropClient::tls_port(), '--tls']) {
    my ($name, $port, @tls) = @$t;
    my $mark = DeflateLog::mark();
    my $run = InteropClient::run(
        name    => $name,
        timeout => 120,
        cmd     => [InteropClient::node(), InteropClient::client('deflate_node.js'),
                    '--host', InteropClient::host(), '--port', $port, @tls],
    );
    InteropClient::assert_checks($run, @checks);
    DeflateLog::compare($run, $mark, min => 19);
    InteropClient::assert_exit($run);
}
