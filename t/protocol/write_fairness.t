# Write fairness: one WebSocket whose handler keeps refilling its queue
# (the test handler's "flood", continued from on_drain) and whose client
# reads as fast as it can must not keep the loop writing to it alone.
#
# A: /test, "flood 65536 60000" (3.75 GiB), read by a child process that
# throws the bytes away as fast as it can.  Once it has read 8 MiB, B opens
# /echo and sends one message: it must be echoed within 2 s (each
# connection writes at most WS_WRITE_TURN per step, then the others get
# theirs).  Before that bound a fast reader kept the writing loop on A
# until its flood ended or its socket filled: B waited, and under load
# other readers passed their WebSocketSendTimeout (closed 1008 though they
# were reading; found by `make test-valgrind`, t/ops/backpressure.t).
# The starvation shows where the server is slower than A's reader: under
# `make test-valgrind` B waited 60 s without the bound (until A's reader
# gave up); natively the reader is usually the slower side, A's socket
# fills, and the test passes either way.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use WSClient qw(OP_TEXT);
use WSTestEnv ();
use IO::Select;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time);

plan tests => 4;

my ($a, $res) = WSClient->open_ws('/test');
die "handshake on /test: $res->{status}\n" unless $res->{status} == 101;
$a->send_text('flood 65536 60000');

pipe(my $ready_r, my $ready_w) or die "pipe: $!";
my $limit = WSTestEnv::scaled(60);
my $pid = fork // die "fork: $!";
if (!$pid) {                                  # A's reader
    close $ready_r;
    my $sock = $a->sock;
    my $sel = IO::Select->new($sock);
    my ($total, $told, $buf) = (0, 0, '');
    my $deadline = time + $limit;
    while (time < $deadline) {
        next unless $sel->can_read(1);
        my $n = sysread($sock, $buf, 1 << 20);
        next if !defined $n && $!{EAGAIN};
        last unless $n;
        $total += $n;
        if (!$told && $total >= 8 << 20) {
            syswrite($ready_w, "1");
            $told = 1;
        }
    }
    POSIX::_exit(0);
}
close $ready_w;
my $told = IO::Select->new($ready_r)->can_read(WSTestEnv::scaled(20));
ok($told, 'A: its flood is flowing (8 MiB read by a fast reader)');

my $t0 = time;
my ($b, $bres) = WSClient->open_ws('/echo');
my $m;
if ($bres->{status} == 101) {
    $b->send_text('my turn');
    $m = $b->read_message(10);
}
my $dt = time - $t0;
is($m && $m->{opcode} == OP_TEXT ? $m->{payload} : undef, 'my turn',
   'B: its echo arrives while A floods');
cmp_ok($dt, '<', WSTestEnv::scaled(2),
       sprintf('... within 2 s of its handshake (%.2f s)', $dt));

kill 'TERM', $pid;
my $gone;
for (1 .. 50) { last if ($gone = waitpid($pid, WNOHANG)) == $pid; select(undef, undef, undef, 0.1) }
$a->abort;
$b->close(1000);
ok($b->read_close(5), '... and B closes normally');
