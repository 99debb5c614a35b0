# Graceful restarts under continuous echo traffic, every message counted.
#
# A private httpd (the pass's MPM: event, 2 children x 10 threads; or
# prefork, 6 processes to start with) serves /echo with a log line per
# WebSocket giving the messages it received and sent (WebSocketLogFormat
# "GCOUNT %U %{in}m %{out}m %c %w").  $N clients each send numbered
# messages "c<i> <seq>" without pause (up to $WINDOW unanswered), each
# connection on its own path /echo/c<i>g<generation>, for $RUN s; after
# 2 s and after 4 s, `apache2 -k graceful` (apachectl -k graceful).
# Each restart closes every WebSocket with 1001; the client answers it,
# reconnects at once and sends again every message not yet echoed.
# Asserted:
#   - every connection's echoes are exactly the next messages in order (no
#     gap, no duplicate, nothing after the close frame) and each connection
#     ended with the server's 1001 or, at the end, our 1000;
#   - nothing lost before the 1001: for every connection the server's own
#     count of messages received (%{in}m, counted as each is delivered to
#     the handler) equals its count sent (%{out}m) and the echoes that
#     client received; messages the server read after it queued its 1001
#     are discarded by the closing handshake, not delivered, and were sent
#     again (they are the client's unanswered ones);
#   - the totals add up: for each client, the messages sent (once each,
#     counting resends once) = echoes received over all its connections =
#     the sum of the server's %{in}m over them; each client reconnected at
#     least twice (the restarts reached everyone);
#   - and the shared checks (t/lib/Hostile.pm), with a prober that
#     reconnects across the 1001 too: server up (children replaced on
#     purpose), memory, WebSocketsOpen and fds back to the baseline.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Apache::Test qw(-withtestmore);
use IO::Select ();
use Time::HiRes qw(time sleep);
use Hostile;
use PrivateHttpd;
use WSClient qw(OP_TEXT OP_CLOSE OP_PING);

my $N = 8;
my $WINDOW = 8;
my $RUN = 6;
my @RESTART_AT = (2, 4);
my $MiB = Hostile::MiB;
plan tests => 5 + 5;

my $mpm = Hostile::_suite_mpm();
my $top = Apache::Test::vars('top_dir');
my $h = PrivateHttpd->new(top => $top, name => 'graceful', mpm => $mpm,
    children => $mpm eq 'event' ? 2 : 6, threads => 10, body => <<"CONF");
WebSocketHandlerLoad echo "$top/build/mod_websocket_echo.so" echo
<Location /echo>
    WebSocketHandler echo
    WebSocketLogFormat "GCOUNT %U %{in}m %{out}m %c %w"
</Location>
CONF
my $s = Hostile->private($h);
my $bl = $s->baseline;
my $p = $s->prober(reconnect => 1);
$s->{restarted} = 1;

my @c = map { { i => $_, gen => 0, sent => 0, acked => 0, conns => [], bad => [] } } 1 .. $N;

sub connect_client {
    my ($c) = @_;
    $c->{gen}++;
    $c->{resent} += $c->{next} - $c->{acked} - 1 if defined $c->{next};   # unanswered
    my $path = "/echo/c$c->{i}g$c->{gen}";
    for my $try (1 .. 50) {
        my $ws = WSClient->new(port => $s->port, tls => 0, timeout => 10);
        my $res = $ws->handshake(path => $path);
        if ($res->{status} == 101) {
            $c->{ws} = $ws;
            $c->{next} = $c->{acked} + 1;          # resend what was not echoed
            push @{ $c->{conns} }, $c->{conn} = { path => $path, echoes => 0, end => undef };
            return 1;
        }
        sleep 0.1;                                  # a child between generations
    }
    push @{ $c->{bad} }, "no handshake for $path";
    return 0;
}
connect_client($_) for @c;

