# Interop: Debian's python3-websockets (10.4) with permessage-deflate (its
# default offer) against /deflate (shared mode), /deflate/dedicated (context
# kept both ways, window 11) and /echo (WebSocketDeflate off): the answers
# negotiated, round trips of 4 KiB JSON and binary, compression measured in
# raw bytes on the wire and in the RSV1 bit of each frame, messages under 64
# bytes, fragmented compressed messages from the client, context takeover on
# and off, the agreed window, 50 messages from a handler thread, the message
# limit counted after inflating, and no extension where it is off.  Then the
# server's own log line for each WebSocket must show the same wire bytes as
# the client counted (DeflateLog.pm).
# Everything twice: ws:// on the main port, then wss:// on the TLS vhost.
# Client: t/clients/deflate_py.py (see there for every check).
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
    fragmented_shared fragmented_dedicated context_takeover_on context_takeover_off
    window_bits_respected thread_shared thread_dedicated inflated_size_limit
    echo_no_extension
);

my $ok_ws = system(InteropClient::PYTHON, '-c', 'import websockets') == 0;

plan tests => 1 + 2 * (@checks + 2);

ok($ok_ws, 'Debian python3-websockets importable by ' . InteropClient::PYTHON)
    or diag('install it: apt-get install python3-websockets (scripts/deps.sh does)');

for my $t (['deflate-python' => InteropClient::port()],
           ['deflate-python-wss' => InteropClient::tls_port(), '--tls']) {
    my ($name, $port, @tls) = @$t;
    my $mark = DeflateLog::mark();
    my $run = InteropClient::run(
        name    => $name,
        timeout => 120,
        cmd     => [InteropClient::PYTHON, InteropClient::client('deflate_py.py'),
                    '--host', InteropClient::host(), '--port', $port, @tls],
    );
    InteropClient::assert_checks($run, @checks);
    DeflateLog::compare($run, $mark, min => 15);
    InteropClient::assert_exit($run);
}
