# Interop: npm `ws` (8.x on Node) as the client: text/binary echo (binary
# arrives as binary), 0 bytes .. 1 MiB, subprotocol selection, ping -> pong
# event, close codes sent by the server (4001/1000/1009), 50 messages sent
# back-to-back echoed in order, and a clean client close.
# Everything twice: ws:// on the main port, then wss:// on the TLS vhost
# (--tls: HTTP/1.1 Upgrade over TLS, no certificate verification).
# Client: t/clients/node_client.js (npm ci in t/clients installs `ws`).
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;

use Apache::Test qw(-withtestmore);
use InteropClient;

my @checks = qw(
    text_echo binary_echo empty_text empty_binary text_1mib binary_1mib
    subprotocol_chat subprotocol_preference subprotocol_bogus no_subprotocol_on_echo
    ping_pong test_push test_binary_command ordered_50
    server_close_4001 goodbye_1000 small_limit_1009 client_close_1000
);

plan tests => 1 + 2 * (@checks + 1);

my $ws_pkg = InteropClient::client('node_modules/ws/package.json');
ok(-e $ws_pkg, 'npm package ws installed in t/clients')
    or diag("missing $ws_pkg: run `npm ci` in t/clients (scripts/deps.sh does)");

for my $t (['node-ws' => InteropClient::port()], ['node-wss' => InteropClient::tls_port(), '--tls']) {
    my ($name, $port, @tls) = @$t;
    my $run = InteropClient::run(
        name    => $name,
        timeout => 120,
        cmd     => [InteropClient::node(), InteropClient::client('node_client.js'),
                    '--host', InteropClient::host(), '--port', $port, @tls],
    );
    InteropClient::assert_checks($run, @checks);
    InteropClient::assert_exit($run);
}
