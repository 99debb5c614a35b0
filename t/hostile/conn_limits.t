# WebSocketMaxConnections and WebSocketMaxClientConnections, on a private
# httpd (one event child; the directives are server-wide, so not in the
# suite's own server): 5 per child, 3 per client address.  From 127.0.0.1
# the 4th handshake gets 503 (with Retry-After), from 127.0.0.2 two more
# fit and the next one is refused by the child's limit; a closed WebSocket
# frees its place; the log says which limit refused.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use IO::Socket::INET ();
use InteropClient;
use PrivateHttpd;
use WSClient;

plan skip_all => 'the private server runs mpm_event; run in the event pass'
    if InteropClient::loaded_mpm() ne 'event';
plan tests => 8;

my $top = Apache::Test::vars('top_dir');
my $h = PrivateHttpd->new(top => $top, name => 'limits', children => 1,
    threads => 10, body => <<"CONF");
WebSocketMaxConnections 5
WebSocketMaxClientConnections 3
WebSocketHandlerLoad echo "$top/build/mod_websocket_echo.so" echo
<Location /echo>
    WebSocketHandler echo
</Location>
CONF

# A WebSocket from a chosen loopback source address.
sub ws_from {
    my ($src) = @_;
    my $ws = WSClient->new(port => $h->port, tls => 0, no_connect => 1);
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $h->port,
                                     LocalAddr => $src, Proto => 'tcp', Timeout => 10)
        or die "connect from $src: $!\n";
    $sock->autoflush(1);
    binmode $sock;
    $sock->blocking(0);
    @$ws{qw(sock sel buf eof)} = ($sock, IO::Select->new($sock), '', 0);
    my $res = $ws->handshake(path => '/echo');
    return ($ws, $res);
}

my @a = map { (ws_from('127.0.0.1'))[0] } 1 .. 3;
my ($x, $res) = ws_from('127.0.0.1');
is($res->{status}, 503, 'the 4th from one address: 503');
ok($res->{headers}{'retry-after'}, 'with Retry-After');
my @b = map { my ($w, $r) = ws_from('127.0.0.2'); is($r->{status}, 101, "127.0.0.2 #$_: 101"); $w } 1 .. 2;
($x, $res) = ws_from('127.0.0.2');
is($res->{status}, 503, 'the 6th in the child: 503 (WebSocketMaxConnections 5)');

$a[0]->close(1000);
$a[0]->read_close;
$a[0]->wait_eof;
$a[0]->disconnect;     # the server lingers for our FIN before it is done
# The place is free once the server has finished that WebSocket, a moment
# after our FIN reached it: retry the handshake, a bounded number of times.
my $status = 0;
for (1 .. 50) {
    ($x, $res) = ws_from('127.0.0.1');
    $status = $res->{status};
    last if $status == 101;
}
is($status, 101, 'a closed WebSocket frees its place');
$x->send_text('hi');
my $m = $x->read_message;
is($m && $m->{payload}, 'hi', 'and the new one echoes');

my $log = do { open my $fh, '<', $h->error_log or die; local $/; <$fh> };
ok($log =~ /WS00111: .*WebSocketMaxClientConnections \(3\)/
   && $log =~ /WS00111: .*WebSocketMaxConnections \(5\)/,
   'the log names the limit that refused');
$h->stop;
