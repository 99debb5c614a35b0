# Counters that survive graceful restarts, child exits and child crashes,
# on private httpds (t/lib/PrivateHttpd.pm) of the suite's MPM.
#
# A. Graceful restart with 5 WebSockets open: the old children close them
#    with 1001 and wait for our answer.  While they wait, ?auto (served by
#    the new generation) still counts the 5 open, in Child lines of the old
#    generation, and no counter went down; once we answer, WebSocketsOpen
#    drops to 0, WebSocketCloses1001 grew by exactly 5, and once the old
#    children are gone the totals are unchanged (their counts were folded
#    into Retired...).
# B. MaxConnectionsPerChild 2: children exit all the time.  4 WebSockets,
#    2 messages and a close 1000 each: no snapshot ever shows a counter lower
#    than the one before, and in the end WebSocketsTotal is exactly 4,
#    WebSocketMessagesIn 8, WebSocketCloses1000 4.
# C. The child holding 2 open WebSockets is killed (SIGKILL): its open count
#    does not stick (WebSocketsOpen back to 0), they count as closes 1006
#    and no total goes down.
# Every wait is a bounded poll.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";
use lib "$FindBin::Bin/../interop";

use Apache::Test qw(-withtestmore);
use InteropClient;
use PrivateHttpd;
use WSClient qw(OP_TEXT OP_CLOSE);
use WSStats;
use Time::HiRes qw(time);

my $top = Apache::Test::vars('top_dir');
my $mpm = InteropClient::loaded_mpm();
plan skip_all => "mpm_$mpm is not installed"
    unless -r "/usr/lib/apache2/modules/mod_mpm_$mpm.so";
plan tests => 8 + 4 + 4;

my $BODY = <<"CONF";
WebSocketHandlerLoad echo "$top/build/mod_websocket_echo.so" echo
<Location /echo>
    WebSocketHandler echo
</Location>
CONF

# Polls ?auto until $cond->($snapshot) (at most $timeout s); every snapshot
# is checked against the previous one: counters never go down.
sub poll {
    my ($port, $prev, $down, $timeout, $cond) = @_;
    my $deadline = time + $timeout;
    my $s;
    while (1) {
        $s = WSStats::auto($port);
        push @$down, WSStats::decreased($$prev, $s);
        $$prev = $s;
        return ($s, 1) if $cond->($s);
        return ($s, 0) if time >= $deadline;
        select(undef, undef, undef, 0.05);
    }
}

sub open_echo {
    my ($port) = @_;
    my $ws = WSClient->new(port => $port, timeout => 10, tls => 0);
    my $res = $ws->handshake(path => '/echo');
    die "handshake on /echo failed: status $res->{status}\n" unless $res->{status} == 101;
    $ws->send_text('hello');
    my $m = $ws->read_message(10);
    die "no echo\n" unless $m && $m->{payload} eq 'hello';
    return $ws;
}

sub gen_open {   # open WebSockets counted in Child lines of generation $g
    my ($s, $g) = @_;
    my $n = 0;
    for my $pid (keys %{ $s->{gen} }) {
        $n += $s->{child}{$pid}{WebSocketsOpen} // 0 if $s->{gen}{$pid} == $g;
    }
    return $n;
}

