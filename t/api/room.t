# The README's timer/broadcast example as shipped (handlers/room.c at
# /room/lobby and /room/kitchen): ticks every second from the loop timer,
# a message reaches every connection of its room and no other room.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use WSClient qw(OP_TEXT);
use Time::HiRes qw(time);

plan tests => 6;

# The next text message that is not a tick (ticks are counted in $ticks),
# or undef once $secs have passed.
sub next_message {
    my ($ws, $ticks, $secs) = @_;
    my $deadline = time + $secs;
    while ((my $left = $deadline - time) > 0) {
        my $m = $ws->read_message($left) // return undef;
        return undef unless $m->{opcode} == OP_TEXT;
        if ($m->{payload} =~ /^tick (\d+)$/) { push @$ticks, $1; next }
        return $m->{payload};
    }
    return undef;
}

my $prefork = ($ENV{WS_TEST_MPM} // 'event') eq 'prefork';
my $a = WSClient->open_ws('/room/lobby');
my $b = WSClient->open_ws('/room/lobby');
my $k = WSClient->open_ws('/room/kitchen');
my (@ta, @tb, @tk);
my $m = $a->read_message(3);
is($m && $m->{payload}, 'tick 1', 'a room connection gets "tick 1" after a second');
$a->send_text('hello lobby');
is(next_message($a, \@ta, 5), 'hello lobby', 'the sender gets its own message');
SKIP: {
    skip 'prefork: the two connections may be in two children (two rooms)', 1 if $prefork;
    is(next_message($b, \@tb, 5), 'hello lobby', 'the other lobby connection gets it');
}
$k->send_text('hello kitchen');
is(next_message($k, \@tk, 5), 'hello kitchen', 'the kitchen is a room of its own');
# Nothing of the lobby reached the kitchen, nothing of the kitchen the lobby
# (within two more ticks).
my $leak = next_message($a, \@ta, 2.5);
ok(!defined $leak, 'no kitchen message in the lobby') or diag("got $leak");
next_message($k, \@tk, 2.5);              # only ticks come: collect them
ok(@tk >= 2 && "@tk" eq join(' ', 1 .. @tk),
   'the kitchen connection ticks 1, 2 ... in order (' . "@tk" . ')');
$_->close(1000) for $a, $b, $k;
