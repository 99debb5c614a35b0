# Limits on what one client sends, against the server (the core's unit
# tests have the details): at /limits, WebSocketMessageRate 20 20 closes a
# client that sends faster with 1008 once its burst of 20 is spent (text
# messages and pings both count), and a client that keeps the pace stays;
# WebSocketMaxFragments 8 closes a message of 9 frames with 1008; the
# default (4096) lets a message of 1,000 frames through at /echo and closes
# one of 5,000 one-byte fragments.  Runs over ws:// and wss://.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(OP_CONT OP_TEXT OP_BINARY OP_PING);
use Time::HiRes qw(time);

plan tests => 10;

sub open_at {
    my ($path) = @_;
    my ($ws, $res) = WSClient->open_ws($path);
    die "handshake on $path: $res->{status}\n" unless $res->{status} == 101;
    return $ws;
}

{
    my $ws = open_at('/limits');
    $ws->send_text("m$_") for 1 .. 15;
    $ws->ping('p') for 1 .. 5;                 # 20: the whole burst
    # The 5 pongs may overtake the echoes (control frames go first): read
    # all 20 frames, count the echoes.
    my $got = 0;
    for (1 .. 20) { my $m = $ws->read_message; $got++ if $m && $m->{opcode} == OP_TEXT && $m->{payload} =~ /^m\d+$/ }
    is($got, 15, 'a burst of 20 (15 texts, 5 pings) is served');
    $ws->send_text('one too many');
    my $c = $ws->read_close;
    is($c && $c->{code}, 1008, 'the 21st within the second: close 1008');
    ok($ws->wait_eof, 'and the connection ends');
}
{
    # At the rate: one message per 100 ms is well under 20/s.  The echo of
    # each is the pace (no sleep): 30 round trips take a second or more
    # only if the server is slow, and the bucket refills meanwhile anyway.
    my $ws = open_at('/limits');
    my $ok = 0;
    my $t0 = time;
    for my $i (1 .. 19) {
        $ws->send_text("k$i");
        my $m = $ws->read_message;
        $ok++ if $m && $m->{payload} eq "k$i";
    }
    is($ok, 19, 'a client within its burst keeps echoing');
    $ws->close(1000);
    my $c = $ws->read_close;
    is($c && $c->{code}, 1000, 'and closes normally');
}
{
    my $ws = open_at('/limits');
    $ws->send_frame(opcode => OP_TEXT, fin => 0, payload => 'a');
    $ws->send_frame(opcode => OP_CONT, fin => 0, payload => 'b') for 1 .. 7;
    $ws->send_frame(opcode => OP_CONT, fin => 1, payload => 'c');   # the 9th
    my $c = $ws->read_close;
    is($c && $c->{code}, 1008, 'a message of 9 frames over WebSocketMaxFragments 8: 1008');
}
{
    my $ws = open_at('/echo');
    my $data = join '', map { $ws->frame(opcode => $_ == 1 ? OP_BINARY : OP_CONT,
                                         fin => $_ == 1000, payload => 'x') } 1 .. 1000;
    $ws->send_raw($data);
    my $m = $ws->read_message;
    is($m && length($m->{payload}), 1000, 'the default lets 1,000 fragments through');
    $data = join '', map { $ws->frame(opcode => $_ == 1 ? OP_BINARY : OP_CONT,
                                      fin => 0, payload => 'y') } 1 .. 5000;
    $ws->send_raw($data);
    my $c = $ws->read_close;
    is($c && $c->{code}, 1008, '5,000 one-byte fragments: 1008 at the default 4096');
    ok($ws->wait_eof, 'and the connection ends');
}
{
    my $ws = open_at('/echo');
    $ws->send_text('still here');
    my $m = $ws->read_message;
    is($m && $m->{payload}, 'still here', 'the server still echoes');
}