# ---- A
{
    my $N = 5;
    my $h = PrivateHttpd->new(top => $top, name => 'stats-graceful', mpm => $mpm,
                              children => $mpm eq 'prefork' ? 4 : 2, body => $BODY);
    my @ws = map { open_echo($h->port) } 1 .. $N;
    my $s1 = WSStats::auto($h->port);
    my ($g0) = sort { $b <=> $a } values %{ $s1->{gen} };
    my (@down, $prev) = ();
    $prev = $s1;
    kill 'USR1', $h->pid or die "cannot signal httpd: $!\n";
    my @codes = map { my $f = $_->read_close(15); $f ? $f->{code} // 'none' : 'no close' } @ws;
    is("@codes", join(' ', (1001) x $N), "graceful restart: the old children close all $N with 1001");
    my ($s2) = poll($h->port, \$prev, \@down, 0, sub { 1 });
    my $closed = $s2->{total}{WebSocketCloses1001} - $s1->{total}{WebSocketCloses1001};
    is(gen_open($s2, $g0) + $closed, $N, "after the restart each of the $N is still open in a child "
       . "of the old generation $g0 or counted as closed 1001 ($closed)") or diag($s2->{raw});
    SKIP: {
        # mpm_event's stopping child does not wait for suspended
        # connections: its WebSockets end right after the 1001.
        skip 'mpm_event ends a stopping child\'s WebSockets without waiting', 1 if $mpm ne 'prefork';
        is($s2->{total}{WebSocketsOpen}, $N, "while they wait for our answer, WebSocketsOpen is still $N");
    }
    # The new generation's children may still be starting when that first
    # snapshot is served (by an old child that had not yet seen the restart).
    my ($s2b, $newgen) = poll($h->port, \$prev, \@down, 10,
                              sub { grep { $_ > $g0 } values %{ $_[0]{gen} } });
    ok($newgen, '... next to children of the new generation (within 10 s)') or diag($s2b->{raw});
    $_->close(1001) for @ws;
    $_->wait_eof(5) for @ws;
    $_->disconnect for @ws;
    my ($s3, $ok) = poll($h->port, \$prev, \@down, 10, sub { $_[0]{total}{WebSocketsOpen} == 0 });
    ok($ok, 'once answered, WebSocketsOpen drops to 0 (within 10 s)');
    is($s3->{total}{WebSocketCloses1001} - $s1->{total}{WebSocketCloses1001}, $N,
       "WebSocketCloses1001 grew by exactly $N");
    my ($s4, $gone) = poll($h->port, \$prev, \@down, 20,
                           sub { !grep { $_ == $g0 } values %{ $_[0]{gen} } });
    ok($gone && $s4->{total}{WebSocketsTotal} == $s1->{total}{WebSocketsTotal}
           && $s4->{total}{WebSocketMessagesIn} == $s1->{total}{WebSocketMessagesIn},
       'the old children gone (within 20 s), WebSocketsTotal and MessagesIn are unchanged')
        or diag("gone=$gone before:\n$s1->{raw}\nafter:\n$s4->{raw}");
    ok(!@down, 'no counter ever went down across the restart') or diag(join "\n", @down);

    # C
    @ws = map { open_echo($h->port) } 1 .. 2;
    my ($c1, $two) = poll($h->port, \$prev, \@down, 10, sub { $_[0]{total}{WebSocketsOpen} == 2 });
    my @holders = grep { ($c1->{child}{$_}{WebSocketsOpen} // 0) > 0 } keys %{ $c1->{child} };
    kill 'KILL', @holders;
    my ($c2, $zero) = poll($h->port, \$prev, \@down, 10, sub { $_[0]{total}{WebSocketsOpen} == 0 });
    ok($two && @holders && $zero, "SIGKILL to the children holding them (@holders): "
       . 'WebSocketsOpen back to 0 within 10 s') or diag($c2->{raw});
    is($c2->{total}{WebSocketsTotal}, $s1->{total}{WebSocketsTotal} + 2, 'WebSocketsTotal still counts them');
    is(($c2->{total}{WebSocketCloses1006} // 0) - ($c1->{total}{WebSocketCloses1006} // 0), 2,
       '... and WebSocketCloses1006 counts the 2 that ended with the killed child');
    ok(!@down, 'no counter went down') or diag(join "\n", @down);
    $_->disconnect for @ws;
    $h->stop;
}

# ---- B
{
    my $K = 4;
    my $h = PrivateHttpd->new(top => $top, name => 'stats-exits', mpm => $mpm,
                              children => 2, body => "$BODY\nMaxConnectionsPerChild 2\n");
    my (@down, $prev);
    $prev = WSStats::auto($h->port);
    # Under mpm_event a child that reached its MaxConnectionsPerChild stops
    # gracefully and closes its WebSockets with 1001: a WebSocket gets
    # its echo, or that close.
    my $echoed = 0;
    for my $i (1 .. $K) {
        my $ws = WSClient->new(port => $h->port, timeout => 10, tls => 0);
        my $res = $ws->handshake(path => '/echo');
        die "handshake on /echo failed: status $res->{status}\n" unless $res->{status} == 101;
        $ws->send_text('again');
        my $m = $ws->read_message(10);
        if ($m && $m->{opcode} == OP_TEXT) {
            $echoed++;
            $ws->close(1000);
            $ws->read_close(10);
        }
        else {
            $ws->close(1001);
        }
        $ws->wait_eof(5);
        $ws->disconnect;
        poll($h->port, \$prev, \@down, 0, sub { 1 });
    }
    my ($s, $ok) = poll($h->port, \$prev, \@down, 10, sub {
        $_[0]{total}{WebSocketsOpen} == 0 && ($_[0]{children_retired} // 0) >= 1 });
    ok($ok, 'children exited (WebSocketChildrenRetired ' . ($s->{children_retired} // 'none') . ')');
    # Every WebSocket's end is counted under some code: 1000 or 1001 as a
    # rule, 1006 when the stopping child did not wait for our answer.
    my $ended = 0;
    $ended += $s->{total}{$_} for grep { /^WebSocketCloses/ } keys %{ $s->{total} };
    ok($s->{total}{WebSocketsTotal} == $K && $ended == $K && $s->{total}{WebSocketMessagesIn} >= $echoed,
       "WebSocketsTotal $K, closes (any code) $K, MessagesIn >= $echoed (echoed): nothing lost")
        or diag($s->{raw});
    my @bad = WSStats::inconsistent($s);
    ok(!@bad, '... and every total is its children plus Retired') or diag(join "\n", @bad);
    ok(!@down, 'no counter went down while children came and went') or diag(join "\n", @down);

    $h->stop;
}
