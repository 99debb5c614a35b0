# Keepalive: WebSocketPingInterval and WebSocketIdleTimeout
# (t/conf/extra.conf.in: /ka/ping = ping every 1 s, /ka/idle = idle timeout
# 2 s, /ka/both = both).
#
# 1. /ka/ping: a client that reads gets empty pings from the server, at least
#    2 within 3.5 s, about a second apart, and the connection stays open.
# 2. /ka/idle: a silent client is closed with 1001 "idle timeout" after about
#    2 s (not before 1.5 s, within 4 s), and the server completes the close.
# 3. /ka/idle: a client that sends a message every 0.5 s stays open past 4 s.
# 4. /ka/both: a client that sends no data but answers every ping stays open
#    past 5 s: pongs count as activity.
# 5. /ka/both: the same client not answering the pings is closed with 1001
#    "idle timeout" (server pings are not client activity).
# Every wait is a bounded read; "nothing happened within T" is a read that
# times out.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use WSClient qw(OP_TEXT OP_CLOSE OP_PING OP_PONG);
use Time::HiRes qw(time);

plan tests => 6 + 6 + 4 + 5 + 5;

sub open_ws {
    my ($path) = @_;
    my ($ws, $res) = WSClient->open_ws($path, timeout => 10);
    die "handshake on $path failed: status $res->{status}\n$res->{raw}\n"
        unless $res->{status} == 101;
    return $ws;
}

# Reads frames until $until (absolute time).  Pings are answered with a pong
# unless $no_pong.  Returns { pings => [times], close => frame, data =>
# [frames], eof => ... }; stops at a close frame or EOF.
sub watch {
    my ($ws, $until, %o) = @_;
    my %r = (pings => [], data => []);
    while (1) {
        my $left = $until - time;
        last if $left <= 0;
        # Until $until exactly: the server's timers are what is watched.
        my $f = $ws->poll_frame($left);
        if (!$f) {
            $r{eof} = $ws->{eof} if $ws->{eof};
            last;
        }
        if ($f->{opcode} == OP_PING) {
            push @{ $r{pings} }, { at => time, payload => $f->{payload} };
            $ws->pong($f->{payload}) unless $o{no_pong};
            next;
        }
        if ($f->{opcode} == OP_CLOSE) {
            $r{close} = $f;
            $r{close_at} = time;
            last;
        }
        push @{ $r{data} }, $f;
    }
    return \%r;
}

# Sends a text message and expects its echo (pings meanwhile are answered).
sub still_open {
    my ($ws, $text) = @_;
    return 0 unless $ws->send_text($text);
    my $m = $ws->read_message(5);
    return $m && $m->{opcode} == OP_TEXT && $m->{payload} eq $text;
}

