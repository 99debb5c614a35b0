# The increment example (handlers/increment.c at /increment): "0" at once,
# then the next number every 50 ms from the connection's loop timer; any
# message resets the counter to 0 and counting goes on from there; each
# connection counts on its own.  Every read is bounded; timing is checked
# only from below (a loaded machine may be slow, never early).
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use WSClient qw(OP_TEXT);

plan tests => 11;

# The next $n numbers (fewer if something else came or time ran out).
sub numbers {
    my ($ws, $n, $secs) = @_;
    my $deadline = time + $secs;
    my @got;
    while (@got < $n && (my $left = $deadline - time) > 0) {
        my $m = $ws->read_message($left) or last;
        last unless $m->{opcode} == OP_TEXT && $m->{payload} =~ /^\d+$/;
        push @got, $m->{payload};
    }
    return @got;
}

sub consecutive {
    my @v = @_;
    return !grep { $v[$_] != $v[$_ - 1] + 1 } 1 .. $#v;
}

my $ws = WSClient->open_ws('/increment');
is($ws->{response}{status}, 101, 'handshake on /increment');
my $t0 = time;
my @v = numbers($ws, 21, 10);
is(scalar @v, 21, '21 numbers within 10 s');
is($v[0], 0, 'the first is 0, sent on open');
ok(consecutive(@v), 'they count up by one: 0 .. 20') or diag("got @v");
my $took = time - $t0;
# 20 intervals of 50 ms: at least ~1 s (a little slack for the clock).
ok($took >= 0.9, sprintf('paced by the 50 ms timer: 20 steps took %.2f s', $took));

# A reset: numbers already on the way may come first, then 0, 1, 2 ...
$ws->send_text('reset');
my @after = numbers($ws, 30, 10);
my ($zero) = grep { $after[$_] == 0 } 0 .. $#after;
ok(defined $zero, 'a message resets the counter: 0 comes') or diag("got @after");
$zero //= 0;
my @before = @after[0 .. $zero - 1];
ok($zero <= 3 && consecutive($v[-1], @before),
   'only numbers already on the way come before it (' . "@before" . ')');
my @from0 = @after[$zero .. $#after];
ok(@from0 >= 10 && consecutive(@from0), 'and it counts up again from 0')
    or diag("after the reset: @from0");

# A binary message resets too; a second connection counts on its own.
my $other = WSClient->open_ws('/increment');
my @o = numbers($other, 5, 5);
$ws->send_binary("\x00");
my @b = numbers($ws, 40, 10);
ok((grep { $_ == 0 } @b), 'a binary message resets as well') or diag("got @b");
@o = (@o, numbers($other, 5, 5));
ok(@o == 10 && $o[0] == 0 && consecutive(@o),
   'the other connection was not reset: 0 .. 9') or diag("got @o");

$ws->close(1000);
my $f = $ws->read_close(5);
is($f && $f->{code}, 1000, 'the client closes: the close handshake completes');
$other->close(1000);
