# A client that writes and never reads must not make the server buffer
# without bound: once a connection's outbound queue is large, the server
# has to stop reading from it (TCP backpressure) instead of queueing every
# echo or pong in memory.  mod_websocket.h promises a bound
# (WS_EFULL, "WebSocketMaxPendingOutput").
#
# The client tries to write far more than any sane bound within a bounded
# time; the server must have stopped accepting long before.  What the
# client manages to write is at most: the kernel's socket buffers (a few
# MiB on loopback) + the server's read buffer (one message, 16 MiB max) +
# its outbound queue bound.  128 MiB is a generous ceiling for that.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(random_bytes OP_BINARY OP_PING OP_PONG);
use Time::HiRes qw(time);

my $MiB     = 1024 * 1024;
my $ATTEMPT = 320 * $MiB;
my $CEILING = 128 * $MiB;
my $WINDOW  = 8;                  # seconds of trying

plan tests => 4 + 3;

sub open_echo {
    my ($ws, $res) = WSClient->open_ws('/echo', timeout => 10);
    die "handshake on /echo failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

# Writes $frame repeatedly (in one big buffer of $per copies) until $total
# bytes or the window ends; returns bytes written.
sub flood {
    my ($ws, $chunk, $total) = @_;
    my $deadline = time + $WINDOW;
    my $written = 0;
    while ($written < $total) {
        my $left = $deadline - time;
        last if $left <= 0;
        my $n = $ws->send_raw($chunk, $left);
        $written += $n;
        last if $n < length $chunk;
    }
    return $written;
}

# 1 MiB binary messages to /echo, echoes never read.
{
    my $ws = open_echo();
    my $frame = $ws->frame(opcode => OP_BINARY, payload => random_bytes($MiB),
                           mask_key => "\x01\x02\x03\x04");
    my $t0 = time;
    my $written = flood($ws, $frame x 8, $ATTEMPT);
    ok($written < $CEILING,
       sprintf('echo, client never reads: the server stopped reading before %d MiB', $CEILING / $MiB))
        or diag(sprintf('the server accepted %.0f MiB in %.1f s without the client reading a byte '
                        . '(its echoes are queued in the server\'s memory, or dropped)',
                        $written / $MiB, time - $t0));
    $ws->abort;
    my ($ws2) = open_echo();
    $ws2->send_text('after the flood');
    my $m = $ws2->read_message(10);
    is($m ? $m->{payload} : undef, 'after the flood', 'a new client is served after it');
}

# Pings, pongs never read.  The server answers only the latest ping it has
# not yet answered (RFC 6455 5.5.3): an unsent pong is replaced, so the
# flood costs the server one pong, not one per ping (memory:
# t/hostile/ping_flood.t).  What the client finally reads: the pongs that
# fitted in the socket buffers, then the answer to its last ping.
{
    my $ws = open_echo();
    my $ping = $ws->frame(opcode => OP_PING, payload => 'p' x 125,
                          mask_key => "\x05\x06\x07\x08");
    my $written = flood($ws, $ping x 8192, $ATTEMPT);     # ~1 MiB per write
    my $sent = int($written / length $ping);
    $ws->send_raw($ws->frame(opcode => OP_PING, payload => 'last'));
    my ($pongs, $last) = (0, 0);
    my $deadline = time + 20;
    while (time < $deadline) {
        my $f = $ws->read_frame($deadline - time) or last;
        next unless $f->{opcode} == OP_PONG;
        if ($f->{payload} eq 'last') { $last = 1; last }
        $pongs++;
    }
    ok($last && $pongs < $sent / 10,
       'ping flood, pongs never read: unsent pongs are replaced, the last ping is answered')
        or diag(sprintf('%d pings sent (%.0f MiB), %d pongs read before the last one%s',
                        $sent, $written / $MiB, $pongs, $last ? '' : ', which never came'));
    $ws->abort;
    my ($ws2) = open_echo();
    $ws2->send_text('after the ping flood');
    my $m = $ws2->read_message(10);
    is($m ? $m->{payload} : undef, 'after the ping flood', 'a new client is served after it');
}

# Backpressure must not lose messages: a client that writes 48 MiB of
# 1 MiB messages and starts reading only once its writes block (or after
# 3 s) still gets every echo, in order.  (Throttling = stop reading from
# the client, not drop what it sent.)
{
    my $ws = open_echo();
    my @msgs = map { random_bytes($MiB) } 1 .. 48;
    my $data = join '', map { $ws->frame(opcode => OP_BINARY, payload => $_) } @msgs;
    my $first = $ws->send_raw($data, 3);
    my $r = $ws->exchange(substr($data, $first), scalar @msgs, 30);
    is($first + $r->{written}, length $data, 'slow reader: all 48 MiB written in the end');
    is(scalar @{ $r->{messages} }, 48, 'slow reader: 48 echoes received, none dropped')
        or diag(sprintf('%d written before reading; got %d echoes%s', $first,
                        scalar @{ $r->{messages} },
                        $r->{close} ? ", then close $r->{close}{code}" : ''));
    my @bad = grep { !$r->{messages}[$_] || $r->{messages}[$_]{payload} ne $msgs[$_] } 0 .. 47;
    ok(!@bad, 'slow reader: echoes intact and in order')
        or diag("first missing/wrong: message $bad[0]");
}