# 1. /ka/ping
{
    my $ws = open_ws('/ka/ping');
    my $t0 = time;
    my $r = watch($ws, $t0 + 3.5);
    my @at = map { sprintf '%.2f', $_->{at} - $t0 } @{ $r->{pings} };
    cmp_ok(scalar @{ $r->{pings} }, '>=', 2, '/ka/ping: at least 2 server pings within 3.5 s')
        or diag("pings at [@at] s");
    diag("/ka/ping: pings at [@at] s after the handshake");
    ok(!grep({ $_->{payload} ne '' } @{ $r->{pings} }), '... every ping is empty');
    my @gaps = map { $r->{pings}[$_]{at} - $r->{pings}[$_ - 1]{at} } 1 .. $#{ $r->{pings} };
    ok(@{ $r->{pings} } && $r->{pings}[0]{at} - $t0 >= 0.5 && !grep({ $_ < 0.5 } @gaps),
       '... about a second apart (first after >= 0.5 s, no gap under 0.5 s)')
        or diag("pings at [@at] s");
    ok(!$r->{close} && !$r->{eof} && !@{ $r->{data} }, '... no close, no EOF, no data meanwhile')
        or diag('close: ' . WSClient::describe($r->{close}) . ', eof: ' . ($r->{eof} // 'no'));
    ok(still_open($ws, 'after the pings'), '... and the connection still echoes');
    $ws->close(1000);
    my $f = $ws->read_close(5);
    is($f ? $f->{code} : undef, 1000, '... and closes normally');
}

# 2. /ka/idle, silent client
{
    my $ws = open_ws('/ka/idle');
    my $t0 = time;
    my $r = watch($ws, $t0 + 6, no_pong => 1);
    my $f = $r->{close};
    my $after = $f ? $r->{close_at} - $t0 : undef;
    ok($f, '/ka/idle: a silent client gets a close frame')
        or diag('eof: ' . ($r->{eof} // 'no'));
    is($f ? $f->{code} : undef, 1001, '... with 1001');
    is($f ? $f->{reason} : undef, 'idle timeout', '... and reason "idle timeout"');
    ok(defined $after && $after >= 1.5 && $after <= 4,
       '... after about 2 s (not before 1.5 s, within 4 s)')
        or diag('close after ' . ($after // 'never') . ' s');
    diag(sprintf '/ka/idle: closed after %.2f s', $after) if defined $after;
    ok(!@{ $r->{pings} } && !@{ $r->{data} }, '... nothing else before it (no pings on /ka/idle)');
    $ws->close(1001);
    ok($ws->wait_eof(5), '... and the server ends TCP after our close reply');
}

# 3. /ka/idle, a client that talks every 0.5 s
{
    my $ws = open_ws('/ka/idle');
    my $t0 = time;
    my ($echoed, $quiet, @bad) = (0, 0);
    for my $i (0 .. 8) {                     # sends at 0, 0.5 ... 4.0 s
        my $text = "tick $i";
        $ws->send_text($text);
        my $m = $ws->read_message(2);
        if ($m && $m->{opcode} == OP_TEXT && $m->{payload} eq $text) { $echoed++ }
        else { push @bad, "tick $i: " . WSClient::describe($m); last }
        # Nothing may arrive until the next tick (a wait not stretched by
        # WS_TEST_TIME_FACTOR: WebSocketIdleTimeout is not).
        my $f = $ws->poll_frame($t0 + 0.5 * ($i + 1) - time);
        if ($f) { push @bad, "between ticks: " . WSClient::describe($f); last }
        if ($ws->{eof}) { push @bad, "EOF ($ws->{eof})"; last }
        $quiet++;
    }
    my $span = time - $t0;
    is($echoed, 9, '/ka/idle: a client sending every 0.5 s gets its 9 echoes')
        or diag(join "\n", @bad);
    is($quiet, 9, '... and nothing else (no close) for 4.5 s')
        or diag(join "\n", @bad);
    ok($span > 4, sprintf('... over more than 4 s (%.2f s)', $span));
    ok(still_open($ws, 'still here') , '... and it is still open');
    $ws->close(1000);
}

# 4. /ka/both, a client that only answers pings
{
    my $ws = open_ws('/ka/both');
    my $t0 = time;
    my $r = watch($ws, $t0 + 5.2);
    my $n = @{ $r->{pings} };
    ok(!$r->{close} && !$r->{eof},
       '/ka/both (ping 1 s, idle 2 s): a client that only answers pings is not closed in 5.2 s')
        or diag('close: ' . WSClient::describe($r->{close}) . sprintf(' after %.2f s', ($r->{close_at} // time) - $t0)
                . ', eof: ' . ($r->{eof} // 'no'));
    cmp_ok($n, '>=', 3, "... it answered the server's pings ($n)");
    ok(!@{ $r->{data} }, '... no data frames');
    ok(still_open($ws, 'pongs are activity'), '... and it still echoes');
    $ws->close(1000);
    my $f = $ws->read_close(5);
    is($f ? $f->{code} : undef, 1000, '... and closes normally');
}

# 5. /ka/both, a client that reads but never answers pings
{
    my $ws = open_ws('/ka/both');
    my $t0 = time;
    my $r = watch($ws, $t0 + 6, no_pong => 1);
    my $f = $r->{close};
    my $after = $f ? $r->{close_at} - $t0 : undef;
    is($f ? $f->{code} : undef, 1001, '/ka/both: a client that never answers pings is closed with 1001')
        or diag('eof: ' . ($r->{eof} // 'no'));
    is($f ? $f->{reason} : undef, 'idle timeout', '... reason "idle timeout"');
    ok(defined $after && $after >= 1.5 && $after <= 4, '... after about 2 s')
        or diag('close after ' . ($after // 'never') . ' s');
    cmp_ok(scalar @{ $r->{pings} }, '>=', 1, '... pings came before it');
    $ws->close(1001);
    ok($ws->wait_eof(5), '... and the server ends TCP');
}
