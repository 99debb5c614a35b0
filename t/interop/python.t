# Interop: Debian's python3-websockets (10.4, asyncio client) against the
# module: text/binary echo with types preserved (0 bytes .. 1 MiB),
# fragmentation, subprotocol selection, ping/pong, close codes sent by the
# server (4001 with reason, 1000 after "Goodbye", 1009 over
# WebSocketMaxMessageSize), a clean client close, and some load: 16 MiB to a
# reader that stalls 1.5 s, 20,000 pushed messages in order, 8 concurrent
# 2 x 2 MiB echoes.
# Everything twice: ws:// on the main port, then wss:// on the TLS vhost
# (--tls: HTTP/1.1 Upgrade over TLS, no certificate verification).
# Client: t/clients/py_client.py (see there for every check).
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use InteropClient;

my @checks = qw(
    text_echo binary_echo empty_text empty_binary text_1mib binary_1mib
    fragmented_send subprotocol_chat subprotocol_preference subprotocol_bogus
    no_subprotocol_on_echo ping_pong test_push test_binary_command
    slow_reader_16mib push_20000_ordered concurrent_large_echo
    server_close_4001 goodbye_1000 small_limit_1009 small_limit_binary_1009
    client_close_1000
);

my $ok_ws = system(InteropClient::PYTHON, '-c', 'import websockets') == 0;

plan tests => 1 + 2 * (@checks + 1);

ok($ok_ws, 'Debian python3-websockets importable by ' . InteropClient::PYTHON)
    or diag('install it: apt-get install python3-websockets (scripts/deps.sh does)');

for my $t ([python => InteropClient::port()], ['python-wss' => InteropClient::tls_port(), '--tls']) {
    my ($name, $port, @tls) = @$t;
    my $run = InteropClient::run(
        name    => $name,
        timeout => 120,
        cmd     => [InteropClient::PYTHON, InteropClient::client('py_client.py'),
                    '--host', InteropClient::host(), '--port', $port, @tls],
    );
    InteropClient::assert_checks($run, @checks);
    InteropClient::assert_exit($run);
}
