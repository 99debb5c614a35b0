# The version-2 handler API against the real server (t/handlers/v2_handler.c
# at /v2a and /v2b, t/handlers/v1/v1_handler.c at /v1):
# - two locations on one handler are two instances with their own arguments;
#   the handler-wide argument of WebSocketHandlerLoad reaches both;
# - the query string and the request environment (SetEnv) reach on_open;
# - ws_set_header() in on_handshake adds Set-Cookie lines to the 101;
# - ws_set_timer(): "tick n" every 50 ms, n = 1, 2, 3 ... with no gap;
# - ws_defer() from a callback, and a broadcast to every connection of the
#   location through ws_defer();
# - ws_send_part(): one message in three frames, and a ws_send() between
#   the parts refused with WS_ESTATE (-6);
# - on_child_init ran in the serving child;
# - a handler built against the version-1 header loads and runs.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use WSClient qw(OP_TEXT);

plan tests => 22;

sub text_of {
    my ($ws, $t) = @_;
    my $m = $ws->read_message($t // 5);
    return $m && $m->{opcode} == OP_TEXT ? $m->{payload} : undef;
}

# Instances, arguments, query, environment, 101 headers.
my ($a, $res) = WSClient->open_ws('/v2a?room=1&x=y');
is($res->{status}, 101, '/v2a: 101');
my @cookies = map { $_->[1] } grep { lc $_->[0] eq 'set-cookie' } @{ $res->{header_list} };
is_deeply(\@cookies, ['v2=a; Path=/', 'second=1; Path=/'],
          'ws_set_header: two Set-Cookie lines in the 101, kept apart');
is(text_of($a), 'hello a hi query=room=1&x=y env=from-a',
   '/v2a: its own label, the handler-wide greeting, the query and SetEnv');
my $b = WSClient->open_ws('/v2b');
is(text_of($b), 'hello b hi query=- env=-',
   '/v2b: another instance of the same handler (label b, no env)');

# Timer: consecutive ticks.
my @ticks;
while (@ticks < 5) {
    my $t = text_of($a, 3) // last;
    push @ticks, $1 if $t =~ /^tick (\d+)$/;
}
is_deeply(\@ticks, [1 .. 5], 'ws_set_timer: five ticks, in order, none lost or doubled');

# A location without tick= sends none.
$b->send_text('echo me');
is(text_of($b), 'echo me', '/v2b: no timer, plain echo');

# ws_defer from a callback.
$b->send_text('defer');
is(text_of($b), 'deferred', 'ws_defer: the function ran on the loop thread');

# Parts.
$b->send_text('parts');
my $m = $b->read_message(5);
ok($m && $m->{opcode} == OP_TEXT, 'ws_send_part: a text message');
is($m && $m->{payload}, 'parts!', '... reassembled from its parts');
is($m && $m->{frames}, 3, '... sent as three frames');
ok($m && !$m->{bad_continuation}, '... continuation opcodes after the first');
is(text_of($b), 'estate -6', '... and a ws_send() between the parts got WS_ESTATE');

# Broadcast to every connection of /v2b (same child under event: the
# children are several under prefork, so only the sender's child is
# asserted there through its own copy).
my $b2 = WSClient->open_ws('/v2b');
is(text_of($b2), 'hello b hi query=- env=-', 'a second /v2b connection');
$b2->send_text('broadcast to all');
is(text_of($b2), 'bcast to all', 'broadcast: the sender gets it');
SKIP: {
    skip 'prefork: connections may be in different children', 1
        if ($ENV{WS_TEST_MPM} // 'event') eq 'prefork';
    is(text_of($b), 'bcast to all', 'broadcast: the other connection of the location too');
}
# Counters of their own: /v2b has had two connections, /v2a one (under
# event: one child holds them all; under prefork each child counts its own).
SKIP: {
    skip 'prefork: each child counts its own connections', 2
        if ($ENV{WS_TEST_MPM} // 'event') eq 'prefork';
    $b2->send_text('count');
    my $got = text_of($b2);
    $got = text_of($b2) while defined $got && $got =~ /^bcast/;
    is($got, 'count b 2', '/v2b counts its own two connections');
    $a->send_text('count');
    $got = text_of($a);
    $got = text_of($a) while defined $got && $got =~ /^(tick|bcast)/;
    is($got, 'count a 1', '/v2a, the same handler, counts its one apart');
}
# /v2a's connection is another instance: no bcast (only ticks).
my $leak = 0;
for (1 .. 3) { my $t = text_of($a, 1) // last; $leak++ if $t =~ /^bcast/ }
is($leak, 0, 'broadcast stays within its location');

# on_child_init ran in the serving child.
my $log = Apache::Test::vars('t_logs') . '/error_log';
open my $fh, '<', $log or die "$log: $!";
my @pids = map { /v2 child_init label=a pid=(\d+)/ ? $1 : () } <$fh>;
close $fh;
my %seen;
my @twice = grep { $seen{$_}++ } @pids;
ok(@pids >= 1, "on_child_init logged for /v2a's instance (" . scalar(@pids) . ' times)');
is("@twice", '', '... once per child process (no pid twice)');

# Version 1.
my $v1 = WSClient->open_ws('/v1');
is($v1->{response}{status}, 101, 'a version-1 handler: 101');
$v1->send_text('old');
is(text_of($v1), 'v1:old', '... and it runs');
$_->close(1000) for $a, $b, $b2, $v1;
