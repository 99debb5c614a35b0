# WebSocketMaxMemory on a private httpd (one event child, bound 8 MiB):
# 40 clients each send most of a 1.5 MiB message and stop (40 MiB of
# partial messages if nothing bounded them).  The child sheds the heaviest
# as they grow: they get close 1013, mod_status counts them
# (WebSocketsShedForMemory), the log says why (WS00112), the child's peak
# memory grows by far less than what was sent, and an ordinary client
# keeps echoing meanwhile.  Afterwards (t/lib/Hostile.pm) WebSocketsOpen
# and every child's open fds are back to the baseline once the shed
# clients are gone.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use InteropClient;
use PrivateHttpd;
use Hostile;
use WSClient qw(OP_BINARY);

plan skip_all => 'the private server runs mpm_event; run in the event pass'
    if InteropClient::loaded_mpm() ne 'event';
plan tests => 6 + 2;

my $top = Apache::Test::vars('top_dir');
my $h = PrivateHttpd->new(top => $top, name => 'maxmem', children => 1,
    threads => 10, body => <<"CONF");
WebSocketMaxMemory 8M
WebSocketHandlerLoad echo "$top/build/mod_websocket_echo.so" echo
<Location /echo>
    WebSocketHandler echo
</Location>
CONF

sub hwm {
    my ($pid) = $h->children;
    open my $st, '<', "/proc/$pid/status" or return 0;
    while (<$st>) { return $1 if /^VmHWM:\s+(\d+)/ }
    return 0;
}

sub ws { my $w = WSClient->new(port => $h->port, tls => 0);
         my $r = $w->handshake(path => '/echo');
         die "handshake: $r->{status}\n" unless $r->{status} == 101; $w }

my $srv = Hostile->private($h);
my $bl = $srv->baseline;
my $probe = ws();
my $before = hwm();
my @c = map { ws() } 1 .. 40;
my $len = 1536 * 1024;
# The header of a 1.5 MiB binary frame, then 64 KiB at a time, round
# robin, up to 1.25 MiB each: the memory rises as it would under attack.
for my $w (@c) {
    my $f = $w->frame(opcode => OP_BINARY, payload => 'x' x $len);
    $w->{pending} = substr($f, 0, length($f) - 256 * 1024);
}
my $echoes = 0;
for my $round (1 .. 20) {
    for my $w (@c) {
        next if $w->{gone} || !length $w->{pending};
        my $n = $w->send_raw(substr($w->{pending}, 0, 65536, ''), 2);
        $w->{gone} = 1 unless defined $n && $n > 0;
    }
    $probe->send_text("r$round");
    my $m = $probe->read_message(10);
    $echoes++ if $m && $m->{payload} eq "r$round";
}
is($echoes, 20, 'an ordinary client kept echoing throughout');
my $shed = 0;
for my $w (@c) {
    my $f = $w->read_close(5);
    $shed++ if $f && defined $f->{code} && $f->{code} == 1013;
}
ok($shed >= 20, "the heaviest were closed with 1013 ($shed of 40)");
my $growth = hwm() - $before;
ok($growth < 24 * 1024, "the child's peak grew by $growth KiB for 50 MiB sent");
my $status = do {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $h->port, Timeout => 5);
    print $s "GET /server-status?auto HTTP/1.0\r\nHost: x\r\n\r\n";
    local $/; <$s> // '';
};
my ($counted) = $status =~ /^WebSocketsShedForMemory: (\d+)/m;
ok(($counted // 0) >= $shed, 'mod_status counts them (' . ($counted // 'none') . ')');
my $log = do { open my $fh, '<', $h->error_log or die; local $/; <$fh> };
like($log, qr/WS00112: WebSocketMaxMemory \(8388608\) reached/, 'the log says why');
$probe->send_text('after');
my $m = $probe->read_message(5);
is($m && $m->{payload}, 'after', 'and the child still serves');
$probe->close(1000); $probe->read_close(5); $probe->disconnect;
$_->abort for @c;               # the ones not shed, and the shed ones' sockets
$srv->assert_back_to_baseline($bl, what => '40 clients shed or reset');
$h->stop;
