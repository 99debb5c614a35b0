# The access log's byte counts (mod_logio's %I/%O) for a WebSocket, on a
# private httpd of the suite's MPM with mod_reqtimeout and mod_logio loaded,
# as Debian's default configuration has them.
#
# On a plain connection the module writes frames to the socket itself,
# skipping the filter chain (src/engine/ws_sock.c), and counts them for %O
# as the core output filter would.  Under mpm_prefork the WebSocket's
# request lives as long as the WebSocket, so its log line is written at the
# end and %O must include every frame sent: 300 KiB of echoes here.  Under
# mpm_event the request is released soon after the 101 (DESIGN.md, "The
# data path" 8), so its line counts the 101 and what went out until then.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use InteropClient;
use PrivateHttpd;
use WSClient qw(OP_BINARY);
use Time::HiRes qw(time);

my $top = Apache::Test::vars('top_dir');
my $mpm = InteropClient::loaded_mpm();
my $MODDIR = '/usr/lib/apache2/modules';
# Debian's httpd has mod_log_config and mod_logio compiled in.
plan skip_all => "mpm_$mpm or mod_reqtimeout is not installed"
    unless -r "$MODDIR/mod_mpm_$mpm.so" && -r "$MODDIR/mod_reqtimeout.so";
plan tests => 4;

my $h = PrivateHttpd->new(top => $top, name => 'logio', mpm => $mpm, body => <<"CONF");
LoadModule reqtimeout_module $MODDIR/mod_reqtimeout.so
RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500
LogFormat "%U %>s %I %O" wsbytes
CustomLog access_log wsbytes
WebSocketHandlerLoad echo "$top/build/mod_websocket_echo.so" echo
<Location /echo>
    WebSocketHandler echo
</Location>
CONF
my $log = $h->error_log =~ s/error_log$/access_log/r;

my $N = 3;
my $SIZE = 100 * 1024;
my $ws = WSClient->new(port => $h->port, timeout => 10, tls => 0);
my $res = $ws->handshake(path => '/echo');
is($res->{status}, 101, 'handshake on /echo');
my $echoed = 0;
for my $i (1 .. $N) {
    $ws->send_binary(chr(64 + $i) x $SIZE);
    my $m = $ws->read_message(10);
    $echoed += length $m->{payload} if $m && $m->{opcode} == OP_BINARY;
}
is($echoed, $N * $SIZE, "$N echoes of $SIZE bytes came back");
$ws->close(1000);
$ws->read_close(10);
$ws->wait_eof(5);
$ws->disconnect;

# The line is written when the request ends: poll for it (bounded).
my ($line, $deadline) = (undef, time + 10);
while (time < $deadline) {
    if (open my $fh, '<', $log) {
        ($line) = grep { m{^/echo } } <$fh>;
        last if $line;
    }
    select(undef, undef, undef, 0.05);
}
my ($status, $in, $out) = ($line // '') =~ m{^/echo (\d+) (\d+) (\d+)$};
is($status, 101, 'the access log has the WebSocket\'s line') or diag($line // 'no line');
if ($mpm eq 'prefork') {
    ok(defined $out && $out >= $N * $SIZE && $out < $N * ($SIZE + 64) + 1024,
       "%O counts every frame written: $N x $SIZE bytes and their headers, plus the 101 ("
       . ($out // 'none') . ')');
}
else {
    ok(defined $out && $out > 100 && $out < $N * ($SIZE + 64) + 1024,
       'mpm_event writes the line at the release of the request: %O counts the 101 and '
       . 'what was written until then, never more than was sent (' . ($out // 'none') . ')');
}
$h->stop;
