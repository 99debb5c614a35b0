# Half-closed sockets: the client sends, then shutdown(SHUT_WR), and keeps
# reading.  TCP lets it; the server sees EOF on input but its output still
# reaches the client, so everything it owes must still be delivered before
# it finishes:
#   1. one text message, then SHUT_WR: the echo arrives, then the server
#      ends TCP (EOF; no close frame is owed: the client never sent one);
#   2. 100 messages pipelined, then SHUT_WR: all 100 echoed, in order, then EOF;
#   3. a 4 MiB message (more than the socket buffers hold at once), then
#      SHUT_WR, the client reading slowly at first: the whole echo arrives
#      intact, then EOF;
#   4. a message and a close frame (1000), then SHUT_WR: the echo, then the
#      close answered (1000), then EOF;
#   5. a close frame alone, then SHUT_WR: close 1000, then EOF.
# Each within 10 s; then the shared checks (t/lib/Hostile.pm): server up,
# an /echo prober answered throughout, memory, WebSocketsOpen and fds back
# to the baseline.  Both MPMs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use Hostile;
use WSClient qw(random_bytes OP_TEXT OP_BINARY OP_CLOSE);

my $MiB = Hostile::MiB;
plan tests => 2 + 2 + 2 + 3 + 2 + 5;

my $s = Hostile->suite;
my $bl = $s->baseline;
my $p = $s->prober;

sub open_echo {
    my $ws = WSClient->new(port => $s->port, tls => 0, timeout => 10, @_);
    my $res = $ws->handshake(path => '/echo');
    die "handshake: $res->{status}\n" unless $res->{status} == 101;
    return $ws;
}

# Reads frames until EOF (10 s at most): the frames, and how it ended.
sub rest_of {
    my ($ws) = @_;
    my @f;
    my $deadline = time + 10;
    while (my $f = $ws->read_frame($deadline - time)) { push @f, $f }
    return (\@f, $ws->{eof} || 'timeout');
}

{
    my $ws = open_echo();
    $ws->send_text('half 1');
    $ws->half_close;
    my ($f, $end) = rest_of($ws);
    ok(@$f >= 1 && $f->[0]{opcode} == OP_TEXT && $f->[0]{payload} eq 'half 1',
       'a message, then SHUT_WR: the echo arrives')
        or diag(join '; ', map { WSClient::describe($_) } @$f);
    ok($end eq 'eof' && !grep({ $_->{opcode} != OP_CLOSE } @$f[1 .. $#$f]),
       "... then the server ends TCP ($end" . (@$f > 1 ? ', after ' . WSClient::describe($f->[-1]) : '')
       . ')');
}
{
    my $ws = open_echo();
    $ws->send_raw(join '', map { $ws->frame(opcode => OP_TEXT, payload => "m$_") } 1 .. 100);
    $ws->half_close;
    my ($f, $end) = rest_of($ws);
    my @data = grep { $_->{opcode} == OP_TEXT } @$f;
    is(join(',', map { $_->{payload} } @data), join(',', map { "m$_" } 1 .. 100),
       '100 pipelined messages, then SHUT_WR: all 100 echoed, in order');
    is($end, 'eof', '... then EOF');
    $p->tick; $s->sample($bl);
}
{
    my $ws = open_echo(rcvbuf => 65536);
    my $big = random_bytes(4 * $MiB);
    my $sent = $ws->send_raw($ws->frame(opcode => OP_BINARY, payload => $big), 20);
    $ws->half_close;
    sleep 0.5;                             # the server's output backs up meanwhile
    $s->sample($bl);
    my ($f, $end) = rest_of($ws);
    my ($m) = grep { $_->{opcode} == OP_BINARY } @$f;
    ok($m && $m->{payload} eq $big, 'a 4 MiB message, then SHUT_WR: its whole echo arrives intact')
        or diag("sent $sent; got " . ($m ? length $m->{payload} : 'no') . " bytes, $end");
    is($end, 'eof', '... then EOF');
    $p->tick;
}
{
    my $ws = open_echo();
    $ws->send_raw($ws->frame(opcode => OP_TEXT, payload => 'last words')
                  . $ws->frame(opcode => OP_CLOSE, payload => pack('n', 1000)));
    $ws->half_close;
    my ($f, $end) = rest_of($ws);
    ok(@$f && $f->[0]{opcode} == OP_TEXT && $f->[0]{payload} eq 'last words',
       'a message and a close frame, then SHUT_WR: the echo arrives')
        or diag(join '; ', map { WSClient::describe($_) } @$f);
    ok(@$f == 2 && $f->[1]{opcode} == OP_CLOSE && ($f->[1]{code} // 0) == 1000,
       '... then the close answered with 1000')
        or diag(join '; ', map { WSClient::describe($_) } @$f);
    is($end, 'eof', '... then EOF');
}
{
    my $ws = open_echo();
    $ws->close(1000);
    $ws->half_close;
    my ($f, $end) = rest_of($ws);
    ok(@$f == 1 && $f->[0]{opcode} == OP_CLOSE && ($f->[0]{code} // 0) == 1000,
       'a close frame, then SHUT_WR: close 1000')
        or diag(join '; ', map { WSClient::describe($_) } @$f);
    is($end, 'eof', '... then EOF');
}
$s->assert_all($bl, $p, max_growth => 32 * $MiB, what => 'half-closed clients');