my $t0 = time;
my @restarts = @RESTART_AT;
my $stopping = 0;
while (1) {
    my $now = time - $t0;
    if (@restarts && $now >= $restarts[0]) { shift @restarts; $h->graceful or diag('graceful failed') }
    $stopping = 1 if $now >= $RUN;
    my @live = grep { $_->{ws} } @c;
    last if !@live || $now >= $RUN + 15;
    for my $c (@live) {                  # fill the window (after the run: resends only)
        my $batch = '';
        while ($c->{next} - $c->{acked} <= $WINDOW && (!$stopping || $c->{next} <= $c->{sent})) {
            $batch .= $c->{ws}->frame(opcode => OP_TEXT, payload => "c$c->{i} $c->{next}");
            $c->{sent} = $c->{next} if $c->{next} > $c->{sent};
            $c->{next}++;
        }
        $c->{ws}->send_raw($batch, 2) if length $batch;
    }
    my %by = map { fileno($_->{ws}->sock) => $_ } @live;
    for my $sock (IO::Select->new(map { $_->{ws}->sock } @live)->can_read(0.05)) {
        my $c = $by{ fileno $sock };
        my $ws = $c->{ws};
        $ws->_read_some;
        while (my $f = $ws->_parse_frame) {
            if ($f->{opcode} == OP_TEXT) {
                my $want = "c$c->{i} " . ($c->{acked} + 1);
                if ($f->{payload} eq $want) { $c->{acked}++; $c->{conn}{echoes}++ }
                else { push @{ $c->{bad} }, "$c->{conn}{path}: got '$f->{payload}', want '$want'" }
            }
            elsif ($f->{opcode} == OP_PING) { $ws->pong($f->{payload}) }
            elsif ($f->{opcode} == OP_CLOSE) {
                $c->{conn}{end} = $f->{code} // 'none';
                $ws->close($f->{code} // 1000);
                $ws->wait_eof(5);
                delete $c->{ws};
                last;
            }
        }
        if ($c->{ws} && $ws->{eof}) { $c->{conn}{end} = "eof ($ws->{eof})"; delete $c->{ws} }
        # Gone: reconnect (after the run too, then to close with 1000).
        connect_client($c) if !$c->{ws};
    }
    for my $c (grep { $_->{ws} && $stopping && $_->{acked} == $_->{sent} } @c) {
        $c->{ws}->close(1000);
        my $f = $c->{ws}->read_close(5);
        $c->{conn}{end} = $f ? 'ours: ' . ($f->{code} // 'none') : 'ours: no answer';
        $c->{ws}->wait_eof(5);
        delete $c->{ws};
    }
    $p->tick;
    $s->sample($bl);
}

my @conns = map { @{ $_->{conns} } } @c;
my @badends = grep { !defined $_->{end} || $_->{end} !~ /^(1001|ours: 1000)$/ } @conns;
my @bad = map { @{ $_->{bad} } } @c;
ok(!@bad && !@badends, sprintf('%d clients, %d connections: every echo the next message in order, '
                               . 'every connection ended by the server\'s 1001 or our 1000',
                               $N, scalar @conns))
    or diag(join "\n", @bad[0 .. ($#bad > 4 ? 4 : $#bad)],
            map { "$_->{path}: ended " . ($_->{end} // 'never') } @badends);

# The server's side: one GCOUNT line per connection (written as each ends).
my %log;
Hostile::poll_until(10, sub {
    %log = ();
    open my $fh, '<', $h->error_log or return 0;
    while (<$fh>) { $log{$1} = [$2, $3, $4] if m{GCOUNT (/echo/c\d+g\d+) (\d+) (\d+) (\d+)} }
    return keys(%log) >= @conns;
});
my @mismatch = grep { my $l = $log{ $_->{path} };
                      !$l || $l->[0] != $l->[1] || $l->[0] != $_->{echoes} } @conns;
ok(!@mismatch, 'nothing lost before the 1001: per connection the server received (in) = sent '
               . '(out) = echoes the client got')
    or diag(join "\n", map { my $l = $log{ $_->{path} };
                             "$_->{path}: client got $_->{echoes}, server "
                             . ($l ? "in $l->[0] out $l->[1] close $l->[2]" : 'no log line') }
                       @mismatch[0 .. ($#mismatch > 5 ? 5 : $#mismatch)]);
my @short = grep { $_->{acked} != $_->{sent} } @c;
ok(!@short, 'each client\'s messages were all echoed in the end (sent = echoed)')
    or diag(join "\n", map { "c$_->{i}: sent $_->{sent}, echoed $_->{acked}" } @short);
my @sums = grep { my $c = $_; my $in = 0; $in += ($log{ $_->{path} } // [0])->[0] for @{ $c->{conns} };
                  $in != $c->{acked} } @c;
my $total = 0; $total += $_->{acked} for @c;
ok(!@sums, "the totals add up: per client the server's in summed over its connections = its "
           . "messages ($total in all)")
    or diag(join "\n", map { "c$_->{i}" } @sums);
my @few = grep { @{ $_->{conns} } < 1 + @RESTART_AT } @c;
ok(!@few, sprintf('every client was restarted out and reconnected (%d graceful restarts; '
                  . 'connections per client: %s)', scalar @RESTART_AT,
                  join(',', map { scalar @{ $_->{conns} } } @c)))
    or diag(join "\n", map { "c$_->{i}: " . join(' ', map { "$_->{path}=$_->{end}" } @{ $_->{conns} }) } @few);
my $resent = 0; $resent += $_->{resent} // 0 for @c;
diag("messages in flight at a 1001, sent again: $resent; prober reconnects: $p->{reconnects}");
$s->assert_all($bl, $p, max_growth => 64 * $MiB, what => "$N clients across 2 graceful restarts",
               timeout => 20);
$h->stop;
